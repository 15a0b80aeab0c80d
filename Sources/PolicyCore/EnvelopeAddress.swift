/// A mailbox `local-part@domain` (RFC 5321 §4.1.2). The domain is kept in lower case; the local
/// part as sent, because only the receiving domain may interpret it.
public struct Mailbox: Sendable, Hashable, CustomStringConvertible {
    public let localPart: String
    /// Lower-cased domain or address literal; empty only for the bare `<postmaster>` recipient.
    public let domain: String

    public init(localPart: String, domain: String) {
        self.localPart = localPart
        self.domain = domain.lowercased()
    }

    public var description: String { domain.isEmpty ? localPart : "\(localPart)@\(domain)" }

    /// Lower-cased address, the form lists match against.
    public var normalized: String { description.lowercased() }
}

/// A reverse-path (MAIL FROM) or forward-path (RCPT TO) as received from the MTA.
///
/// Built from raw bytes, because the MTA may hand over SMTPUTF8, 8-bit garbage or NUL bytes
/// (a milter client need not be a well-behaved MTA). Malformed input is a value, never a trap.
public enum EnvelopeAddress: Sendable, Hashable, CustomStringConvertible {
    /// The null reverse-path `<>` (bounces, RFC 5321 §4.5.5).
    case null
    case mailbox(Mailbox)
    /// Not a valid path. `printable` is the input with unprintable bytes escaped, for logs only.
    case malformed(printable: String)

    /// Parses the first argument of MAIL FROM or RCPT TO, with or without angle brackets.
    public init(raw bytes: some Collection<UInt8>) {
        let bytes = Array(bytes)
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }),
            let text = String(validating: bytes, as: UTF8.self)
        else {
            self = .malformed(printable: LogSafe.escape(bytes))
            return
        }
        self = EnvelopeAddress.parse(text)
    }

    public init(_ text: String) { self.init(raw: Array(text.utf8)) }

    private static func parse(_ text: String) -> EnvelopeAddress {
        var path = Substring(text).trimmingSpaces()
        if path.hasPrefix("<") {
            guard path.hasSuffix(">"), path.count >= 2 else { return .malformed(printable: text) }
            path = path.dropFirst().dropLast()
        }
        if path.isEmpty { return .null }
        // A source route (`@a,@b:user@d`, RFC 5321 §4.1.2 obsolete syntax) is ignored.
        if path.hasPrefix("@"), let colon = path.firstIndex(of: ":") { path = path[path.index(after: colon)...] }
        guard path.utf8.count <= 512, !path.contains(" ") || path.hasPrefix("\""),
            !path.contains("<"), !path.contains(">")
        else { return .malformed(printable: text) }
        guard let at = path.lastIndex(of: "@") else {
            // RCPT TO:<postmaster> needs no domain (RFC 5321 §4.5.1).
            if path.lowercased() == "postmaster" { return .mailbox(Mailbox(localPart: String(path), domain: "")) }
            return .malformed(printable: text)
        }
        let local = path[..<at]
        let domain = path[path.index(after: at)...]
        guard !local.isEmpty, local.utf8.count <= 256, DomainName.isValid(domain) || DomainName.isAddressLiteral(domain)
        else { return .malformed(printable: text) }
        return .mailbox(Mailbox(localPart: String(local), domain: String(domain)))
    }

    public var mailbox: Mailbox? { if case .mailbox(let m) = self { return m } else { return nil } }
    public var isNull: Bool { self == .null }
    public var isMalformed: Bool { if case .malformed = self { return true } else { return false } }

    /// The path in angle brackets, as Postfix logs it: `<user@example.com>`, `<>`.
    public var description: String {
        switch self {
        case .null: return "<>"
        case .mailbox(let m): return "<\(m)>"
        case .malformed(let printable): return printable
        }
    }

    /// The address without brackets, for reply templates: `user@example.com`, or `<>`.
    public var bare: String {
        switch self {
        case .null: return "<>"
        case .mailbox(let m): return m.description
        case .malformed(let printable): return printable
        }
    }
}

/// Domain-name syntax (RFC 1035 §2.3.1 with RFC 1123 §2.1 digits, and U-labels allowed for
/// SMTPUTF8). Unqualified names are valid here: policy decides whether they are acceptable.
public enum DomainName {
    public static func isValid(_ name: some StringProtocol) -> Bool {
        var name = Substring(name)
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.utf8.count <= 63, label.first != "-", label.last != "-" else { return false }
            for scalar in label.unicodeScalars {
                let asciiAlphanumeric = ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
                    || ("0"..."9").contains(scalar)
                guard scalar.value >= 0x80 || asciiAlphanumeric || scalar == "-" || scalar == "_" else { return false }
            }
        }
        return true
    }

    /// `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3).
    public static func isAddressLiteral(_ text: some StringProtocol) -> Bool {
        guard text.hasPrefix("["), text.hasSuffix("]") else { return false }
        let inner = Substring(text).dropFirst().dropLast()
        if inner.lowercased().hasPrefix("ipv6:") { return IPAddress.parseIPv6(inner.dropFirst(5)) != nil }
        return IPAddress.parseIPv4(inner) != nil
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
