import Logging
import Synchronization
import PolicyCore
import PostgresNIO

/// Greylist state in PostgreSQL, shared by every MX host that points at the same database.
///
/// A `PostgresClient` (connection pool) runs in a background task from `init` until ``shutdown()``.
/// `init` connects once, checks the schema and applies missing migrations (one transaction, under
/// an advisory lock). Each decision is one statement; every operation is bounded by
/// ``Options/operationTimeout`` and by the caller's task: cancelling the calling task closes the
/// connection under a running query (postgres-nio's query does not react to cancellation by
/// itself), so a stuck server never holds a check past the engine's budget.
public final class PostgresGreylistStore: GreylistStore {
    public struct Options: Sendable {
        /// How long one TCP (and TLS) connection attempt may take; the URL's `connect_timeout` wins.
        public var connectTimeout: Duration
        /// The most any one operation (lease a connection, run the statement) may take.
        public var operationTimeout: Duration
        /// The pool's size. Each MX host opens at most this many connections.
        public var maximumConnections: Int
        /// While the database is unreachable, operations fail at once, except one per this
        /// interval, which tries (and waits up to the operation timeout).
        public var probeInterval: Duration

        public init(
            connectTimeout: Duration = .seconds(5), operationTimeout: Duration = .seconds(10), maximumConnections: Int = 10,
            probeInterval: Duration = .seconds(1)
        ) {
            self.connectTimeout = connectTimeout
            self.operationTimeout = operationTimeout
            self.maximumConnections = maximumConnections
            self.probeInterval = probeInterval
        }
    }

    /// The migration identifiers this code knows, oldest first (StoreSQLite uses the same).
    public static var migrationIdentifiers: [String] { PostgresGreylistSchema.identifiers }

    /// The URL, password hidden.
    public let url: RedactedURL
    private let parsed: PostgresURL
    private let options: Options
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    private let failures: ConnectionFailureBox
    private let breaker: ConnectionBreaker

