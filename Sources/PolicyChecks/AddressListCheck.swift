import PolicyCore
import PolicyEngine

/// Envelope sender or recipient allow or deny list.
///
/// - Stage: ``Stage/mail`` (sender) or ``Stage/rcpt`` (recipient)
/// - Replies: deny: ``SMTPReply/senderDenied`` / ``SMTPReply/recipientDenied`` unless configured
/// - On error: cannot fail
/// - Docs: docs/checks/lists.md
public struct AddressListCheck: Check {
    public enum Role: String, Sendable {
        case sender
        case recipient
    }

    public let name: String
    public let role: Role
    public let kind: ListKind
    public let reply: SMTPReply
    private let addresses: AddressMatcher

    public var stage: Stage { role == .sender ? .mail : .rcpt }

    public init(name: String, role: Role, kind: ListKind, addresses: AddressMatcher, reply: SMTPReply? = nil) {
        self.name = name
        self.role = role
        self.kind = kind
        self.addresses = addresses
        self.reply = reply ?? (role == .sender ? .senderDenied : .recipientDenied)
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let path = role == .sender ? tx.sender : tx.currentRecipient, let entry = addresses.firstMatch(path)
        else { return .dunno }
        let because = "\(role.rawValue) \(LogSafe.escape(path.description)) matches \(entry)"
        return kind == .allow ? .accept(because: because) : .reject(reply, because: because)
    }
}

/// Address matching, case-insensitive:
/// `user@example.com` (that address), `@example.com` or `example.com` (any address at that
/// domain), `.example.com` (any address at a subdomain), `user@` (that local part at any
/// domain), `<>` (the null sender), `/regex/` (anywhere in `local@domain`).
public struct AddressMatcher: ListMatcher {
    private var addresses: Set<String> = []
    private var domains: Set<String> = []
    private var suffixes: Set<String> = []
    private var localParts: Set<String> = []
    private var matchesNull = false
    private var patterns = PatternList()

    public init() {}

    public mutating func add(_ entry: String) throws(ListEntryError) {
        if entry == "<>" {
            matchesNull = true
            return
        }
        if try patterns.add(entry) { return }
        let lower = entry.lowercased()
        if lower.hasPrefix(".") {
            guard DomainName.isValid(lower.dropFirst()) else {
                throw ListEntryError(entry: entry, problem: "not a domain name after the leading dot")
            }
            suffixes.insert(String(lower.dropFirst()))
        } else if lower.hasPrefix("@") {
            guard DomainName.isValid(lower.dropFirst()) || DomainName.isAddressLiteral(lower.dropFirst()) else {
                throw ListEntryError(entry: entry, problem: "not a domain name after @")
            }
            domains.insert(String(lower.dropFirst()))
        } else if lower.hasSuffix("@") {
            guard lower.count > 1, !lower.dropLast().contains("@") else {
                throw ListEntryError(entry: entry, problem: "not a local part before @")
            }
            localParts.insert(String(lower.dropLast()))
        } else if lower.contains("@") {
            guard case .mailbox(let mailbox) = EnvelopeAddress(lower) else {
                throw ListEntryError(entry: entry, problem: "not a valid mail address")
            }
            addresses.insert(mailbox.normalized)
        } else {
            guard DomainName.isValid(lower) else {
                throw ListEntryError(
                    entry: entry, problem: "not an address, @domain, .domain, user@, <> or /regex/")
            }
            domains.insert(lower)
        }
    }

    public func firstMatch(_ path: EnvelopeAddress) -> String? {
        switch path {
        case .null:
            return matchesNull ? "<>" : nil
        case .malformed:
            return nil
        case .mailbox(let mailbox):
            let address = mailbox.normalized
            if addresses.contains(address) { return address }
            let domain = mailbox.domain
            if domains.contains(domain) { return "@" + domain }
            if !suffixes.isEmpty {
                var rest = Substring(domain)
                while let dot = rest.firstIndex(of: ".") {
                    rest = rest[rest.index(after: dot)...]
                    if suffixes.contains(String(rest)) { return "." + rest }
                }
            }
            let local = mailbox.localPart.lowercased()
            if localParts.contains(local) { return local + "@" }
            return patterns.firstMatch(in: address)
        }
    }
}
