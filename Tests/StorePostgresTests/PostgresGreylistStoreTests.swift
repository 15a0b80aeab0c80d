import Foundation
import Logging
import PolicyCore
import PolicyTesting
import PostgresNIO
import StorePostgres
import Testing

private let t0: Int64 = 1_800_000_000
private let timing = GreylistTiming()
private let triplet = GreylistTriplet(network: "192.0.2.0/24", sender: "a@example.org", recipient: "b@example.test")

/// Opens a store on `url`, runs `body`, and always shuts the store down.
private func withStore<R>(
    _ url: String, logger: Logger? = nil, options: PostgresGreylistStore.Options = .init(),
    _ body: (PostgresGreylistStore) async throws -> R
) async throws -> R {
    let store = try await PostgresGreylistStore(url: url, logger: logger, options: options)
    do {
        let result = try await body(store)
        await store.shutdown()
        return result
    } catch {
        await store.shutdown()
        throw error
    }
}

/// The password in `url`, percent-decoded, and its encoded form.
private func secrets(of url: String) throws -> [String] {
    let password = try #require(try PostgresURL(url).password)
    return [password, url.split(separator: ":")[2].split(separator: "@")[0].description]
}

@Suite(.enabled(if: TestPostgres.enabled, "PORTCULLIS_TEST_POSTGRES=skip"))
struct PostgresGreylistStoreTests {
    @Test(arguments: GreylistStoreContract.cases)
    func contract(_ name: String) async throws {
        let url = try await TestPostgres.freshDatabase()
        try await withStore(url) { store in try await GreylistStoreContract.run(name, on: store) }
    }

    @Test func migrationIdentifiersAreStoreSQLitesOnes() {
        #expect(PostgresGreylistStore.migrationIdentifiers == ["v1-greylist"])
    }

