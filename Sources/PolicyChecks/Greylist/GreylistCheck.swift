import PolicyCore
import PolicyEngine
import Synchronization

/// Greylisting: temporarily refuses an unseen (client network, sender, recipient) triplet and
/// accepts it once the client retries after the delay; a network that passed often enough is
/// not greylisted at all for a while (auto-allowlisting).
///
/// - Stage: ``Stage/rcpt`` (one decision per recipient), or ``Stage/data`` with
///   `decide_at: data` (the whole message is deferred while any recipient's triplet is new, so
///   a multi-recipient message is never half-accepted)
/// - Replies: ``SMTPReply/greylisted``
/// - On error: store down → `on_error` (default continue: fail open, one warning a minute)
/// - Docs: docs/checks/greylist.md
public struct GreylistCheck: Check {
    public struct Policy: Sendable {
        public var timing = GreylistTiming()
        public var key = GreylistKey()
        /// Passes (counted at most once per `countInterval`) after which a network skips greylisting.
        public var autoAllowThreshold = 5
        public var countInterval: Int64 = 3600
        /// Clients never greylisted (your own networks, big senders that never retry from one IP).
        public var skipNetworks = NetworkSet()
        /// Skip clients that authenticated (macro `{auth_authen}`).
        public var skipAuthenticated = true
        /// Skip senders whose SPF passed for one of these domains (and their subdomains).
        public var skipSPFPassDomains: [String] = []
        public var reply = SMTPReply.greylisted
        /// How long manual allow entries (`portcullis greylist allow`) are cached.
        public var allowCacheSeconds: Int64 = 60

        public init() {}
    }

    public let name = "greylist"
    public let stage: Stage
    public let policy: Policy
    public let store: any GreylistStore
    /// Unix seconds now: injected (a manual clock in tests, the wall clock in the daemon).
    public let now: @Sendable () -> Int64
    private let allowCache = AllowCache()

    public init(
        store: any GreylistStore, policy: Policy = Policy(), decideAtData: Bool = false,
        now: @escaping @Sendable () -> Int64
    ) {
        self.store = store
        self.policy = policy
        self.stage = decideAtData ? .data : .rcpt
        self.now = now
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let client = tx.client.address, let sender = tx.sender else { return .dunno }
        if let skip = try await skipReason(tx, client: client, sender: sender) { return .note("greylist", skip) }

        let time = now()
        let network = policy.key.network(client)
        if let record = try await store.network(network), record.passes >= policy.autoAllowThreshold,
            time - record.lastSeen <= policy.timing.lifetime
        {
            _ = try await store.recordPass(
                network: network, at: time, countInterval: policy.countInterval, lifetime: policy.timing.lifetime)
            return .note("greylist", "auto-allowlisted: \(network) passed \(record.passes) times")
        }
        let recipients = stage == .rcpt ? [tx.currentRecipient].compactMap { $0 } : tx.recipients
        var waiting: [(GreylistRecord, Int64)] = []
        var passed = 0
        for recipient in recipients {
            let triplet = policy.key.triplet(client: client, sender: sender, recipient: recipient)
            let record = try await store.recordAttempt(triplet, at: time, timing: policy.timing)
            if record.passedAt != nil {
                passed += 1
            } else {
                waiting.append((record, max(0, record.firstSeen + policy.timing.delay - time)))
            }
        }
        if passed > 0 {
            _ = try await store.recordPass(
                network: network, at: time, countInterval: policy.countInterval, lifetime: policy.timing.lifetime)
        }
        guard let (first, left) = waiting.first else {
            return .note("greylist", "passed")
        }
        let what = first.attempts == 1 ? "new triplet" : "too early (\(left) s left, attempt \(first.attempts))"
        let more = waiting.count > 1 ? " and \(waiting.count - 1) more recipient(s)" : ""
        return .reject(policy.reply, because: "greylisted: \(what): \(first.triplet)\(more)")
    }

    /// Why this transaction is not greylisted at all, or nil.
    private func skipReason(_ tx: Transaction, client: IPAddress, sender: EnvelopeAddress) async throws -> String? {
        if policy.skipAuthenticated, let user = tx.macros["auth_authen"], !user.isEmpty {
            return "skipped: authenticated as \(LogSafe.escape(user))"
        }
        if let network = policy.skipNetworks.firstMatch(client) { return "skipped: \(client) in \(network)" }
        if tx.facts["spf"] == "pass", let domain = tx.facts["spf_domain"],
            policy.skipSPFPassDomains.contains(where: { domain == $0 || domain.hasSuffix("." + $0) })
        {
            return "skipped: SPF pass for \(domain)"
        }
        for entry in try await allowEntries() {
            if let network = IPNetwork(entry), network.contains(client) { return "skipped: allowed \(entry)" }
            let domain = entry.lowercased()
            let senderDomain = sender.mailbox?.domain ?? ""
            let clientName = tx.facts["client_name"] ?? ""
            for name in [senderDomain, clientName] where !name.isEmpty {
                if name == domain || name.hasSuffix("." + domain) { return "skipped: allowed \(entry)" }
            }
        }
        return nil
    }

    private func allowEntries() async throws -> [String] {
        let time = now()
        if let cached = allowCache.state.withLock({ $0 }), time - cached.at < policy.allowCacheSeconds {
            return cached.entries
        }
        let entries = try await store.allowEntries()
        allowCache.state.withLock { $0 = (entries, time) }
        return entries
    }

    /// Manual allow entries, re-read from the store at most once per `allowCacheSeconds`.
    final class AllowCache: Sendable {
        let state = Mutex<(entries: [String], at: Int64)?>(nil)
    }
}
