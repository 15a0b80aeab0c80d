import Foundation
import GRDB
import PolicyCore
import PolicyTesting
@testable import StoreSQLite
import Testing

/// The SQL against the reference store and the rule functions, on seeded random histories, plus
/// locking and query plans.
@Suite struct SQLiteGreylistStoreBehaviourTests {
    /// Random attempts, passes, purges and deletes on a few triplets and networks, with short
    /// timings so that every boundary (exactly `delay`, `retryWindow`, `lifetime`, `countInterval`)
    /// comes up, and a clock that sometimes goes backwards. Every answer must equal the in-memory
    /// reference store's, which applies the rule functions.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func matchesTheReferenceStoreOnRandomHistories(seed: UInt64) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteGreylistStore(path: directory.file("greylist.sqlite"))
        let reference = InMemoryGreylistStore()
        var random = SplitMix64(seed: seed)
        let timing = GreylistTiming(
            delay: Int64(random.next(upTo: 6)), retryWindow: Int64(3 + random.next(upTo: 10)),
            lifetime: Int64(5 + random.next(upTo: 20)))
        let networks = ["192.0.2.0/24", "198.51.100.0/24", "2001:db8:1:2::/64"]
        let triplets = networks.flatMap { network in
            ["<>", "a@example.org"].map { GreylistTriplet(network: network, sender: $0, recipient: "b@example.test") }
        }
        var now: Int64 = 1_800_000_000
        for step in 0..<1500 {
            now += Int64(random.next(upTo: 8)) - (random.next(upTo: 20) == 0 ? 10 : 0)
            let roll = random.next(upTo: 100)
            switch roll {
            case 0..<60:
                let t = triplets[Int(random.next(upTo: UInt64(triplets.count)))]
                let got = try await store.recordAttempt(t, at: now, timing: timing)
                let want = try await reference.recordAttempt(t, at: now, timing: timing)
                #expect(got == want, "step \(step): attempt \(t) at \(now)")
            case 60..<90:
                let network = networks[Int(random.next(upTo: UInt64(networks.count)))]
                let interval = Int64(random.next(upTo: 6))
                let got = try await store.recordPass(network: network, at: now, countInterval: interval, lifetime: timing.lifetime)
                let want = try await reference.recordPass(network: network, at: now, countInterval: interval, lifetime: timing.lifetime)
                #expect(got == want, "step \(step): pass \(network) at \(now)")
            case 90..<96:
                let olderThan: Int64? = random.next(upTo: 2) == 0 ? nil : now - Int64(random.next(upTo: 15))
                let got = try await store.purge(at: now, timing: timing, olderThan: olderThan)
                let want = try await reference.purge(at: now, timing: timing, olderThan: olderThan)
                #expect(got == want, "step \(step): purge at \(now) older than \(String(describing: olderThan))")
            case 96..<98:
                let filter = GreylistFilter(sender: "<>")
                let got = try await store.delete(filter)
                let want = try await reference.delete(filter)
                #expect(got == want, "step \(step): delete")
            default:
                for network in networks {
                    let got = try await store.network(network)
                    let want = try await reference.network(network)
                    #expect(got == want, "step \(step): network \(network)")
                }
                let threshold = Int(random.next(upTo: 4))
                let got = try await store.stats(autoAllowThreshold: threshold)
                let want = try await reference.stats(autoAllowThreshold: threshold)
                #expect(got == want, "step \(step): stats")
            }
        }
        let got = try await store.list(GreylistFilter()).sorted { $0.triplet.description < $1.triplet.description }
        let want = try await reference.list(GreylistFilter()).sorted { $0.triplet.description < $1.triplet.description }
        #expect(got == want)
    }

    @Test func listFiltersOrdersAndLimits() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteGreylistStore(path: directory.file("greylist.sqlite"))
        let timing = GreylistTiming()
        for i in 0..<5 {
            let t = GreylistTriplet(network: "192.0.2.0/24", sender: "s\(i)@example.org", recipient: "r\(i % 2)@example.test")
            _ = try await store.recordAttempt(t, at: 1_800_000_000 - Int64(i), timing: timing)
        }
        let all = try await store.list(GreylistFilter())
        #expect(all.map(\.triplet.sender) == ["s4@example.org", "s3@example.org", "s2@example.org", "s1@example.org", "s0@example.org"])
        #expect(try await store.list(GreylistFilter(limit: 2)).map(\.triplet.sender) == ["s4@example.org", "s3@example.org"])
        #expect(try await store.list(GreylistFilter(limit: 0)).isEmpty)
        #expect(try await store.list(GreylistFilter(recipient: "r1@example.test")).count == 2)
        #expect(try await store.list(GreylistFilter(network: "192.0.2.0/24", sender: "s2@example.org")).count == 1)
        #expect(try await store.list(GreylistFilter(network: "192.0.2.0/25")).isEmpty)
        #expect(try await store.delete(GreylistFilter(recipient: "r0@example.test")) == 3)
        #expect(try await store.stats(autoAllowThreshold: 1).triplets == 2)
    }

    /// Another process holding the write lock (a long `portcullis greylist purge`, say) makes a
    /// decision wait `busyTimeout`, then fail as unavailable, which `on_error` handles.
    @Test func aWriteLockHeldElsewhereIsUnavailableAfterTheBusyTimeout() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("greylist.sqlite")
        let store = try SQLiteGreylistStore(path: path, busyTimeout: .milliseconds(100))
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true  // to hold the lock across accesses
        let other = try DatabaseQueue(path: path, configuration: configuration)
        try other.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        let triplet = GreylistTriplet(network: "192.0.2.0/24", sender: "a@example.org", recipient: "b@example.test")
        let started = ContinuousClock.now
        let error = await #expect(throws: StoreError.self) {
            _ = try await store.recordAttempt(triplet, at: 1_800_000_000, timing: GreylistTiming())
        }
        #expect(ContinuousClock.now - started >= .milliseconds(100))
        guard case .unavailable(let why) = error else {
            Issue.record("expected .unavailable, got \(String(describing: error))")
            return
        }
        #expect(why.hasPrefix(path) && why.contains("locked"))
        // Readers are never blocked by a writer in WAL mode.
        #expect(try await store.list(GreylistFilter()).isEmpty)
        try other.inDatabase { db in try db.execute(sql: "ROLLBACK") }
        try other.close()
        #expect(try await store.recordAttempt(triplet, at: 1_800_000_000, timing: GreylistTiming()).attempts == 1)
    }

    /// Purge holds the one write lock: it must walk indexes, never the whole table.
    @Test(arguments: SQLiteGreylistSQL.purge)
    func purgeUsesIndexes(_ sql: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("greylist.sqlite")
        try SQLiteGreylistStore(path: path).close()
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let arguments: StatementArguments = [
            "network": "192.0.2.0/24", "sender": "<>", "recipient": "b@example.test", "now": 1_800_000_000, "delay": 300,
            "retryWindow": 172_800, "lifetime": 3_024_000, "countInterval": 3600, "olderThan": 1_700_000_000,
        ]
        let plan = try await queue.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { row -> String in row["detail"] }
        }
        #expect(!plan.isEmpty)
        #expect(plan.allSatisfy { !$0.hasPrefix("SCAN") }, "\(plan)")
    }
}

/// A small seeded generator (SplitMix64), so a failing history can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next(upTo bound: UInt64) -> UInt64 { next() % bound }
}