    /// Connects, migrates and starts the pool. `url`: `postgres://user:password@host:5432/db?sslmode=require`
    /// (see ``PostgresURL``). Throws `.unavailable` when the server cannot be reached or refuses us
    /// (and for an invalid URL), `.corrupt` when the schema is newer than this code.
    public init(url: String, logger: Logger?, options: Options = Options()) async throws(StoreError) {
        let parsed = try PostgresURL(url)
        self.parsed = parsed
        self.url = parsed.redacted
        self.options = options
        let failures = ConnectionFailureBox()
        self.failures = failures
        breaker = ConnectionBreaker(probeInterval: options.probeInterval)
        let base = logger ?? Logger(label: "portcullis.greylist.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        self.logger = base
        let scrub: @Sendable (String) -> String = { parsed.scrub($0) }
        let libraryLogger = Logger(label: base.label) { _ in
            RedactingLogHandler(base: base.handler, scrub: scrub, failures: failures)
        }

        let tls: (pool: PostgresClient.Configuration.TLS, connection: PostgresConnection.Configuration.TLS)
        do {
            tls = try Self.tlsConfiguration(parsed)
        } catch {
            throw .unavailable("\(parsed.redacted): cannot set up TLS: \(parsed.scrub(String(describing: error)))")
        }
        let connectTimeout = parsed.connectTimeout ?? options.connectTimeout

        var config: PostgresClient.Configuration
        var connectionConfig: PostgresConnection.Configuration
        switch parsed.endpoint {
        case .tcp(let host, let port):
            config = .init(
                host: host, port: port, username: parsed.username, password: parsed.password,
                database: parsed.database, tls: tls.pool)
            connectionConfig = .init(
                host: host, port: port, username: parsed.username, password: parsed.password,
                database: parsed.database, tls: tls.connection)
        case .unixSocket(let path):
            config = .init(
                unixSocketPath: path, username: parsed.username, password: parsed.password, database: parsed.database)
            connectionConfig = .init(
                unixSocketPath: path, username: parsed.username, password: parsed.password, database: parsed.database)
        }
        config.options.connectTimeout = connectTimeout
        config.options.maximumConnections = max(1, options.maximumConnections)
        config.options.additionalStartupParameters = [("application_name", "portcullis")]
        connectionConfig.options.connectTimeout = .init(connectTimeout)
        connectionConfig.options.additionalStartupParameters = [("application_name", "portcullis")]

        let migrationConfig = connectionConfig
        var serverVersion = 0
        // The schema first, on a connection of its own: a refused connection or a bad password
        // fails here at once with the server's words, not after a pool lease times out.
        do {
            let applied = try await Self.bounded(options.operationTimeout + connectTimeout) {
                let connection = try await PostgresConnection.connect(
                    configuration: migrationConfig, id: 0, logger: libraryLogger)
                do {
                    let applied = try await withTaskCancellationHandler {
                        let rows = try await connection.query(
                            "SELECT current_setting('server_version_num')::int", logger: libraryLogger
                        ).collect()
                        let version = try rows.first?.decode(Int.self) ?? 0
                        return (version, try await PostgresGreylistSchema.migrate(connection, logger: libraryLogger))
                    } onCancel: {
                        let _: EventLoopFuture<Void> = connection.close()
                    }
                    try? await connection.close()
                    return applied
                } catch {
                    try? await connection.close()
                    throw error
                }
            }
            serverVersion = applied.0
            if !applied.1.isEmpty {
                base.notice(
                    "greylist schema migrated",
                    metadata: ["store": "\(parsed.redacted)", "migrations": "\(applied.1.joined(separator: ","))"])
            }
        } catch {
            throw Self.storeError(error, doing: "opening", url: parsed, failures: failures, leased: true)
        }

        // The server's own bounds on what a closed connection leaves behind: a statement the
        // caller gave up on (cancelled, timed out: the store closes its connection) would
        // otherwise run to its end, e.g. after a lock wait, and commit. statement_timeout caps
        // any statement at the operation timeout; client_connection_check_interval (PostgreSQL
        // 14+) makes the backend notice the closed socket while it waits, and roll back.
        config.options.additionalStartupParameters.append(
            ("statement_timeout", "\(Self.milliseconds(options.operationTimeout))"))
        if serverVersion >= 140_000 {
            config.options.additionalStartupParameters.append(("client_connection_check_interval", "250"))
        }
        let client = PostgresClient(configuration: config, backgroundLogger: libraryLogger)
        self.client = client
        runner = Task { await client.run() }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    deinit {
        runner.cancel()
    }

    /// Stops the pool: running operations fail with `.unavailable`, connections close.
    public func shutdown() async {
        runner.cancel()
        await runner.value
    }

    // MARK: - GreylistStore

    public func recordAttempt(_ triplet: GreylistTriplet, at now: Int64, timing: GreylistTiming) async throws(StoreError)
        -> GreylistRecord
    {
        var binds = PostgresBindings(capacity: 7)
        binds.append(triplet.network)
        binds.append(triplet.sender)
        binds.append(triplet.recipient)
        binds.append(now)
        binds.append(timing.delay)
        binds.append(timing.retryWindow)
        binds.append(timing.lifetime)
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.recordAttempt, binds: binds)
        return try await perform("recording an attempt") { connection, logger in
            guard
                let row = try await connection.query(query, logger: logger).collect().first
            else { throw StoreError.corrupt("the upsert returned no row") }
            let (firstSeen, lastSeen, attempts, passedAt) = try row.decode((Int64, Int64, Int, Int64?).self)
            return GreylistRecord(
                triplet: triplet, firstSeen: firstSeen, lastSeen: lastSeen, attempts: attempts, passedAt: passedAt)
        }
    }

    public func recordPass(network: String, at now: Int64, countInterval: Int64, lifetime: Int64) async throws(StoreError)
        -> GreylistNetworkRecord
    {
        var binds = PostgresBindings(capacity: 4)
        binds.append(network)
        binds.append(now)
        binds.append(countInterval)
        binds.append(lifetime)
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.recordPass, binds: binds)
        return try await perform("recording a pass") { connection, logger in
            guard let row = try await connection.query(query, logger: logger).collect().first else {
                throw StoreError.corrupt("the upsert returned no row")
            }
            let (passes, lastCounted, lastSeen) = try row.decode((Int, Int64, Int64).self)
            return GreylistNetworkRecord(network: network, passes: passes, lastCounted: lastCounted, lastSeen: lastSeen)
        }
    }

