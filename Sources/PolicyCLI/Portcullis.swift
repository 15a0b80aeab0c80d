import ArgumentParser
import Dispatch
import Foundation
import Logging
import PolicyConfig

/// `portcullis`: the daemon and its operator tools.
public struct Portcullis: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "An SMTP policy milter for Postfix and Sendmail.",
        subcommands: [Run.self, ConfigTest.self, PrintDefaults.self, CheckCommand.self, SPFCommand.self, GreylistCommand.self],
        defaultSubcommand: Run.self)

    public init() {}

    /// Entry point: synchronous commands run on the main thread (the daemon must block it in
    /// `smfi_main`, and may fork before any thread exists); async ones run in a task while the
    /// main thread waits.
    public static func start() -> Never {
        do {
            var command = try parseAsRoot()
            if let asyncCommand = command as? AsyncParsableCommand {
                let box = ErrorBox()
                let done = DispatchSemaphore(value: 0)
                nonisolated(unsafe) var owned = asyncCommand
                Task {
                    do { try await owned.run() } catch { box.error = error }
                    done.signal()
                }
                done.wait()
                if let error = box.error { exit(withError: error) }
            } else {
                try command.run()
            }
            exit()
        } catch {
            exit(withError: error)
        }
    }

    final class ErrorBox: @unchecked Sendable {
        // Written by the task before it signals, read by the main thread after the wait.
        var error: Error?
    }
}

/// Exit status for a configuration error (sysexits.h EX_CONFIG).
let exitConfigError: Int32 = 78

struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file.")
    var config: String = "/etc/portcullis/portcullis.yml"

    /// Loads the file, printing every error to stderr and exiting 78 if there are any.
    func load() throws -> Configuration {
        do {
            return try ConfigurationLoader.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n\(config): \(error.errors.count) error(s); not started\n".utf8))
            throw ExitCode(exitConfigError)
        }
    }
}

struct ConfigTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "configtest", abstract: "Validate a configuration file: exit 0, or 78 with every error.")

    @OptionGroup var options: ConfigOption

    func run() throws {
        let configuration = try options.load()
        print("\(options.config): OK (\(configuration.checks.count) checks: \(configuration.checks.map(\.check.name).joined(separator: ", ")))")
    }
}

struct PrintDefaults: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "print-defaults", abstract: "Print every configuration key with its default, as YAML.")

    func run() {
        print(DefaultConfiguration.yaml, terminator: DefaultConfiguration.yaml.hasSuffix("\n") ? "" : "\n")
    }
}
