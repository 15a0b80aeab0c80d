import PolicyCore

/// Evaluates SPF (RFC 7208) over a ``PolicyCore/DNSResolver``.
///
///     let spf = SPFEvaluator(resolver: resolver)
///     let outcome = await spf.evaluateMailFrom(ip: client, sender: "a@example.com", helo: "mx.example.net")
///     if outcome.result == .fail { ... outcome.explanation ... }
///
/// Bounded whatever the records say: at most ``SPFLimits/dnsTerms`` DNS-querying terms (so
/// include and redirect loops end), ``SPFLimits/voidLookups`` void lookups, 10 names per `mx`
/// and `ptr`; a domain-spec expands to at most 253 bytes (§7.3), an explanation to 800, and all
/// macro expansion of one evaluation to 4 MiB. The time is the resolver's: each query ends at
/// its timeout, and a cancelled task stops at the next query with `temperror`.
public struct SPFEvaluator: Sendable {
    public let resolver: any DNSResolver
    public let limits: SPFLimits

    public init(resolver: any DNSResolver, limits: SPFLimits = .rfc7208) {
        self.resolver = resolver
        self.limits = limits
    }

    /// RFC 7208 `check_host(<ip>, <domain>, <sender>)`, then the explanation of a `fail`.
    public func checkHost(_ request: SPFRequest) async -> SPFOutcome {
        await CheckHost(resolver: resolver, limits: limits, request: request).run()
    }

    /// Checks the MAIL FROM identity (RFC 7208 §2.4): the domain of `sender`; for the null
    /// sender (`""` or `"<>"`), the HELO identity with sender `postmaster@<helo>`. Angle
    /// brackets around `sender` are removed.
    public func evaluateMailFrom(
        ip: IPAddress, sender: String, helo: String, receiver: String = "unknown", timestamp: Int64 = 0
    ) async -> SPFOutcome {
        var mailbox = Substring(sender)
        if mailbox.hasPrefix("<"), mailbox.hasSuffix(">"), mailbox.count >= 2 { mailbox = mailbox.dropFirst().dropLast() }
        guard !mailbox.isEmpty else {
            return await evaluateHelo(ip: ip, helo: helo, receiver: receiver, timestamp: timestamp)
        }
        let domain = mailbox.lastIndex(of: "@").map { String(mailbox[mailbox.index(after: $0)...]) } ?? String(mailbox)
        return await checkHost(
            SPFRequest(
                ip: ip, sender: String(mailbox), helo: helo, domain: domain, receiver: receiver, timestamp: timestamp))
    }

    /// Checks the HELO identity (RFC 7208 §2.3): `<domain>` is the HELO name and `<sender>` is
    /// `postmaster@<helo>`. An address literal (`[192.0.2.1]`) or a single-label name gives `none`.
    public func evaluateHelo(ip: IPAddress, helo: String, receiver: String = "unknown", timestamp: Int64 = 0) async
        -> SPFOutcome
    {
        await checkHost(
            SPFRequest(
                ip: ip, sender: "postmaster@" + helo, helo: helo, domain: helo, receiver: receiver,
                timestamp: timestamp))
    }
}
