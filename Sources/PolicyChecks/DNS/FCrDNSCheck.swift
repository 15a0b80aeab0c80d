import PolicyCore
import PolicyEngine

/// Forward-confirmed reverse DNS of the client (IPv4 and IPv6): the PTR names of its address,
/// then the A/AAAA records of those names must contain the address. The outcomes are kept
/// apart: no PTR, PTR not confirmed, and temporary failure (thrown: `on_error`).
///
/// - Stage: ``Stage/connect``
/// - Replies: ``SMTPReply/reverseDNSMissing`` (tempfail), or its 5xx form when set to reject
/// - On error: DNS timeout or SERVFAIL → the check's `on_error` (default continue)
/// - Notes: `client_name` = the confirmed name, for later checks and the log
/// - Docs: docs/checks/fcrdns.md
public struct FCrDNSCheck: Check {
    /// What to do for one outcome.
    public enum Action: String, Sendable, CaseIterable {
        case `continue`
        case tempfail
        case reject
    }

    public let name = "fcrdns"
    public let stage = Stage.connect
    public let resolver: any DNSResolver
    public let noPTR: Action
    public let unconfirmed: Action
    public let generic: Action
    public let genericPatterns: PatternList
    public let reply: SMTPReply
    public let rejectReply: SMTPReply

    /// At most this many PTR names are tried (as SPF's PTR limit, RFC 7208 §4.6.4).
    public static let maxNames = 10

    public init(
        resolver: any DNSResolver, noPTR: Action = .tempfail, unconfirmed: Action = .tempfail,
        generic: Action = .continue, genericPatterns: PatternList = PatternList(),
        reply: SMTPReply = .reverseDNSMissing,
        rejectReply: SMTPReply = SMTPReply(550, "5.7.25", "Bad reverse DNS: {ip} has no forward-confirmed host name")
    ) {
        self.resolver = resolver
        self.noPTR = noPTR
        self.unconfirmed = unconfirmed
        self.generic = generic
        self.genericPatterns = genericPatterns
        self.reply = reply
        self.rejectReply = rejectReply
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let address = tx.client.address else { return .dunno }
        let names = Array(try await resolver.query(DNSName.reverse(address), .ptr).names.prefix(Self.maxNames))
        guard !names.isEmpty else { return verdict(noPTR, because: "\(address) has no PTR record") }

        let type: DNSRecordType = address.isIPv4 ? .a : .aaaa
        var firstError: DNSError? = nil
        for name in names {
            do {
                if try await resolver.query(name, type).addresses.contains(address) {
                    if let pattern = genericPatterns.firstMatch(in: name.text), generic != .continue {
                        return verdict(generic, because: "\(name) (confirmed) looks generic: \(pattern)")
                    }
                    return .note("client_name", name.text)
                }
            } catch {
                firstError = firstError ?? error
            }
        }
        // A name we could not check might have confirmed: that is a temporary failure.
        if let firstError { throw firstError }
        let shown = names.map(\.text).joined(separator: ",")
        return verdict(unconfirmed, because: "PTR \(shown) of \(address) does not resolve back to it")
    }

    private func verdict(_ action: Action, because: String) -> Verdict {
        switch action {
        case .continue: return .dunno
        case .tempfail: return .reject(reply, because: because)
        case .reject: return .reject(rejectReply, because: because)
        }
    }
}
