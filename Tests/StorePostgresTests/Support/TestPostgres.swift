import Foundation
import Logging
import PolicyCore
import PostgresNIO
import StorePostgres
import Synchronization
import Testing

/// Where the PostgreSQL tests get their server.
///
/// - `PORTCULLIS_TEST_POSTGRES_URL` set (the Makefile, CI): that server; the user must be allowed
///   to create databases (each test makes its own).
/// - unset, `PORTCULLIS_TEST_POSTGRES=skip`: the suite is skipped (reported as skipped).
/// - unset otherwise: the tests start a throw-away cluster themselves with tests/pg/pgcluster.py,
///   once per test process; its watchdog stops it when this process ends, however it ends. If
///   that fails (no PostgreSQL installed), every test fails saying so: never a silent skip.
///
/// The tests that stop a server always start a cluster of their own (they need local binaries).
enum TestPostgres {
    static let environment = ProcessInfo.processInfo.environment
    static var enabled: Bool { environment["PORTCULLIS_TEST_POSTGRES_URL"] != nil || environment["PORTCULLIS_TEST_POSTGRES"] != "skip" }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The shared server's URL (a user that may create databases).
    static func adminURL() async throws -> String {
        if let url = environment["PORTCULLIS_TEST_POSTGRES_URL"], !url.isEmpty { return url }
        return try await shared.value.url
    }

    private static let shared = Task { try await Cluster.start() }

    /// A new, empty database on the shared server, and its URL.
    static func freshDatabase() async throws -> String {
        try await freshDatabase(on: adminURL())
    }

    static func freshDatabase(on admin: String) async throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        _ = try await withConnection(admin) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: quiet)
        }
        return replacingDatabase(in: admin, with: name)
    }

    static func replacingDatabase(in url: String, with name: String) -> String {
        let schemeEnd = url.range(of: "://")!.upperBound
        let query = url.firstIndex(of: "?") ?? url.endIndex
        let pathStart = url[schemeEnd..<query].firstIndex(of: "/") ?? query
        return String(url[..<pathStart]) + "/" + name + String(url[query...])
    }

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs `body` on a plain connection to `url` (for setting up and inspecting databases).
    static func withConnection<R: Sendable>(
        _ url: String, _ body: @Sendable (PostgresConnection) async throws -> R
    ) async throws -> R {
        let parsed = try PostgresURL(url)
        guard case .tcp(let host, let port) = parsed.endpoint else { throw Failure(description: "tests use TCP URLs") }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        let config = PostgresConnection.Configuration(
            host: host, port: port, username: parsed.username, password: parsed.password, database: parsed.database,
            tls: parsed.tls == .disable ? .disable : .prefer(try NIOSSLContext(configuration: tls)))
        let connection = try await PostgresConnection.connect(configuration: config, id: 1, logger: quiet)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Every value of the first column of `sql`'s rows, as text.
    static func strings(_ url: String, _ sql: String) async throws -> [String] {
        try await withConnection(url) { connection in
            var out: [String] = []
            for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: quiet).decode(String.self) {
                out.append(value)
            }
            return out
        }
    }
}

/// A throw-away cluster started by tests/pg/pgcluster.py (initdb, pg_ctl start on a free port,
/// a user with a password, a database). A watchdog stops it when this test process exits;
/// ``stop()`` stops it sooner.
final class Cluster: Sendable {
    let url: String
    let directory: String
    var caFile: String { directory + "/ca.crt" }

    static var script: String {
        // Tests/StorePostgresTests/Support/TestPostgres.swift → tests/pg/pgcluster.py
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tests/pg/pgcluster.py").path
    }

    private init(url: String, directory: String) {
        self.url = url
        self.directory = directory
    }

    /// With `tls`, the server wants TLS on TCP and its CA is ``caFile``.
    static func start(tls: Bool = false) async throws -> Cluster {
        let output = try await run(["start", "--watch-pid", "\(getpid())"] + (tls ? ["--ssl"] : []))
        let lines = output.split(separator: "\n").map(String.init)
        guard lines.count >= 2, lines[0].hasPrefix("postgres://") else {
            throw TestPostgres.Failure(description: "pgcluster.py start printed \(lines.count) lines, not a URL and a directory")
        }
        return Cluster(url: lines[0], directory: lines[1])
    }

    /// Stops the server, keeping its data / starts it again on the same port.
    func pause() async throws { _ = try await Self.run(["pause", "--dir", directory]) }
    func resume() async throws { _ = try await Self.run(["resume", "--dir", directory]) }

    /// `pg_ctl stop -m fast`, then the directory goes.
    func stop() async throws {
        _ = try await Self.run(["stop", "--dir", directory])
    }

    /// Runs the script (about a second) on a thread of its own and returns its stdout.
    ///
    /// posix_spawn, not Foundation's Process: Process hands the child the test runner's signal
    /// mask (SIGTERM blocked), and here its `waitUntilExit` never returned once the script had
    /// forked its watchdog (the script exited and stayed a zombie). Output goes to files, so no
    /// pipe can be held open by the server or the watchdog.
    private static func run(_ arguments: [String]) async throws -> String {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pgcluster-\(UUID().uuidString)").path
        let outPath = base + ".out"
        let errPath = base + ".err"
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    continuation.resume(returning: try spawnAndWait(["/usr/bin/env", "python3", script] + arguments, out: outPath, err: errPath))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw TestPostgres.Failure(
                description: "pgcluster.py \(arguments.first ?? "") failed (status \(status)): \(err) "
                    + "Install PostgreSQL (Debian postgresql) and python3, or set PORTCULLIS_TEST_POSTGRES_URL, "
                    + "or PORTCULLIS_TEST_POSTGRES=skip to skip these tests")
        }
        return out
    }

    /// posix_spawn with an empty signal mask and default dispositions; blocks until the child exits.
    private static func spawnAndWait(_ argv: [String], out: String, err: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for argument in cArgs { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, environ)
        guard spawned == 0 else {
            throw TestPostgres.Failure(description: "cannot start \(argv.joined(separator: " ")): errno \(spawned)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw TestPostgres.Failure(description: "waitpid: errno \(errno)") }
        }
        // WIFEXITED / WEXITSTATUS by hand (macros): low 7 bits 0 means a normal exit.
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }
}

/// Collects log lines (message and metadata) to check that no secret reaches a log.
final class CapturingLogHandler: LogHandler, Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        let metadata = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        lines.withLock { $0.append("\(event.level) \(event.message) \(metadata)") }
    }

    var logger: Logger { Logger(label: "test.capture", factory: { _ in self }) }
}
