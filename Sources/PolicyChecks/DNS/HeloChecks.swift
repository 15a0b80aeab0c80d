import PolicyCore
import PolicyEngine

/// Refuses a HELO that claims to be us: one of our host names or domains, or one of our
/// addresses (as `[192.0.2.10]` or bare). Clients connecting from one of our own addresses
/// are exempt: that is us.
///
/// - Stage: ``Stage/helo``
/// - Replies: ``SMTPReply/heloDenied``
/// - Docs: docs/checks/helo.md
public struct HeloOursCheck: Check {
    public let name = "helo_ours"
    public let stage = Stage.helo
    public let names: NameMatcher
    public let addresses: NetworkSet
    public let reply: SMTPReply

    public init(names: NameMatcher, addresses: NetworkSet, reply: SMTPReply = .heloDenied) {
        self.names = names
        self.addresses = addresses
        self.reply = reply
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let helo = tx.helo, !helo.isEmpty else { return .dunno }
        if let client = tx.client.address, addresses.firstMatch(client) != nil { return .dunno }
        if let address = IPAddress(helo), let ours = addresses.firstMatch(address) {
            return .reject(reply, because: "HELO \(LogSafe.escape(helo)) claims our address \(ours.address)")
        }
        if let entry = names.firstMatch(helo) {
            return .reject(reply, because: "HELO \(LogSafe.escape(helo)) claims our name \(entry)")
        }
        return .dunno
    }
}

/// Refuses a HELO address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`) that is not the
/// client's own address.
///
/// - Stage: ``Stage/helo``
/// - Replies: ``SMTPReply/heloMismatch``
/// - Docs: docs/checks/helo.md
public struct HeloLiteralCheck: Check {
    public let name = "helo_literal"
    public let stage = Stage.helo
    public let reply: SMTPReply

    public init(reply: SMTPReply = .heloMismatch) { self.reply = reply }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let helo = tx.helo, DomainName.isAddressLiteral(helo), let literal = IPAddress(helo),
            let client = tx.client.address, literal != client
        else { return .dunno }
        return .reject(reply, because: "HELO literal \(helo) is not the client address \(client)")
    }
}

/// Refuses a HELO name that is not fully qualified (no dot), unless it is an address literal.
///
/// - Stage: ``Stage/helo``
/// - Replies: ``SMTPReply/heloInvalid``
/// - Docs: docs/checks/helo.md
public struct HeloFQDNCheck: Check {
    public let name = "helo_fqdn"
    public let stage = Stage.helo
    public let reply: SMTPReply

    public init(reply: SMTPReply = .heloInvalid) { self.reply = reply }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let helo = tx.helo, !DomainName.isAddressLiteral(helo) else { return .dunno }
        var name = Substring(helo)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.contains(".") else { return .dunno }
        return .reject(reply, because: "HELO \(LogSafe.escape(helo)) is not a fully qualified domain name")
    }
}

/// Refuses a HELO name whose A (IPv4 client) or AAAA (IPv6 client) records do not contain the
/// client address. Address literals are left to ``HeloLiteralCheck``.
///
/// - Stage: ``Stage/helo``
/// - Replies: ``SMTPReply/heloMismatch``
/// - On error: DNS timeout or SERVFAIL → `on_error`
/// - Docs: docs/checks/helo.md
public struct HeloAddressCheck: Check {
    public let name = "helo_address"
    public let stage = Stage.helo
    public let resolver: any DNSResolver
    public let reply: SMTPReply

    public init(resolver: any DNSResolver, reply: SMTPReply = .heloMismatch) {
        self.resolver = resolver
        self.reply = reply
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let helo = tx.helo, !DomainName.isAddressLiteral(helo), let client = tx.client.address else {
            return .dunno
        }
        guard let name = DNSName(helo) else {
            return .reject(reply, because: "HELO \(LogSafe.escape(helo)) cannot be looked up")
        }
        let answer = try await resolver.query(name, client.isIPv4 ? .a : .aaaa)
        if answer.addresses.contains(client) { return .dunno }
        return .reject(reply, because: "HELO \(name) resolves to \(answer), not to \(client)")
    }
}
