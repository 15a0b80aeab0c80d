import PolicyCore
import PolicyEngine
import Synchronization

/// One zone of a DNS list (DNSBL, DNSWL or RHSBL) as configured.
public struct DNSListZone: Sendable {
    /// What a listing in this zone does.
    public enum Action: String, Sendable, CaseIterable {
        /// Add `weight` to the score (postscreen style).
        case score
        case tempfail
        case reject
        /// Accept the client: ends checking (a DNSWL).
        case accept
    }

    public let zone: DNSName
    public let filter: ReturnCodeFilter
    public let weight: Int
    public let action: Action

    public init(zone: DNSName, filter: ReturnCodeFilter = ReturnCodeFilter(), weight: Int = 1, action: Action = .score) {
        self.zone = zone
        self.filter = filter
        self.weight = weight
        self.action = action
    }
}

/// Which answers of a zone count as a listing: any of exact codes or ranges, or a bit mask on
/// the last octet. Empty: any answer in 127.0.0.0/8. Never 127.255.255.0/24, which Spamhaus
/// returns for refused queries (an error, not a listing), and never anything outside 127/8.
public struct ReturnCodeFilter: Sendable {
    public var ranges: [ClosedRange<UInt32>] = []
    public var bitmask: UInt32? = nil

    public init(ranges: [ClosedRange<UInt32>] = [], bitmask: UInt32? = nil) {
        self.ranges = ranges
        self.bitmask = bitmask
    }

    /// Parses `127.0.0.2` or `127.0.0.2-127.0.0.11`.
    public static func range(_ text: String) -> ClosedRange<UInt32>? {
        let parts = text.split(separator: "-", maxSplits: 1).map { $0.trimmingSpaces() }
        guard case .v4(let low)? = IPAddress(parts[0]) else { return nil }
        guard parts.count == 2 else { return low...low }
        guard case .v4(let high)? = IPAddress(parts[1]), high >= low else { return nil }
        return low...high
    }

