import PolicyCore

/// What `portcullis check` gives the greylist check: every triplet is new, nothing is written,
/// so an operator's question never changes the real state.
struct ScratchGreylistStore: GreylistStore {
    func recordAttempt(_ triplet: GreylistTriplet, at now: Int64, timing: GreylistTiming) async throws(StoreError) -> GreylistRecord {
        GreylistRecord.afterAttempt(nil, triplet: triplet, at: now, timing: timing)
    }
    func recordPass(network: String, at now: Int64, countInterval: Int64, lifetime: Int64) async throws(StoreError) -> GreylistNetworkRecord {
        GreylistNetworkRecord.afterPass(nil, network: network, at: now, countInterval: countInterval, lifetime: lifetime)
    }
    func network(_ network: String) async throws(StoreError) -> GreylistNetworkRecord? { nil }
    func allowEntries() async throws(StoreError) -> [String] { [] }
    func addAllowEntry(_ entry: String, at now: Int64) async throws(StoreError) {}
    func removeAllowEntry(_ entry: String) async throws(StoreError) -> Bool { false }
    func list(_ filter: GreylistFilter) async throws(StoreError) -> [GreylistRecord] { [] }
    func delete(_ filter: GreylistFilter) async throws(StoreError) -> Int { 0 }
    func stats(autoAllowThreshold: Int) async throws(StoreError) -> GreylistStats {
        GreylistStats(triplets: 0, passed: 0, autoAllowlistedNetworks: 0, manualAllowEntries: 0, oldestFirstSeen: nil)
    }
    func purge(at now: Int64, timing: GreylistTiming, olderThan: Int64?) async throws(StoreError) -> Int { 0 }
}
