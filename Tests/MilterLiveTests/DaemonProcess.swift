import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

enum DaemonError: Error, CustomStringConvertible {
    case binaryMissing(String)
    case exitedEarly(status: Int32, log: String)
    case notReady(String, log: String)

    var description: String {
        switch self {
        case .binaryMissing(let path):
            "daemon binary not found at \(path) (build it with `swift build`, or set PORTCULLIS_BIN)"
        case .exitedEarly(let status, let log): "daemon exited during start-up with status \(status); stderr:\n\(log)"
        case .notReady(let why, let log): "daemon not ready: \(why); stderr:\n\(log)"
        }
    }
}

/// The real `portcullis` binary, run as `portcullis run --foreground --config <dir>/portcullis.yml`
/// on a unix socket in its own temporary directory. libmilter allows one `smfi_main` per process,
/// so every daemon is a child process. Stopped with SIGTERM (libmilter needs about 5 s to
/// return from `smfi_main`), then SIGKILL after 15 s; `deinit` kills it if `stop()` was missed.
final class DaemonProcess: @unchecked Sendable {
    /// The daemon of the enclosing `.liveDaemon(...)` suite.
    @TaskLocal static var current: DaemonProcess?

    /// The repository root, from this file's path (`<root>/Tests/MilterLiveTests/DaemonProcess.swift`).
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `PORTCULLIS_BIN`, else `<repo>/.build/debug/portcullis`.
    static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["PORTCULLIS_BIN"], !path.isEmpty { return path }
        return repositoryRoot + "/.build/debug/portcullis"
    }

    let directory: String
    let socketPath: String
    let configPath: String
    let stderrPath: String
    let configuration: String

    private let process: Process
    private let lock = NSLock()
    private var stopped = false
    private(set) var terminationStatus: Int32?

    var pid: Int32 { process.processIdentifier }

    /// Whether the daemon process is still alive (not exited, not a zombie we reaped).
    var isRunning: Bool { process.isRunning }

    /// The full configuration file for a socket in `directory`: the `milter` section that the
    /// tests need (world-writable socket, no user or group switch), then `yaml` as given
    /// (`engine:`, `checks:`, ...).
    static func configurationFile(socketPath: String, mode: String, yaml: String) -> String {
        """
        mode: \(mode)
        milter:
          socket: unix:\(socketPath)
          socket_mode: "0666"
          socket_group: ""
          user: ""

        """ + yaml + (yaml.hasSuffix("\n") ? "" : "\n")
    }

    private init(directory: String, yaml: String, mode: String) throws {
        self.directory = directory
        socketPath = directory + "/portcullis.sock"
        configPath = directory + "/portcullis.yml"
        stderrPath = directory + "/stderr.log"
        configuration = DaemonProcess.configurationFile(socketPath: socketPath, mode: mode, yaml: yaml)
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        _ = FileManager.default.createFile(atPath: directory + "/stdout.log", contents: nil)

        process = Process()
        process.executableURL = URL(fileURLWithPath: DaemonProcess.binaryPath)
        process.arguments = ["run", "--foreground", "--config", configPath]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.standardInput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardOutput = FileHandle(forWritingAtPath: directory + "/stdout.log")
    }

    /// Starts a daemon and waits (up to `readyTimeout`) until its socket accepts a connection
    /// and answers option negotiation.
    static func start(
        yaml: String, mode: String = "enforce", readyTimeout: Duration = .seconds(20)
    ) async throws -> DaemonProcess {
        let binary = binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw DaemonError.binaryMissing(binary) }
        var template = Array("/tmp/portcullis-live-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw MilterClientError.system("mkdtemp", errno) }
        let directory = String(cString: made)

        let daemon = try DaemonProcess(directory: directory, yaml: yaml, mode: mode)
        try daemon.process.run()

        let deadline = ContinuousClock.now + readyTimeout
        var lastError = "socket never appeared"
        while ContinuousClock.now < deadline {
            if !daemon.process.isRunning {
                daemon.process.waitUntilExit()
                let status = daemon.process.terminationStatus
                daemon.markStopped(status: status)
                let log = daemon.logTail()
                daemon.removeDirectory()
                throw DaemonError.exitedEarly(status: status, log: log)
            }
            if FileManager.default.fileExists(atPath: daemon.socketPath) {
                do {
                    let probe = try MilterClient(socketPath: daemon.socketPath, readTimeout: .seconds(5))
                    try probe.negotiate()
                    probe.quit()
                    probe.close()
                    return daemon
                } catch {
                    lastError = "\(error)"
                }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        let log = daemon.logTail()
        await daemon.stop()
        throw DaemonError.notReady("\(lastError) after \(readyTimeout)", log: log)
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace`. Idempotent.
    func stop(grace: Duration = .seconds(15)) async {
        guard beginStop() else { return }
        if process.isRunning {
            kill(pid, SIGTERM)
            let deadline = ContinuousClock.now + grace
            while process.isRunning && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(50))
            }
            if process.isRunning { kill(pid, SIGKILL) }
        }
        process.waitUntilExit()
        lock.withLock { terminationStatus = process.terminationStatus }
        removeDirectory()
    }

    deinit {
        if beginStop(), process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            removeDirectory()
        }
    }

    // MARK: Connections

    /// A new milter connection to this daemon (not yet negotiated).
    func connect(readTimeout: Duration = .seconds(15)) throws -> MilterClient {
        try MilterClient(socketPath: socketPath, readTimeout: readTimeout)
    }

    /// A new, negotiated milter connection.
    func session(readTimeout: Duration = .seconds(15)) throws -> MilterClient {
        let client = try connect(readTimeout: readTimeout)
        try client.negotiate()
        return client
    }

    // MARK: Log

    /// Everything the daemon has written to stderr so far.
    var stderr: String {
        (try? String(contentsOfFile: stderrPath, encoding: .utf8))
            ?? String(decoding: FileManager.default.contents(atPath: stderrPath) ?? Data(), as: UTF8.self)
    }

    /// Current size of the stderr log, to look only at what comes after an action.
    var logOffset: Int { FileManager.default.contents(atPath: stderrPath)?.count ?? 0 }

    func logTail(_ lines: Int = 40) -> String {
        stderr.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Lines written after byte `offset`.
    func logLines(after offset: Int) -> [String] {
        let data = FileManager.default.contents(atPath: stderrPath) ?? Data()
        guard offset < data.count else { return [] }
        return String(decoding: data[offset...], as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Waits (blocking, up to `timeout`) for a line after `offset` that contains every needle.
    func waitForLogLine(containing needles: [String], after offset: Int, timeout: Duration = .seconds(3)) -> String? {
        let deadline = ContinuousClock.now + timeout
        repeat {
            if let line = logLines(after: offset).first(where: { line in needles.allSatisfy { line.contains($0) } }) {
                return line
            }
            usleep(20_000)
        } while ContinuousClock.now < deadline
        return nil
    }

    // MARK: Private

    private func beginStop() -> Bool {
        lock.withLock {
            if stopped { return false }
            stopped = true
            return true
        }
    }

    private func markStopped(status: Int32) {
        lock.withLock {
            stopped = true
            terminationStatus = status
        }
    }

    private func removeDirectory() {
        if ProcessInfo.processInfo.environment["PORTCULLIS_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}

/// Runs a suite with its own daemon: started once before the suite's first test, stopped after
/// its last, reachable from the tests as `DaemonProcess.current`.
struct LiveDaemonTrait: SuiteTrait, TestScoping {
    let yaml: String
    let mode: String

    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let daemon = try await DaemonProcess.start(yaml: yaml, mode: mode)
        do {
            try await DaemonProcess.$current.withValue(daemon) { try await function() }
        } catch {
            await daemon.stop()
            throw error
        }
        await daemon.stop()
    }
}

extension Trait where Self == LiveDaemonTrait {
    /// The suite gets its own daemon with this configuration (see `DaemonProcess.configurationFile`).
    static func liveDaemon(_ yaml: String, mode: String = "enforce") -> Self {
        LiveDaemonTrait(yaml: yaml, mode: mode)
    }
}
