import PolicyCore
import PolicyEngine

/// Refuses a HELO/EHLO argument that is neither a domain name nor an address literal (empty,
/// or garbage such as `!!!`). Unqualified names such as `vm` pass: that is policy, not syntax.
///
/// - Stage: ``Stage/helo``
/// - Replies: ``SMTPReply/heloInvalid``
/// - Docs: docs/checks/syntax.md
public struct HeloSyntaxCheck: Check {
    public let name: String
    public let stage = Stage.helo
    public let reply: SMTPReply

    public init(name: String = "helo_syntax", reply: SMTPReply = .heloInvalid) {
        self.name = name
        self.reply = reply
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let helo = tx.helo else { return .dunno }
        if DomainName.isValid(helo) || DomainName.isAddressLiteral(helo) { return .dunno }
        return .reject(reply, because: "HELO \"\(LogSafe.escape(helo))\" is not a domain name or address literal")
    }
}

/// Refuses a MAIL FROM or RCPT TO path that cannot be parsed: NUL or control bytes, invalid
/// UTF-8, no domain, unbalanced brackets.
///
/// - Stage: ``Stage/mail`` or ``Stage/rcpt``
/// - Replies: ``SMTPReply/senderInvalid`` / ``SMTPReply/recipientInvalid``
/// - Docs: docs/checks/syntax.md
public struct AddressSyntaxCheck: Check {
    public let name: String
    public let role: AddressListCheck.Role
    public let reply: SMTPReply
    public var stage: Stage { role == .sender ? .mail : .rcpt }

    public init(name: String, role: AddressListCheck.Role, reply: SMTPReply? = nil) {
        self.name = name
        self.role = role
        self.reply = reply ?? (role == .sender ? .senderInvalid : .recipientInvalid)
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let path = role == .sender ? tx.sender : tx.currentRecipient, path.isMalformed else { return .dunno }
        return .reject(reply, because: "\(role.rawValue) \(path.description) is not a valid address")
    }
}
