import PolicyCore
import PolicyEngine

/// The MAIL FROM domain must be able to receive mail: it has MX records, or else A/AAAA
/// (RFC 5321 §5.1 implicit MX). A null MX (RFC 7505) is refused with its own reply.
///
/// - Stage: ``Stage/mail``
/// - Replies: ``SMTPReply/senderDomainNoMX``, ``SMTPReply/senderNullMX``
/// - On error: DNS timeout or SERVFAIL → `on_error`
/// - Docs: docs/checks/sender-domain.md
public struct SenderDomainCheck: Check {
    public let name = "sender_domain"
    public let stage = Stage.mail
    public let resolver: any DNSResolver
    public let reply: SMTPReply
    public let nullMXReply: SMTPReply

    public init(resolver: any DNSResolver, reply: SMTPReply = .senderDomainNoMX, nullMXReply: SMTPReply = .senderNullMX) {
        self.resolver = resolver
        self.reply = reply
        self.nullMXReply = nullMXReply
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        // The null sender and address literals have no domain to look up.
        guard let mailbox = tx.sender?.mailbox, !DomainName.isAddressLiteral(mailbox.domain),
            let domain = DNSName(mailbox.domain)
        else { return .dunno }
        switch try await resolver.query(domain, .mx) {
        case .records(let records):
            let mx = records.compactMap { if case .mx(let m) = $0 { return m } else { return nil } }
            if mx.contains(where: \.isNull) {
                return .reject(nullMXReply, because: "\(domain) publishes a null MX (RFC 7505)")
            }
            if !mx.isEmpty { return .dunno }
        case .noSuchName:
            return .reject(reply, because: "\(domain) does not exist")
        case .noData:
            break
        }
        async let v4 = resolver.query(domain, .a)
        async let v6 = resolver.query(domain, .aaaa)
        let (a, aaaa) = try await (v4, v6)
        if !a.addresses.isEmpty || !aaaa.addresses.isEmpty { return .dunno }
        return .reject(reply, because: "\(domain) has no MX and no A/AAAA record")
    }
}
