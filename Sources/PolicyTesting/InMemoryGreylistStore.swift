import PolicyCore
import Synchronization

/// A greylist store in memory, for engine and check tests. It follows the store contract
/// (the same rule functions the SQL stores implement in their statements).
public final class InMemoryGreylistStore: GreylistStore {
    private struct State {
        var triplets: [GreylistTriplet: GreylistRecord] = [:]
        var networks: [String: GreylistNetworkRecord] = [:]
        var allow: [String: Int64] = [:]
    }

    private let state = Mutex(State())
    /// When set, every call fails with it (a database that is down).
    public let failure = Mutex<StoreError?>(nil)

    public init() {}

    private func check() throws(StoreError) {
        if let error = failure.withLock({ $0 }) { throw error }
    }

    public func recordAttempt(_ triplet: GreylistTriplet, at now: Int64, timing: GreylistTiming) async throws(StoreError)
        -> GreylistRecord
    {
        try check()
        return state.withLock { s in
            let record = GreylistRecord.afterAttempt(s.triplets[triplet], triplet: triplet, at: now, timing: timing)
            s.triplets[triplet] = record
            return record
        }
    }

    public func recordPass(network: String, at now: Int64, countInterval: Int64, lifetime: Int64) async throws(StoreError)
        -> GreylistNetworkRecord
    {
        try check()
        return state.withLock { s in
            let record = GreylistNetworkRecord.afterPass(
                s.networks[network], network: network, at: now, countInterval: countInterval, lifetime: lifetime)
            s.networks[network] = record
            return record
        }
    }

    public func network(_ network: String) async throws(StoreError) -> GreylistNetworkRecord? {
        try check()
        return state.withLock { $0.networks[network] }
    }

    public func allowEntries() async throws(StoreError) -> [String] {
        try check()
        return state.withLock { $0.allow.keys.sorted() }
    }

    public func addAllowEntry(_ entry: String, at now: Int64) async throws(StoreError) {
        try check()
        state.withLock { $0.allow[entry] = now }
    }

    public func removeAllowEntry(_ entry: String) async throws(StoreError) -> Bool {
        try check()
        return state.withLock { $0.allow.removeValue(forKey: entry) != nil }
    }

    private func matches(_ r: GreylistRecord, _ f: GreylistFilter) -> Bool {
        (f.network == nil || r.triplet.network == f.network) && (f.sender == nil || r.triplet.sender == f.sender)
            && (f.recipient == nil || r.triplet.recipient == f.recipient)
    }

    public func list(_ filter: GreylistFilter) async throws(StoreError) -> [GreylistRecord] {
        try check()
        return state.withLock { s in
            Array(
                s.triplets.values.filter { matches($0, filter) }
                    .sorted { ($0.firstSeen, $0.triplet.description) < ($1.firstSeen, $1.triplet.description) }
                    .prefix(filter.limit))
        }
    }

    public func delete(_ filter: GreylistFilter) async throws(StoreError) -> Int {
        try check()
        return state.withLock { s in
            let gone = s.triplets.values.filter { matches($0, filter) }.map(\.triplet)
            for triplet in gone { s.triplets[triplet] = nil }
            return gone.count
        }
    }

    public func stats(autoAllowThreshold: Int) async throws(StoreError) -> GreylistStats {
        try check()
        return state.withLock { s in
            GreylistStats(
                triplets: s.triplets.count, passed: s.triplets.values.filter { $0.passedAt != nil }.count,
                autoAllowlistedNetworks: s.networks.values.filter { $0.passes >= autoAllowThreshold }.count,
                manualAllowEntries: s.allow.count, oldestFirstSeen: s.triplets.values.map(\.firstSeen).min())
        }
    }

    public func purge(at now: Int64, timing: GreylistTiming, olderThan: Int64?) async throws(StoreError) -> Int {
        try check()
        return state.withLock { s in
            let before = s.triplets.count + s.networks.count
            s.triplets = s.triplets.filter { _, r in
                let expired = r.passedAt == nil ? now - r.firstSeen > timing.retryWindow : now - r.lastSeen > timing.lifetime
                return !expired && (olderThan.map { r.lastSeen >= $0 } ?? true)
            }
            s.networks = s.networks.filter { _, n in now - n.lastSeen <= timing.lifetime && (olderThan.map { n.lastSeen >= $0 } ?? true) }
            return before - s.triplets.count - s.networks.count
        }
    }
}
