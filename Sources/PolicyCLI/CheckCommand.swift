import ArgumentParser
import Foundation
import Logging
import PolicyConfig
import PolicyCore
import PolicyEngine

/// `portcullis check`: evaluates one transaction offline with the same engine and session
/// machine as the daemon, and prints the decision with a per-check trace.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Evaluate one SMTP transaction offline and print the decision and a per-check trace.")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text
        case json
    }

    @OptionGroup var options: ConfigOption

    @Option(name: .customLong("client-ip"), help: "The client's IP address.")
    var clientIP: String

    @Option(name: .customLong("client-name"), help: "The client's verified host name.")
    var clientName: String?

    @Option(help: "The HELO/EHLO name.")
    var helo: String

    @Option(help: "The envelope sender; \"\" or <> for the null sender.")
    var from: String

    @Option(help: "An envelope recipient (repeat for several).")
    var rcpt: [String]

    @Option(help: "A message file (RFC 5322) to run the content stages on.")
    var message: String?

    @Option(help: "Output format.")
    var format: Format = .text

    func validate() throws {
        guard IPAddress(clientIP) != nil else { throw ValidationError("--client-ip \(clientIP) is not an IP address") }
        guard !rcpt.isEmpty else { throw ValidationError("at least one --rcpt is needed") }
    }

    func run() async throws {
        let configuration = try options.load()
        var content: MessageFile? = nil
        if let message {
            guard let data = FileManager.default.contents(atPath: message) else {
                throw ValidationError("cannot read --message \(message)")
            }
            content = MessageFile(Array(data))
        }
        let logger = Logger(label: "portcullis.check") { _ in KeyValueLogHandler(level: .warning, destination: .standardError) }
        let envelope = OfflineTransaction(
            client: ClientFacts(address: IPAddress(clientIP), hostname: clientName), helo: helo, sender: from,
            recipients: rcpt, message: content)
        var engineSettings = configuration.engine
        engineSettings.traceQueries = true
        let resolver = try Resolvers.start(for: configuration, logger: logger)
        defer { resolver?.shutdown() }
        if configuration.greylist.inUse {
            // Offline, greylisting sees a throw-away store: `check` must not record attempts.
            configuration.greylistStore.install(ScratchGreylistStore())
        }
        let report = await envelope.evaluate(with: Engine(settings: engineSettings, checks: configuration.checks), logger: logger)
        switch format {
        case .json: print(report.json())
        case .text: print(report.text())
        }
    }
}
