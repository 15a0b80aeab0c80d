/// An IPv4 or IPv6 address, parsed without the C library so the core stays pure.
///
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are folded to IPv4 when parsed, because a
/// dual-stack listener hands IPv4 clients to the MTA in that form and lists are written in IPv4.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt128)

    /// Parses `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`, `IPv6:2001:db8::1` (the form Postfix
    /// puts in `{client_addr}`) and IPv4-mapped IPv6. Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        var s = Substring(text)
        if s.hasPrefix("["), s.hasSuffix("]") { s = s.dropFirst().dropLast() }
        if s.count > 5, s.prefix(5).lowercased() == "ipv6:" { s = s.dropFirst(5) }
        if let v4 = IPAddress.parseIPv4(s) {
            self = .v4(v4)
        } else if let v6 = IPAddress.parseIPv6(s) {
            self = IPAddress(v6: v6)
        } else {
            return nil
        }
    }

    /// Builds an address from 16 network-order bytes, folding IPv4-mapped addresses.
    public init(v6 value: UInt128) {
        if value >> 32 == 0xFFFF { self = .v4(UInt32(truncatingIfNeeded: value)) } else { self = .v6(value) }
    }

    public var isIPv4: Bool { if case .v4 = self { return true } else { return false } }

    /// Bit width of the address family: 32 or 128.
    public var bitWidth: Int { isIPv4 ? 32 : 128 }

    public var description: String {
        switch self {
        case .v4(let v):
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        case .v6(let v):
            return IPAddress.formatIPv6(v)
        }
    }

    static func parseIPv4(_ s: Substring) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            // Leading zeros are refused: "010" is octal to inet_aton and decimal to us.
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                part.count == 1 || part.first != "0", let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseIPv6(_ s: Substring) -> UInt128? {
        guard s.count >= 2, s.count <= 45 else { return nil }
        var groups: [UInt16] = []
        var gap: Int? = nil
        var rest = s
        if rest.hasPrefix("::") {
            gap = 0
            rest = rest.dropFirst(2)
            if rest.isEmpty { return 0 }
        }
        var fields = rest.split(separator: ":", omittingEmptySubsequences: false)
        if rest.hasSuffix("::") {
            guard gap == nil else { return nil }
            fields.removeLast(2)
            gap = -1  // resolved below: at the end
        }
        for (index, field) in fields.enumerated() {
            if field.isEmpty {
                guard gap == nil else { return nil }
                gap = groups.count
                continue
            }
            if field.contains(".") {
                guard index == fields.count - 1, let v4 = parseIPv4(field) else { return nil }
                groups.append(UInt16(v4 >> 16))
                groups.append(UInt16(v4 & 0xFFFF))
                continue
            }
            guard field.count <= 4, let g = UInt16(field, radix: 16) else { return nil }
            groups.append(g)
        }
        if gap == -1 { gap = groups.count }
        if let gap {
            guard groups.count < 8 else { return nil }
            groups.insert(contentsOf: [UInt16](repeating: 0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        return groups.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    /// RFC 5952 text form: lower case, the longest run of two or more zero groups as `::`.
    static func formatIPv6(_ v: UInt128) -> String {
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: v >> (UInt128(7 - $0) * 16)) }
        var bestStart = -1
        var bestLength = 1
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8, groups[end] == 0 { end += 1 }
            if end - index > bestLength {
                bestStart = index
                bestLength = end - index
            }
            index = end
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestStart >= 0 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}
