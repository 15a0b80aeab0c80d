import Synchronization

/// Greylisting values and the store port. The rule (`GreylistRule`, in PolicyChecks) decides;
/// a store only persists, each decision in one atomic statement.

/// The (client network, sender, recipient) triplet, each part already normalised.
public struct GreylistTriplet: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The client's network in CIDR form: `192.0.2.0/24`, `2001:db8:1:2::/64`.
    public let network: String
    /// The normalised sender (lower case; BATV, SRS, VERP and +extension folded); `<>` for bounces.
    public let sender: String
    /// The lower-cased recipient.
    public let recipient: String

    public init(network: String, sender: String, recipient: String) {
        self.network = network
        self.sender = sender
        self.recipient = recipient
    }

    public var description: String { "\(network) \(sender) -> \(recipient)" }
}

/// How long things last, in seconds. Defaults as postgrey.
public struct GreylistTiming: Sendable, Equatable {
    /// A new triplet is refused until this long after its first attempt.
    public var delay: Int64 = 300
    /// A triplet not retried within this long after its first attempt starts over.
    public var retryWindow: Int64 = 2 * 86_400
    /// A passed triplet (and an auto-allowlisted network) is remembered this long after it was last seen.
    public var lifetime: Int64 = 35 * 86_400

    public init(delay: Int64 = 300, retryWindow: Int64 = 2 * 86_400, lifetime: Int64 = 35 * 86_400) {
        self.delay = delay
        self.retryWindow = retryWindow
        self.lifetime = lifetime
    }
}

/// One triplet as stored, after the attempt that was just recorded.
public struct GreylistRecord: Sendable, Equatable, Codable {
    public let triplet: GreylistTriplet
    /// Unix seconds of the attempt that started the current greylisting round.
    public let firstSeen: Int64
    /// Unix seconds of the latest attempt.
    public let lastSeen: Int64
    /// Attempts in the current round (1 for a new triplet).
    public let attempts: Int
    /// Unix seconds when the triplet first passed; nil while it is still greylisted.
    public let passedAt: Int64?

    public init(triplet: GreylistTriplet, firstSeen: Int64, lastSeen: Int64, attempts: Int, passedAt: Int64?) {
        self.triplet = triplet
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.attempts = attempts
        self.passedAt = passedAt
    }

    /// The record after an attempt at `now`: the whole greylisting state machine, which every
    /// store must implement exactly (SQL stores in their single upsert statement; the shared
    /// contract test suite proves it):
    /// - no record, or a round not retried within `retryWindow`, or a passed triplet unseen for
    ///   `lifetime`: a new round (first seen now, 1 attempt, not passed);
    /// - not passed, `delay` elapsed since first seen: passed now;
    /// - otherwise: one more attempt, last seen now.
    public static func afterAttempt(
        _ existing: GreylistRecord?, triplet: GreylistTriplet, at now: Int64, timing: GreylistTiming
    ) -> GreylistRecord {
        guard let old = existing else {
            return GreylistRecord(triplet: triplet, firstSeen: now, lastSeen: now, attempts: 1, passedAt: nil)
        }
        let expired = old.passedAt == nil ? now - old.firstSeen > timing.retryWindow : now - old.lastSeen > timing.lifetime
        if expired { return GreylistRecord(triplet: triplet, firstSeen: now, lastSeen: now, attempts: 1, passedAt: nil) }
        let passedAt = old.passedAt ?? (now - old.firstSeen >= timing.delay ? now : nil)
        return GreylistRecord(
            triplet: triplet, firstSeen: old.firstSeen, lastSeen: now, attempts: old.attempts + 1, passedAt: passedAt)
    }
}

/// Auto-allowlisting state of one client network.
public struct GreylistNetworkRecord: Sendable, Equatable, Codable {
    public let network: String
    /// Passes counted, at most one per `countInterval`.
    public let passes: Int
    /// Unix seconds when a pass was last counted.
    public let lastCounted: Int64
    /// Unix seconds of the latest pass.
    public let lastSeen: Int64

    public init(network: String, passes: Int, lastCounted: Int64, lastSeen: Int64) {
        self.network = network
        self.passes = passes
        self.lastCounted = lastCounted
        self.lastSeen = lastSeen
    }

    /// The record after a pass at `now`: counted if `countInterval` has gone by since the last
    /// counted one; a network unseen for `lifetime` starts again from one.
    public static func afterPass(
        _ existing: GreylistNetworkRecord?, network: String, at now: Int64, countInterval: Int64, lifetime: Int64
    ) -> GreylistNetworkRecord {
        guard let old = existing, now - old.lastSeen <= lifetime else {
            return GreylistNetworkRecord(network: network, passes: 1, lastCounted: now, lastSeen: now)
        }
        let counts = now - old.lastCounted >= countInterval
        return GreylistNetworkRecord(
            network: network, passes: old.passes + (counts ? 1 : 0), lastCounted: counts ? now : old.lastCounted,
            lastSeen: now)
    }
}

/// What `portcullis greylist stats` shows.
public struct GreylistStats: Sendable, Equatable, Codable {
    public var triplets: Int
    public var passed: Int
    public var autoAllowlistedNetworks: Int
    public var manualAllowEntries: Int
    /// Unix seconds of the oldest first-seen, nil when empty.
    public var oldestFirstSeen: Int64?

