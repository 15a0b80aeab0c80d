import PolicyCore

/// The behaviour every `GreylistStore` must have, as one suite that each backend's tests run
/// against a real, empty database: `try await GreylistStoreContract.run(store)`.
/// Each case throws ``Failure`` naming what differed.
public enum GreylistStoreContract {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    static func expect(_ condition: Bool, _ what: @autoclosure () -> String) throws {
        if !condition { throw Failure(description: what()) }
    }

    /// Names of the cases, for parameterised tests.
    public static let cases = [
        "followsTheRule", "roundsExpire", "passedTripletsExpire", "networksCountOncePerInterval", "allowEntries",
        "listFilterDeleteStats", "purge", "concurrentAttemptsAreAtomic",
    ]

    /// Runs one case against `store`, which must be empty and used by nothing else.
    public static func run(_ name: String, on store: any GreylistStore) async throws {
        let t = GreylistTriplet(network: "192.0.2.0/24", sender: "a@example.org", recipient: "b@example.test")
        let timing = GreylistTiming(delay: 300, retryWindow: 2 * 86_400, lifetime: 35 * 86_400)
        let t0: Int64 = 1_800_000_000
        switch name {
        case "followsTheRule":
            // Replays a sequence of attempts and compares with the rule, step by step.
            var expected: GreylistRecord? = nil
            for offset: Int64 in [0, 10, 299, 300, 301, 4000, 86_400] {
                let got = try await store.recordAttempt(t, at: t0 + offset, timing: timing)
                expected = GreylistRecord.afterAttempt(expected, triplet: t, at: t0 + offset, timing: timing)
                try expect(got == expected, "after +\(offset)s: got \(got), expected \(expected!)")
            }
        case "roundsExpire":
            _ = try await store.recordAttempt(t, at: t0, timing: timing)
            let again = try await store.recordAttempt(t, at: t0 + timing.retryWindow + 1, timing: timing)
            try expect(
                again.firstSeen == t0 + timing.retryWindow + 1 && again.attempts == 1 && again.passedAt == nil,
                "a round not retried within the window starts over: \(again)")
        case "passedTripletsExpire":
            _ = try await store.recordAttempt(t, at: t0, timing: timing)
            let passed = try await store.recordAttempt(t, at: t0 + 400, timing: timing)
            try expect(passed.passedAt == t0 + 400, "passes after the delay: \(passed)")
            let later = try await store.recordAttempt(t, at: t0 + 400 + timing.lifetime, timing: timing)
            try expect(later.passedAt == t0 + 400, "still passed within the lifetime: \(later)")
            let gone = try await store.recordAttempt(t, at: t0 + 401 + 2 * timing.lifetime, timing: timing)
            try expect(gone.passedAt == nil && gone.attempts == 1, "unseen past the lifetime starts over: \(gone)")
        case "networksCountOncePerInterval":
            var expected: GreylistNetworkRecord? = nil
            for offset: Int64 in [0, 10, 3599, 3600, 7300, 7400, 11_000] {
                let got = try await store.recordPass(network: t.network, at: t0 + offset, countInterval: 3600, lifetime: timing.lifetime)
                expected = GreylistNetworkRecord.afterPass(
                    expected, network: t.network, at: t0 + offset, countInterval: 3600, lifetime: timing.lifetime)
                try expect(got == expected, "network after +\(offset)s: got \(got), expected \(expected!)")
            }
            let read = try await store.network(t.network)
            try expect(read == expected, "network() reads back \(String(describing: read))")
            let none = try await store.network("198.51.100.0/24")
            try expect(none == nil, "an unknown network is nil")
        case "allowEntries":
            try await store.addAllowEntry("192.0.2.7", at: t0)
            try await store.addAllowEntry("example.org", at: t0)
            try await store.addAllowEntry("example.org", at: t0 + 1)
            let entries = try await store.allowEntries()
            try expect(entries.sorted() == ["192.0.2.7", "example.org"], "allow entries: \(entries)")
            let removed = try await store.removeAllowEntry("example.org")
            let missing = try await store.removeAllowEntry("nothing.example")
            try expect(removed && !missing, "remove reports whether it removed")
        case "listFilterDeleteStats":
            let u = GreylistTriplet(network: "198.51.100.0/24", sender: "<>", recipient: "c@example.test")
            _ = try await store.recordAttempt(t, at: t0, timing: timing)
            _ = try await store.recordAttempt(t, at: t0 + 400, timing: timing)
            _ = try await store.recordAttempt(u, at: t0 + 1, timing: timing)
            _ = try await store.recordPass(network: t.network, at: t0, countInterval: 3600, lifetime: timing.lifetime)
            let all = try await store.list(GreylistFilter())
            try expect(Set(all.map(\.triplet)) == [t, u], "list all: \(all)")
            let some = try await store.list(GreylistFilter(sender: "<>"))
            try expect(some.map(\.triplet) == [u], "list by sender: \(some)")
            let stats = try await store.stats(autoAllowThreshold: 1)
            try expect(
                stats == GreylistStats(triplets: 2, passed: 1, autoAllowlistedNetworks: 1, manualAllowEntries: 0, oldestFirstSeen: t0),
                "stats: \(stats)")
            let deleted = try await store.delete(GreylistFilter(network: "198.51.100.0/24"))
            try expect(deleted == 1, "delete by network removed \(deleted)")
            let left = try await store.list(GreylistFilter())
            try expect(left.map(\.triplet) == [t], "left after delete: \(left)")
        case "purge":
            let fresh = GreylistTriplet(network: "203.0.113.0/24", sender: "x@example.org", recipient: "y@example.test")
            _ = try await store.recordAttempt(t, at: t0, timing: timing)
            _ = try await store.recordAttempt(fresh, at: t0 + timing.retryWindow, timing: timing)
            _ = try await store.recordPass(network: t.network, at: t0, countInterval: 3600, lifetime: timing.lifetime)
            let purged = try await store.purge(at: t0 + timing.retryWindow + 10, timing: timing, olderThan: nil)
            try expect(purged == 1, "purge removes the expired round only: \(purged)")
            let left = try await store.list(GreylistFilter())
            try expect(left.map(\.triplet) == [fresh], "after purge: \(left)")
            let forced = try await store.purge(at: t0 + timing.retryWindow + 10, timing: timing, olderThan: t0 + timing.retryWindow + 5)
            try expect(forced == 2, "purge --older-than removes older rows too: \(forced)")
        case "concurrentAttemptsAreAtomic":
            // 50 concurrent attempts on one triplet: one round, 50 attempts, nothing lost.
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<50 { group.addTask { _ = try? await store.recordAttempt(t, at: t0, timing: timing) } }
            }
            let record = try await store.list(GreylistFilter()).first
            try expect(record?.attempts == 50 && record?.firstSeen == t0, "concurrent attempts: \(String(describing: record))")
        default:
            throw Failure(description: "no contract case \(name)")
        }
    }
}