    public func network(_ network: String) async throws(StoreError) -> GreylistNetworkRecord? {
        var binds = PostgresBindings(capacity: 1)
        binds.append(network)
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.network, binds: binds)
        return try await perform("reading a network") { connection, logger in
            guard let row = try await connection.query(query, logger: logger).collect().first else { return nil }
            let (passes, lastCounted, lastSeen) = try row.decode((Int, Int64, Int64).self)
            return GreylistNetworkRecord(network: network, passes: passes, lastCounted: lastCounted, lastSeen: lastSeen)
        }
    }

    public func allowEntries() async throws(StoreError) -> [String] {
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.allowEntries)
        return try await perform("reading allow entries") { connection, logger in
            var entries: [String] = []
            for try await entry in try await connection.query(query, logger: logger).decode(String.self) {
                entries.append(entry)
            }
            return entries
        }
    }

    public func addAllowEntry(_ entry: String, at now: Int64) async throws(StoreError) {
        var binds = PostgresBindings(capacity: 2)
        binds.append(entry)
        binds.append(now)
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.addAllowEntry, binds: binds)
        try await perform("adding an allow entry") { connection, logger in
            _ = try await connection.query(query, logger: logger).collect()
        }
    }

    public func removeAllowEntry(_ entry: String) async throws(StoreError) -> Bool {
        var binds = PostgresBindings(capacity: 1)
        binds.append(entry)
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.removeAllowEntry, binds: binds)
        return try await perform("removing an allow entry") { connection, logger in
            try await !connection.query(query, logger: logger).collect().isEmpty
        }
    }

    public func list(_ filter: GreylistFilter) async throws(StoreError) -> [GreylistRecord] {
        var binds = Self.filterBindings(filter)
        binds.append(Int64(max(0, filter.limit)))
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.list, binds: binds)
        return try await perform("listing triplets") { connection, logger in
            var records: [GreylistRecord] = []
            for row in try await connection.query(query, logger: logger).collect() {
                let (network, sender, recipient, firstSeen, lastSeen, attempts, passedAt) = try row.decode(
                    (String, String, String, Int64, Int64, Int, Int64?).self)
                records.append(
                    GreylistRecord(
                        triplet: GreylistTriplet(network: network, sender: sender, recipient: recipient),
                        firstSeen: firstSeen, lastSeen: lastSeen, attempts: attempts, passedAt: passedAt))
            }
            return records
        }
    }

    public func delete(_ filter: GreylistFilter) async throws(StoreError) -> Int {
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.delete, binds: Self.filterBindings(filter))
        return try await perform("deleting triplets") { connection, logger in
            try await Self.count(connection.query(query, logger: logger))
        }
    }

    public func stats(autoAllowThreshold: Int) async throws(StoreError) -> GreylistStats {
        var binds = PostgresBindings(capacity: 1)
        binds.append(Int64(autoAllowThreshold))
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.stats, binds: binds)
        return try await perform("reading statistics") { connection, logger in
            guard let row = try await connection.query(query, logger: logger).collect().first else {
                throw StoreError.corrupt("the statistics query returned no row")
            }
            let (triplets, passed, networks, allow, oldest) = try row.decode((Int, Int, Int, Int, Int64?).self)
            return GreylistStats(
                triplets: triplets, passed: passed, autoAllowlistedNetworks: networks, manualAllowEntries: allow,
                oldestFirstSeen: oldest)
        }
    }

    public func purge(at now: Int64, timing: GreylistTiming, olderThan: Int64?) async throws(StoreError) -> Int {
        var binds = PostgresBindings(capacity: 4)
        binds.append(now)
        binds.append(timing.retryWindow)
        binds.append(timing.lifetime)
        binds.append(olderThan)
        let query = PostgresQuery(unsafeSQL: PostgresGreylistSQL.purge, binds: binds)
        return try await perform("purging") { connection, logger in
            try await Self.count(connection.query(query, logger: logger))
        }
    }

    // MARK: - Running statements

    private static func filterBindings(_ filter: GreylistFilter) -> PostgresBindings {
        var binds = PostgresBindings(capacity: 4)
        binds.append(filter.network)
        binds.append(filter.sender)
        binds.append(filter.recipient)
        return binds
    }

    private static func count(_ rows: PostgresRowSequence) async throws -> Int {
        guard let row = try await rows.collect().first else { throw StoreError.corrupt("a count returned no row") }
        return try row.decode(Int.self)
    }

    /// Leases a connection and runs `body` on it, within ``Options/operationTimeout`` and the
    /// caller's cancellation: either closes the connection under a running statement, which makes
    /// postgres-nio fail it at once (the pool then replaces the connection). While the database
    /// is unreachable, the ``ConnectionBreaker`` fails callers at once but for one probe a second.
    private func perform<R: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection, Logger) async throws -> R
    ) async throws(StoreError) -> R {
        let probe: Bool
        switch breaker.admit() {
        case .proceed(let isProbe):
            probe = isProbe
        case .refuse(let why, let downFor):
            let seconds = downFor.components.seconds
            throw .unavailable(
                parsed.scrub("\(url): \(what): not tried, the database has been unreachable for \(seconds) s (\(why))"))
        }
        defer { if probe { breaker.probeEnded() } }
        let client = client
        let logger = logger
        let breaker = breaker
        let leased = LeaseFlag()
        do {
            return try await Self.bounded(options.operationTimeout) {
                try await client.withConnection { connection in
                    leased.set()
                    breaker.connected()
                    return try await withTaskCancellationHandler {
                        try await body(connection, logger)
                    } onCancel: {
                        let _: EventLoopFuture<Void> = connection.close()
                    }
                }
            }
        } catch {
            let mapped = Self.storeError(error, doing: what, url: parsed, failures: failures, leased: leased.isSet)
            if !leased.isSet, Self.isConnectionFailure(error) {
                breaker.failedToConnect(Self.reason(mapped, store: url, what: what))
            }
            logger.debug("greylist store error", metadata: ["store": "\(url)", "error": "\(mapped)"])
            throw mapped
        }
    }

    /// A lease that timed out, or a failed connection attempt (not the caller's cancellation).
    private static func isConnectionFailure(_ error: any Error) -> Bool {
        switch error {
        case is Timeout: return true
        case let error as PSQLError:
            return error.code == .connectionError || error.code == .serverClosedConnection
                || (error.code == .server && ["08", "28", "3D", "53", "57"].contains { error.serverInfo?[.sqlState]?.hasPrefix($0) == true })
        default: return false
        }
    }

    /// The part of an error's text after "URL: doing what: ".
    private static func reason(_ error: StoreError, store: RedactedURL, what: String) -> String {
        let text: String
        switch error {
        case .unavailable(let why), .corrupt(let why): text = why
        }
        let prefix = "\(store): \(what): "
        return text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text
    }

    struct Timeout: Error {
        let after: Duration
    }

    /// Runs `body` in a child task, cancelling it after `limit`; the caller's cancellation reaches it too.
    static func bounded<R: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> R) async throws -> R {
        try await withThrowingTaskGroup(of: R.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                throw Timeout(after: limit)
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    // MARK: - Errors

    /// Maps anything postgres-nio throws to a ``StoreError`` whose text has no password in it.
    static func storeError(
        _ error: any Error, doing what: String, url: PostgresURL, failures: ConnectionFailureBox, leased: Bool
    ) -> StoreError {
        let store = url.redacted.description
        func unavailable(_ why: String) -> StoreError { .unavailable(url.scrub("\(store): \(what): \(why)")) }
        switch error {
        case let error as StoreError:
            switch error {
            case .unavailable(let why): return .unavailable(url.scrub("\(store): \(what): \(why)"))
            case .corrupt(let why): return .corrupt(url.scrub("\(store): \(what): \(why)"))
            }
        case let error as Timeout:
            if leased { return unavailable("no answer within \(error.after)") }
            let last = failures.lastFailure.map { "; last connection failure: \($0)" } ?? ""
            return unavailable("no connection within \(error.after)\(last)")
        case is CancellationError:
            return unavailable("cancelled")
        case let error as PostgresTransactionError:
            if let inner = error.closureError ?? error.beginError ?? error.commitError {
                return storeError(inner, doing: what, url: url, failures: failures, leased: leased)
            }
            return unavailable("transaction failed")
        case let error as PSQLError:
            return psqlError(error, what: what, url: url)
        case let error as PostgresDecodingError:
            return .corrupt(
                url.scrub(
                    "\(store): \(what): column \(error.columnName) has type \(error.postgresType), not the schema's"))
        default:
            return unavailable(String(describing: error))
        }
    }

    private static func psqlError(_ error: PSQLError, what: String, url: PostgresURL) -> StoreError {
        let store = url.redacted.description
        if error.code == .server, let info = error.serverInfo {
            let state = info[.sqlState] ?? "?????"
            let message = info[.message] ?? "server error"
            let text = url.scrub("\(store): \(what): \(message) (SQLSTATE \(state))")
            // Class 42 (an undefined table or column):
            // the database is not in the shape this code expects. Everything else (08 connection,
            // 28 authentication, 3D no such database, 40 serialization, 53 too many clients,
            // 57 shutdown, ...) can pass.
            if state.hasPrefix("42") { return .corrupt(text) }
            return .unavailable(text)
        }
        var why: String
        switch error.code {
        case .connectionError: why = "cannot connect"
        case .serverClosedConnection: why = "the server closed the connection"
        case .clientClosedConnection: why = "connection closed (cancelled)"
        case .uncleanShutdown: why = "the connection ended uncleanly"
        case .poolClosed: why = "the store is shut down"
        case .queryCancelled: why = "cancelled"
        case .sslUnsupported: why = "the server does not support TLS (sslmode requires it)"
        case .failedToAddSSLHandler: why = "cannot set up TLS"
        case .authMechanismRequiresPassword: why = "the server wants a password and the URL has none"
        case .unsupportedAuthMechanism: why = "the server asks for an authentication method postgres-nio lacks"
        default: why = "\(error.code)"
        }
        if let underlying = error.underlying {
            why += ": \(String(describing: underlying))"
        }
        return .unavailable(url.scrub("\(store): \(what): \(why)"))
    }
}

/// Set once a connection has been leased, to tell "no connection" from "no answer".
private final class LeaseFlag: Sendable {
    private let flag = Synchronization.Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}

extension PostgresGreylistStore {
    static func tlsConfiguration(_ url: PostgresURL) throws -> (
        pool: PostgresClient.Configuration.TLS, connection: PostgresConnection.Configuration.TLS
    ) {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch url.tls {
        case .disable:
            return (.disable, .disable)
        case .prefer, .require:
            tls.certificateVerification = .none
        case .verifyCA:
            tls.certificateVerification = .noHostnameVerification
        case .verifyFull:
            tls.certificateVerification = .fullVerification
        }
        if let file = url.rootCertificateFile {
            tls.trustRoots = .file(file)
        }
        let context = try NIOSSLContext(configuration: tls)
        if url.tls == .prefer { return (.prefer(tls), .prefer(context)) }
        return (.require(tls), .require(context))
    }
}