    public init(triplets: Int, passed: Int, autoAllowlistedNetworks: Int, manualAllowEntries: Int, oldestFirstSeen: Int64?) {
        self.triplets = triplets
        self.passed = passed
        self.autoAllowlistedNetworks = autoAllowlistedNetworks
        self.manualAllowEntries = manualAllowEntries
        self.oldestFirstSeen = oldestFirstSeen
    }
}

/// Selects triplets for `list` and `delete`; nil parts match everything.
public struct GreylistFilter: Sendable, Equatable {
    /// A CIDR string as stored (`192.0.2.0/24`); matched exactly.
    public var network: String?
    public var sender: String?
    public var recipient: String?
    public var limit: Int

    public init(network: String? = nil, sender: String? = nil, recipient: String? = nil, limit: Int = 1000) {
        self.network = network
        self.sender = sender
        self.recipient = recipient
        self.limit = limit
    }
}

/// Why a store could not do what was asked. The description never holds a password.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Cannot reach or open the database (down, locked, refused): transient.
    case unavailable(String)
    /// The database is not ours or is damaged (a corrupt SQLite file, a newer schema).
    case corrupt(String)

    public var description: String {
        switch self {
        case .unavailable(let why): return "greylist store unavailable: \(why)"
        case .corrupt(let why): return "greylist store unusable: \(why)"
        }
    }
}

/// Persistence for greylisting, shared by every MX host that points at the same database.
///
/// Contract (tested against every backend by one suite): each method is one atomic operation;
/// `recordAttempt` and `recordPass` follow ``GreylistRecord/afterAttempt(_:triplet:at:timing:)``
/// and ``GreylistNetworkRecord/afterPass(_:network:at:countInterval:lifetime:)`` exactly, in a
/// single statement; a committed decision survives a crash of the process.
public protocol GreylistStore: Sendable {
    func recordAttempt(_ triplet: GreylistTriplet, at now: Int64, timing: GreylistTiming) async throws(StoreError)
        -> GreylistRecord
    func recordPass(network: String, at now: Int64, countInterval: Int64, lifetime: Int64) async throws(StoreError)
        -> GreylistNetworkRecord
    /// The network's record, or nil.
    func network(_ network: String) async throws(StoreError) -> GreylistNetworkRecord?
    /// Manual allow entries (`portcullis greylist allow`): IPs, CIDRs or domains, as given.
    func allowEntries() async throws(StoreError) -> [String]
    func addAllowEntry(_ entry: String, at now: Int64) async throws(StoreError)
    func removeAllowEntry(_ entry: String) async throws(StoreError) -> Bool
    func list(_ filter: GreylistFilter) async throws(StoreError) -> [GreylistRecord]
    func delete(_ filter: GreylistFilter) async throws(StoreError) -> Int
    func stats(autoAllowThreshold: Int) async throws(StoreError) -> GreylistStats
    /// Deletes triplets and networks that have expired at `now` (and, with `olderThan`, any last
    /// seen before it); returns how many rows went.
    func purge(at now: Int64, timing: GreylistTiming, olderThan: Int64?) async throws(StoreError) -> Int
}

/// The greylist store the daemon installs once it has opened one; checks are built around the
/// slot before that (like ``ResolverSlot``). Until a store is installed every call fails as
/// unavailable, which the check's `on_error` turns into its configured result.
public final class GreylistStoreSlot: GreylistStore {
    private let installed = Mutex<(any GreylistStore)?>(nil)

    public init() {}

    public func install(_ store: any GreylistStore) { installed.withLock { $0 = store } }

    private func store() throws(StoreError) -> any GreylistStore {
        guard let store = installed.withLock({ $0 }) else { throw .unavailable("no greylist store is open") }
        return store
    }

    public func recordAttempt(_ triplet: GreylistTriplet, at now: Int64, timing: GreylistTiming) async throws(StoreError)
        -> GreylistRecord
    { try await store().recordAttempt(triplet, at: now, timing: timing) }

    public func recordPass(network: String, at now: Int64, countInterval: Int64, lifetime: Int64) async throws(StoreError)
        -> GreylistNetworkRecord
    { try await store().recordPass(network: network, at: now, countInterval: countInterval, lifetime: lifetime) }

    public func network(_ network: String) async throws(StoreError) -> GreylistNetworkRecord? {
        try await store().network(network)
    }

    public func allowEntries() async throws(StoreError) -> [String] { try await store().allowEntries() }

    public func addAllowEntry(_ entry: String, at now: Int64) async throws(StoreError) {
        try await store().addAllowEntry(entry, at: now)
    }

    public func removeAllowEntry(_ entry: String) async throws(StoreError) -> Bool {
        try await store().removeAllowEntry(entry)
    }

    public func list(_ filter: GreylistFilter) async throws(StoreError) -> [GreylistRecord] {
        try await store().list(filter)
    }

    public func delete(_ filter: GreylistFilter) async throws(StoreError) -> Int { try await store().delete(filter) }

    public func stats(autoAllowThreshold: Int) async throws(StoreError) -> GreylistStats {
        try await store().stats(autoAllowThreshold: autoAllowThreshold)
    }

    public func purge(at now: Int64, timing: GreylistTiming, olderThan: Int64?) async throws(StoreError) -> Int {
        try await store().purge(at: now, timing: timing, olderThan: olderThan)
    }
}
