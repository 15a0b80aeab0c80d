/// A domain name fit for a DNS query: ASCII (A-labels), labels of 1 to 63 bytes, at most 253
/// bytes in text form (255 on the wire), stored in lower case without the trailing dot.
/// Anything else is refused at construction, so no malformed name ever reaches a resolver.
public struct DNSName: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let text: String

    public init?(_ raw: some StringProtocol) {
        var name = Substring(raw.lowercased())
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return nil }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.utf8.count <= 63,
                label.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") })
            else { return nil }
        }
        text = String(name)
    }

    /// Like ``init(_:)``, but also accepts the space (0x20) inside a label. For SPF only:
    /// RFC 7208 §7.3 defines `%_` to expand to a space in the names an SPF record looks up, and
    /// RFC 2181 §11 allows any octet in a label. Everything else ``init(_:)`` refuses (control
    /// bytes, DEL, non-ASCII, backslashes, long labels and names) stays refused, so the name is
    /// still safe to hand to libunbound, which copies a space as an ordinary byte.
    public init?(permittingSpaces raw: some StringProtocol) {
        var name = Substring(raw.lowercased())
        if name.hasSuffix(".") { name = name.dropLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return nil }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.utf8.count <= 63,
                label.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") })
            else { return nil }
        }
        text = String(name)
    }

    public var description: String { text }

    public var labels: [Substring] { text.split(separator: ".") }

    /// `label.zone`, or nil if the result would be too long.
    public func prepending(_ prefix: String) -> DNSName? { DNSName(prefix + "." + text) }

    /// True for `a.b.example.com` below `example.com`, and for the name itself.
    public func isSubdomain(of other: DNSName) -> Bool {
        text == other.text || text.hasSuffix("." + other.text)
    }

    /// The reverse-lookup labels of an address: `1.2.0.192` for 192.0.2.1, 32 nibbles for IPv6
    /// (RFC 1035 §3.5, RFC 3596 §2.5), as used under `in-addr.arpa`, `ip6.arpa` and DNSBL zones.
    public static func reversedLabels(_ address: IPAddress) -> String {
        switch address {
        case .v4(let v):
            return "\(v & 0xFF).\((v >> 8) & 0xFF).\((v >> 16) & 0xFF).\(v >> 24)"
        case .v6(let v):
            let digits = Array("0123456789abcdef")
            return (0..<32).map { String(digits[Int((v >> (UInt128($0) * 4)) & 0xF)]) }.joined(separator: ".")
        }
    }

    /// The PTR query name of an address.
    public static func reverse(_ address: IPAddress) -> DNSName {
        // Always valid: 4 or 32 short labels plus a fixed suffix.
        DNSName(reversedLabels(address) + (address.isIPv4 ? ".in-addr.arpa" : ".ip6.arpa"))!
    }

    public static func < (lhs: DNSName, rhs: DNSName) -> Bool { lhs.text < rhs.text }
}

/// The record types the checks query.
public enum DNSRecordType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case a = "A"
    case aaaa = "AAAA"
    case txt = "TXT"
    case mx = "MX"
    case ptr = "PTR"

    public var description: String { rawValue }
}

/// An MX record. `exchange` is nil for the null MX `0 .` (RFC 7505).
public struct MXRecord: Sendable, Hashable {
    public let preference: UInt16
    public let exchange: DNSName?

    public init(preference: UInt16, exchange: DNSName?) {
        self.preference = preference
        self.exchange = exchange
    }

    /// RFC 7505 §3: a single MX with preference 0 and exchange ".".
    public var isNull: Bool { exchange == nil }
}

/// One resource record of an answer.
public enum DNSRecord: Sendable, Hashable, CustomStringConvertible {
    case address(IPAddress)
    case text(String)
    case mx(MXRecord)
    case name(DNSName)

    public var description: String {
        switch self {
        case .address(let a): return a.description
        case .text(let t): return "\"\(LogSafe.escape(t))\""
        case .mx(let m): return "\(m.preference) \(m.exchange?.text ?? ".")"
        case .name(let n): return n.text
        }
    }
}

/// What a query found. "No such name" and "no data" are answers, not errors (Postfix dns.h):
/// a check decides what they mean. SPF counts both as void lookups.
public enum DNSAnswer: Sendable, Hashable, CustomStringConvertible {
    case records([DNSRecord])
    case noSuchName
    case noData

    public var records: [DNSRecord] { if case .records(let r) = self { return r } else { return [] } }

    public var addresses: [IPAddress] {
        records.compactMap { if case .address(let a) = $0 { return a } else { return nil } }
    }
    public var texts: [String] { records.compactMap { if case .text(let t) = $0 { return t } else { return nil } } }
    public var names: [DNSName] { records.compactMap { if case .name(let n) = $0 { return n } else { return nil } } }
    public var mxRecords: [MXRecord] { records.compactMap { if case .mx(let m) = $0 { return m } else { return nil } } }

    public var description: String {
        switch self {
        case .records(let r): return r.map(\.description).joined(separator: ", ")
        case .noSuchName: return "NXDOMAIN"
        case .noData: return "NODATA"
        }
    }
}

/// Why a query has no answer. Each goes to the asking check's `on_error`; none is ever taken as
/// "listed" or "not found".
public enum DNSError: Error, Sendable, Hashable, CustomStringConvertible {
    case timeout(name: String, type: DNSRecordType)
    case serverFailure(name: String, type: DNSRecordType)
    case refused(name: String, type: DNSRecordType)
    case malformedAnswer(name: String, type: DNSRecordType)
    /// The resolver itself is not usable (failed to start, shut down).
    case unavailable(String)

    public var description: String {
        switch self {
        case .timeout(let n, let t): return "DNS timeout for \(n)/\(t)"
        case .serverFailure(let n, let t): return "DNS server failure (SERVFAIL) for \(n)/\(t)"
        case .refused(let n, let t): return "DNS query refused for \(n)/\(t)"
        case .malformedAnswer(let n, let t): return "malformed DNS answer for \(n)/\(t)"
        case .unavailable(let why): return "DNS resolver unavailable: \(why)"
        }
    }
}

/// Asks the DNS. Implementations: the libunbound resolver (production), `FakeZone` (tests).
///
/// Contract: returns within the implementation's per-query timeout (throwing `.timeout`),
/// never blocks a thread of the Swift cooperative pool, and honours task cancellation.
public protocol DNSResolver: Sendable {
    func query(_ name: DNSName, _ type: DNSRecordType) async throws(DNSError) -> DNSAnswer
}