    func matches(_ code: UInt32) -> Bool {
        if ranges.isEmpty && bitmask == nil { return true }
        if ranges.contains(where: { $0.contains(code) }) { return true }
        if let bitmask, code & 0xFF & bitmask != 0 { return true }
        return false
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(self.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

/// A DNS list check: the client address (DNSBL/DNSWL), the sender domain or the HELO name
/// (RHSBL), looked up in every zone in parallel, so the stage waits for the slowest zone and
/// not for the sum. Listings add their zone's weight to a score; the score at or above
/// `threshold` refuses, at or below `allowThreshold` accepts (DNSWL); a zone may instead act
/// on its own.
///
/// A zone that lists the RFC 5782 test point that must never be listed (127.0.0.1, or the
/// name `invalid` for domain lists) answers everything: it is ignored, with a warning, for
/// ten minutes at a time. Answers in 127.255.255.0/24 mean "query refused" and answers outside
/// 127.0.0.0/8 are invalid: neither is a listing; both are logged once a minute per zone.
///
/// - Stage: ``Stage/connect`` (client), ``Stage/mail`` (sender domain), ``Stage/helo`` (HELO name)
/// - Replies: ``SMTPReply/dnsblListed`` (`{list}`, `{reason}` = TXT), ``SMTPReply/dnsblListedPermanent``
/// - On error: a zone that does not answer counts as unlisted if the others decide; else `on_error`
/// - Docs: docs/checks/dnsbl.md
public struct DNSListCheck: Check {
    public enum Target: String, Sendable {
        case client
        case senderDomain
        case heloName
    }

    public let name: String
    public let target: Target
    public let zones: [DNSListZone]
    public let threshold: Int
    public let allowThreshold: Int
    /// Refuse a score at or above the threshold with ``permanentReply`` instead of ``reply``.
    public let permanent: Bool
    public let reply: SMTPReply
    public let permanentReply: SMTPReply
    public let resolver: any DNSResolver
    private let health: ZoneHealth

    public var stage: Stage {
        switch target {
        case .client: return .connect
        case .senderDomain: return .mail
        case .heloName: return .helo
        }
    }

    public init(
        name: String, target: Target, zones: [DNSListZone], threshold: Int = 1, allowThreshold: Int = -1,
        permanent: Bool = false, reply: SMTPReply = .dnsblListed, permanentReply: SMTPReply = .dnsblListedPermanent,
        resolver: any DNSResolver, warn: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.name = name
        self.target = target
        self.zones = zones
        self.threshold = threshold
        self.allowThreshold = allowThreshold
        self.permanent = permanent
        self.reply = reply
        self.permanentReply = permanentReply
        self.resolver = resolver
        self.health = ZoneHealth(warn: warn)
    }

    /// What one zone said.
    enum ZoneResult: Sendable {
        case unlisted
        case listed(codes: [IPAddress], reason: String)
        case failed(DNSError)
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let key = queryKey(tx) else { return .dunno }
        let results = await withTaskGroup(of: (Int, ZoneResult).self) { group in
            for (index, zone) in zones.enumerated() {
                group.addTask { (index, await self.lookUp(key, in: zone)) }
            }
            var results = [ZoneResult](repeating: .unlisted, count: zones.count)
            for await (index, result) in group { results[index] = result }
            return results
        }

        var score = 0
        var firstListing: (zone: DNSListZone, reason: String)? = nil
        var firstError: DNSError? = nil
        for (zone, result) in zip(zones, results) {
            switch result {
            case .unlisted:
                continue
            case .failed(let error):
                firstError = firstError ?? error
            case .listed(let codes, let reason):
                let because = "\(key) listed on \(zone.zone) (\(codes.map(\.description).joined(separator: ",")))"
                switch zone.action {
                case .accept: return .accept(because: because)
                case .tempfail, .reject:
                    return .reject(rendered(zone, reason, permanent: zone.action == .reject), because: because)
                case .score:
                    score += zone.weight
                    if zone.weight > 0, firstListing == nil { firstListing = (zone, reason) }
                }
            }
        }
        if score >= threshold, let listing = firstListing {
            return .reject(
                rendered(listing.zone, listing.reason, permanent: permanent),
                because: "\(key) scores \(score) (threshold \(threshold)), first on \(listing.zone.zone)")
        }
        // Only a negative score, from a DNSWL, accepts: an unlisted client scores 0.
        if score <= allowThreshold && score < 0 {
            return .accept(because: "\(key) scores \(score) (allow threshold \(allowThreshold))")
        }
        // A zone we could not ask might have decided.
        if let firstError { throw firstError }
        return .dunno
    }

    /// The reply with `{list}` and `{reason}` filled; the engine fills the rest.
    private func rendered(_ zone: DNSListZone, _ reason: String, permanent: Bool) -> SMTPReply {
        (permanent ? permanentReply : reply).rendered(["list": zone.zone.text, "reason": reason])
    }

    private func queryKey(_ tx: Transaction) -> String? {
        switch target {
        case .client:
            return tx.client.address.map(DNSName.reversedLabels)
        case .senderDomain:
            guard let domain = tx.sender?.mailbox?.domain, !DomainName.isAddressLiteral(domain) else { return nil }
            return DNSName(domain)?.text
        case .heloName:
            guard let helo = tx.helo, !DomainName.isAddressLiteral(helo) else { return nil }
            return DNSName(helo)?.text
        }
    }

    private func lookUp(_ key: String, in zone: DNSListZone) async -> ZoneResult {
        // Names longer than 253 bytes cannot be asked: not listed, and no query.
        guard let name = DNSName("\(key).\(zone.zone.text)") else { return .unlisted }
        // The test-point probe (first use, then every ten minutes) runs beside the query, so a
        // cold zone costs one round trip, not two.
        async let usable = health.isUsable(zone, probe: { await self.probe(zone) })
        let answer: DNSAnswer
        do {
            answer = try await resolver.query(name, .a)
        } catch {
            return await usable ? .failed(error) : .unlisted
        }
        guard await usable else { return .unlisted }
        let codes = answer.addresses
        guard !codes.isEmpty else { return .unlisted }
        if codes.contains(where: { ZoneHealth.refused.contains($0) }) {
            health.warn(zone, "answers \(codes[0]) (127.255.255.x): the list refuses our queries; not a listing")
            return .unlisted
        }
        let valid = codes.filter { if case .v4(let v) = $0 { return v >> 24 == 127 } else { return false } }
        if valid.count != codes.count {
            health.warn(zone, "answers \(codes[0]), outside 127.0.0.0/8: not a listing")
        }
        let matching = valid.filter { if case .v4(let v) = $0 { return zone.filter.matches(v) } else { return false } }
        guard !matching.isEmpty else { return .unlisted }
        let reason = (try? await resolver.query(name, .txt))?.texts.first ?? "listed"
        return .listed(codes: matching, reason: reason)
    }

    /// RFC 5782 §5: 127.0.0.1 (IPv4 lists) and `invalid` (domain lists) must not be listed.
    private func probe(_ zone: DNSListZone) async -> Bool {
        let test = target == .client ? "1.0.0.127" : "invalid"
        guard let name = DNSName("\(test).\(zone.zone.text)"),
            let answer = try? await resolver.query(name, .a)
        else { return true }
        let listed = answer.addresses.contains {
            if case .v4(let v) = $0 { return v >> 24 == 127 && !ZoneHealth.refused.contains($0) } else { return false }
        }
        if listed { health.warn(zone, "lists the RFC 5782 test point \(name), so it lists everything: ignored") }
        return !listed
    }
}

/// Per-zone memory of a check: which zones answer everything (re-probed every ten minutes) and
/// when each zone last warned (at most once a minute).
final class ZoneHealth: Sendable {
    static let refused = IPNetwork("127.255.255.0/24")!
    static let probeInterval: Duration = .seconds(600)
    static let warnInterval: Duration = .seconds(60)

    private struct State {
        var probed: [DNSName: (usable: Bool, at: ContinuousClock.Instant)] = [:]
        var warned: [DNSName: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())
    private let sink: @Sendable (String) -> Void

    init(warn: @escaping @Sendable (String) -> Void) { sink = warn }

    func isUsable(_ zone: DNSListZone, probe: () async -> Bool) async -> Bool {
        let now = ContinuousClock.now
        if let known = state.withLock({ $0.probed[zone.zone] }), now - known.at < Self.probeInterval {
            return known.usable
        }
        let usable = await probe()
        state.withLock { $0.probed[zone.zone] = (usable, now) }
        return usable
    }

    func warn(_ zone: DNSListZone, _ message: String) {
        let now = ContinuousClock.now
        let due = state.withLock { s -> Bool in
            if let last = s.warned[zone.zone], now - last < Self.warnInterval { return false }
            s.warned[zone.zone] = now
            return true
        }
        if due { sink("\(zone.zone): \(message)") }
    }
}