    /// Two MX hosts, one database: each sees the other's decisions at once.
    @Test func twoInstancesShareDecisions() async throws {
        let url = try await TestPostgres.freshDatabase()
        try await withStore(url) { mx1 in
            try await withStore(url) { mx2 in
                let first = try await mx1.recordAttempt(triplet, at: t0, timing: timing)
                #expect(first.attempts == 1 && first.passedAt == nil)
                let retry = try await mx2.recordAttempt(triplet, at: t0 + 400, timing: timing)
                #expect(retry.attempts == 2 && retry.passedAt == t0 + 400 && retry.firstSeen == t0)
                #expect(try await mx1.list(GreylistFilter()) == [retry])

                _ = try await mx1.recordPass(network: triplet.network, at: t0, countInterval: 3600, lifetime: timing.lifetime)
                let counted = try await mx2.recordPass(
                    network: triplet.network, at: t0 + 3600, countInterval: 3600, lifetime: timing.lifetime)
                #expect(counted.passes == 2)
                #expect(try await mx1.network(triplet.network) == counted)

                try await mx2.addAllowEntry("198.51.100.7", at: t0)
                #expect(try await mx1.allowEntries() == ["198.51.100.7"])

                // Both hammer one triplet at once: every attempt is counted exactly once.
                let other = GreylistTriplet(network: "203.0.113.0/24", sender: "<>", recipient: "c@example.test")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<40 {
                        let store = i.isMultiple(of: 2) ? mx1 : mx2
                        group.addTask { _ = try await store.recordAttempt(other, at: t0, timing: timing) }
                    }
                    try await group.waitForAll()
                }
                let record = try await mx2.list(GreylistFilter(network: other.network)).first
                #expect(record?.attempts == 40)
            }
        }
    }

    /// Several daemons starting together on an empty database: one applies the migrations, the
    /// others wait on the advisory lock and find them done.
    @Test func concurrentStartsMigrateOnce() async throws {
        let url = try await TestPostgres.freshDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresGreylistStore.self) { group in
            for _ in 0..<6 { group.addTask { try await PostgresGreylistStore(url: url, logger: nil) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 6)
        for store in stores { await store.shutdown() }
        #expect(try await TestPostgres.strings(url, "SELECT identifier FROM schema_migrations") == ["v1-greylist"])
        let tables = try await TestPostgres.strings(
            url, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        #expect(tables == ["greylist_allow", "greylist_networks", "greylist_triplets", "schema_migrations"])
        // A restart applies nothing and keeps the data.
        try await withStore(url) { store in _ = try await store.recordAttempt(triplet, at: t0, timing: timing) }
        let count = try await withStore(url) { store in try await store.list(GreylistFilter()).count }
        #expect(count == 1)
    }

    @Test func refusesANewerSchema() async throws {
        let url = try await TestPostgres.freshDatabase()
        try await withStore(url) { _ in }
        _ = try await TestPostgres.withConnection(url) { connection in
            try await connection.query("INSERT INTO schema_migrations (identifier) VALUES ('v9-from-the-future')", logger: TestPostgres.quiet)
        }
        do {
            _ = try await PostgresGreylistStore(url: url, logger: nil)
            Issue.record("opened a database with an unknown migration")
        } catch {
            guard case .corrupt(let why) = error else { Issue.record("expected .corrupt, got \(error)"); return }
            #expect(why.contains("v9-from-the-future"))
            for secret in try secrets(of: url) { #expect(!error.description.contains(secret)) }
        }
    }

    /// A dropped table is a damaged database, not a transient failure.
    @Test func aMissingTableIsCorrupt() async throws {
        let url = try await TestPostgres.freshDatabase()
        try await withStore(url) { store in
            _ = try await TestPostgres.withConnection(url) { connection in
                try await connection.query("DROP TABLE greylist_networks", logger: TestPostgres.quiet)
            }
            do {
                _ = try await store.network("192.0.2.0/24")
                Issue.record("read a network from a dropped table")
            } catch let error as StoreError {
                guard case .corrupt = error else { Issue.record("expected .corrupt, got \(error)"); return }
            }
        }
    }

    @Test func wrongPasswordIsUnavailableAndNeverShown() async throws {
        let admin = try await TestPostgres.adminURL()
        let secret = "Wr0ng-S3cret-\(UInt32.random(in: 0...UInt32.max))"
        let parsed = try PostgresURL(admin)
        guard case .tcp(let host, let port) = parsed.endpoint else { return }
        let url = "postgres://\(parsed.username):\(secret)@\(host):\(port)/\(parsed.database)?sslmode=disable"
        let capture = CapturingLogHandler()
        do {
            _ = try await PostgresGreylistStore(url: url, logger: capture.logger)
            Issue.record("opened with a wrong password")
        } catch {
            guard case .unavailable(let why) = error else { Issue.record("expected .unavailable, got \(error)"); return }
            #expect(why.contains("password authentication failed"), "\(why)")
            #expect(!error.description.contains(secret))
            #expect(!String(reflecting: error).contains(secret))
            #expect(error.description.contains(":***@"))
        }
        #expect(!capture.all.contains { $0.contains(secret) })
    }

    @Test func refusedConnectionIsUnavailableAtOnce() async throws {
        let closed = try SilentListener(listening: false)
        defer { closed.close() }
        let port = closed.port
        let url = "postgres://greylist:Refused-Secret-1@127.0.0.1:\(port)/mail?sslmode=disable"
        let start = ContinuousClock.now
        await #expect(throws: StoreError.self) { _ = try await PostgresGreylistStore(url: url, logger: nil) }
        do { _ = try await PostgresGreylistStore(url: url, logger: nil) } catch {
            guard case .unavailable = error else { Issue.record("expected .unavailable, got \(error)"); return }
            #expect(!error.description.contains("Refused-Secret-1"))
            #expect(error.description.contains("greylist:***@127.0.0.1"))
        }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    /// A server that accepts the TCP connection and never answers: bounded by the timeouts.
    @Test func silentServerTimesOut() async throws {
        let listener = try SilentListener()
        defer { listener.close() }
        let url = "postgres://greylist:Silent-Secret-2@127.0.0.1:\(listener.port)/mail?sslmode=disable"
        let start = ContinuousClock.now
        do {
            _ = try await PostgresGreylistStore(
                url: url, logger: nil,
                options: .init(connectTimeout: .seconds(1), operationTimeout: .seconds(1)))
            Issue.record("opened a store on a silent server")
        } catch {
            guard case .unavailable = error else { Issue.record("expected .unavailable, got \(error)"); return }
            #expect(!error.description.contains("Silent-Secret-2"))
        }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func tlsRequiredButNotOffered() async throws {
        let admin = try await TestPostgres.adminURL()
        guard admin.contains("sslmode=disable") else { return }
        let url = admin.replacingOccurrences(of: "sslmode=disable", with: "sslmode=require")
        do {
            _ = try await PostgresGreylistStore(url: url, logger: nil)
            Issue.record("sslmode=require connected to a server without TLS")
        } catch {
            guard case .unavailable(let why) = error else { Issue.record("expected .unavailable, got \(error)"); return }
            #expect(why.contains("TLS"), "\(why)")
            for secret in try secrets(of: admin) { #expect(!error.description.contains(secret)) }
        }
    }

    /// A statement stuck on a lock: cancelling the caller's task ends it at once (postgres-nio's
    /// query does not notice cancellation; the store closes the connection), and the store is
    /// fine afterwards.
    @Test func cancellationEndsAStuckStatement() async throws {
        let url = try await TestPostgres.freshDatabase()
        try await withStore(url, options: .init(operationTimeout: .seconds(60))) { store in
            _ = try await store.recordAttempt(triplet, at: t0, timing: timing)
            try await withTableLocked(url) {
                let attempt = Task { try await store.recordAttempt(triplet, at: t0 + 1, timing: timing) }
                try await Task.sleep(for: .milliseconds(300))
                let start = ContinuousClock.now
                attempt.cancel()
                let result = await attempt.result
                #expect(ContinuousClock.now - start < .seconds(10))  // liveness: far below the 60 s timeout
                guard case .failure(let error as StoreError) = result, case .unavailable = error else {
                    Issue.record("a cancelled attempt gave \(result)")
                    return
                }
            }
            let after = try await store.recordAttempt(triplet, at: t0 + 2, timing: timing)
            #expect(after.attempts == 2, "the cancelled attempt was rolled back: \(after)")
        }
    }

    @Test func operationTimeoutEndsAStuckStatement() async throws {
        let url = try await TestPostgres.freshDatabase()
        try await withStore(url, options: .init(operationTimeout: .seconds(1))) { store in
            _ = try await store.recordAttempt(triplet, at: t0, timing: timing)
            try await withTableLocked(url) {
                let start = ContinuousClock.now
                do {
                    _ = try await store.recordAttempt(triplet, at: t0 + 1, timing: timing)
                    Issue.record("an attempt went through an exclusive lock")
                } catch let error as StoreError {
                    guard case .unavailable(let why) = error else { Issue.record("expected .unavailable, got \(error)"); return }
                    #expect(why.contains("no answer within"), "\(why)")
                }
                #expect(ContinuousClock.now - start < .seconds(3))
            }
            #expect(try await store.recordAttempt(triplet, at: t0 + 2, timing: timing).attempts == 2)
        }
    }

    /// The server goes away under a working store: the first call fails `.unavailable` within the
    /// operation timeout, the next ones at once (one probe a second still waits), no log line
    /// shows the password, opening a store fails at once, and the store recovers when the server
    /// is back.
    @Test func serverStoppedIsUnavailableThenRecovers() async throws {
        let cluster = try await Cluster.start()
        let capture = CapturingLogHandler()
        let store = try await PostgresGreylistStore(
            url: cluster.url, logger: capture.logger,
            options: .init(connectTimeout: .seconds(1), operationTimeout: .seconds(2), probeInterval: .seconds(1)))
        let secrets = try secrets(of: cluster.url)
        _ = try await store.recordAttempt(triplet, at: t0, timing: timing)
        try await cluster.pause()

        func expectUnavailable(within limit: Duration, _ note: String) async {
            let start = ContinuousClock.now
            do {
                _ = try await store.recordAttempt(triplet, at: t0 + 1, timing: timing)
                Issue.record("recorded an attempt on a stopped server (\(note))")
            } catch {
                guard case .unavailable = error else { Issue.record("expected .unavailable, got \(error)"); return }
                for secret in secrets { #expect(!error.description.contains(secret)) }
            }
            let took = ContinuousClock.now - start
            #expect(took < limit, "\(note): took \(took)")
        }
        await expectUnavailable(within: .seconds(6), "first call")
        for i in 0..<20 { await expectUnavailable(within: .seconds(2), "call \(i) after the first") }
        // Opening another store on the stopped server fails at once (connection refused).
        let start = ContinuousClock.now
        await #expect(throws: StoreError.self) { _ = try await PostgresGreylistStore(url: cluster.url, logger: nil) }
        #expect(ContinuousClock.now - start < .seconds(6))

        try await cluster.resume()
        var recovered: GreylistRecord?
        let deadline = ContinuousClock.now + .seconds(10)
        while recovered == nil, ContinuousClock.now < deadline {
            recovered = try? await store.recordAttempt(triplet, at: t0 + 2, timing: timing)
            if recovered == nil { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(recovered?.attempts == 2, "after the server came back: \(String(describing: recovered))")
        await store.shutdown()
        try await cluster.stop()

        #expect(!capture.all.isEmpty)
        for line in capture.all {
            for secret in secrets { #expect(!line.contains(secret), "\(line)") }
        }
    }
}

/// Holds an ACCESS EXCLUSIVE lock on greylist_triplets from another session while `body` runs
/// (and 0.8 s more).
private func withTableLocked(_ url: String, _ body: () async throws -> Void) async throws {
    let parsed = try PostgresURL(url)
    guard case .tcp(let host, let port) = parsed.endpoint else { return }
    let config = PostgresConnection.Configuration(
        host: host, port: port, username: parsed.username, password: parsed.password, database: parsed.database,
        tls: .disable)
    let connection = try await PostgresConnection.connect(configuration: config, id: 9, logger: TestPostgres.quiet)
    try await connection.query("BEGIN", logger: TestPostgres.quiet)
    try await connection.query("LOCK TABLE greylist_triplets IN ACCESS EXCLUSIVE MODE", logger: TestPostgres.quiet)
    do {
        try await body()
    } catch {
        try? await connection.close()
        throw error
    }
    // Held a little longer than the store's client_connection_check_interval (250 ms), so that
    // the server has noticed the closed connection of a statement given up on and rolled it back.
    try await Task.sleep(for: .milliseconds(800))
    try await connection.query("ROLLBACK", logger: TestPostgres.quiet)
    try await connection.close()
}

/// A TCP socket bound on 127.0.0.1. Listening, the kernel completes handshakes and nobody ever
/// reads or answers (a silent server); not listening, connections are refused, and the port,
/// still bound, cannot be taken by a server another test starts meanwhile.
private final class SilentListener: Sendable {
    let fd: Int32
    let port: Int

    init(listening: Bool = true) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestPostgres.Failure(description: "socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0, !listening || listen(fd, 16) == 0 else {
            _ = Glibc.close(fd)
            throw TestPostgres.Failure(description: "bind/listen: \(errno)")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(fd) }
}

/// TLS per the URL's sslmode, against a server that refuses TCP clients without TLS.
@Suite(.enabled(if: TestPostgres.enabled, "PORTCULLIS_TEST_POSTGRES=skip"))
struct PostgresTLSTests {
    @Test func sslmodes() async throws {
        let cluster = try await Cluster.start(tls: true)
        let base = cluster.url.replacingOccurrences(of: "?sslmode=require", with: "")
        let localhost = base.replacingOccurrences(of: "@127.0.0.1:", with: "@localhost:")
        let secrets = try secrets(of: cluster.url)

        for url in [
            base + "?sslmode=require",
            base + "?sslmode=prefer",
            base + "?sslmode=verify-ca&sslrootcert=\(cluster.caFile)",
            localhost + "?sslmode=verify-full&sslrootcert=\(cluster.caFile)",
        ] {
            try await withStore(url) { store in
                let record = try await store.recordAttempt(triplet, at: t0, timing: timing)
                #expect(record.attempts >= 1, "\(RedactedURL(url))")
            }
        }

        // No TLS: the server's pg_hba refuses; the system CAs do not know the test CA.
        for url in [base + "?sslmode=disable", base + "?sslmode=verify-ca", localhost + "?sslmode=verify-full"] {
            do {
                _ = try await PostgresGreylistStore(url: url, logger: nil)
                Issue.record("connected with \(RedactedURL(url))")
            } catch {
                guard case .unavailable = error else { Issue.record("expected .unavailable, got \(error)"); continue }
                for secret in secrets { #expect(!error.description.contains(secret)) }
            }
        }
        try await cluster.stop()
    }
}
