import PolicyCore

/// Decodes the rdata of one resource record as libunbound hands it over: network order, and
/// names uncompressed (unbound expands compression pointers before filling `ub_result.data`).
/// Anything that does not fit the type exactly is nil, which makes the whole answer malformed.
enum RecordData {
    /// A name in rdata: the root (`.`, the null MX of RFC 7505) or a usable name.
    enum WireName: Equatable {
        case root
        case name(DNSName)
    }

    static func decode(_ type: DNSRecordType, _ rdata: ArraySlice<UInt8>) -> DNSRecord? {
        switch type {
        case .a:
            // RFC 1035 §3.4.1: exactly 4 bytes.
            guard rdata.count == 4 else { return nil }
            let value = rdata.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return .address(.v4(value))
        case .aaaa:
            // RFC 3596 §2.2: exactly 16 bytes.
            guard rdata.count == 16 else { return nil }
            let value = rdata.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
            return .address(IPAddress(v6: value))
        case .txt:
            return text(rdata).map { .text($0) }
        case .mx:
            // RFC 1035 §3.3.9: 16-bit preference, then the exchange; RFC 7505: "." is the null MX.
            guard rdata.count >= 3 else { return nil }
            let preference = UInt16(rdata[rdata.startIndex]) << 8 | UInt16(rdata[rdata.startIndex + 1])
            switch name(rdata.dropFirst(2)) {
            case .root: return .mx(MXRecord(preference: preference, exchange: nil))
            case .name(let exchange): return .mx(MXRecord(preference: preference, exchange: exchange))
            case nil: return nil
            }
        case .ptr:
            // RFC 1035 §3.3.12. A PTR to the root names nothing: malformed.
            guard case .name(let target) = name(rdata) else { return nil }
            return .name(target)
        }
    }

    /// RFC 1035 §3.3.14: one or more <character-string>s (a length byte, then that many bytes),
    /// concatenated as RFC 7208 §3.3 does for SPF, and decoded as UTF-8 with U+FFFD for bad bytes.
    /// The bytes are joined before decoding, so a character split across two strings survives.
    static func text(_ rdata: ArraySlice<UInt8>) -> String? {
        guard !rdata.isEmpty else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(rdata.count)
        var index = rdata.startIndex
        while index < rdata.endIndex {
            let length = Int(rdata[index])
            index += 1
            guard rdata.endIndex - index >= length else { return nil }
            bytes.append(contentsOf: rdata[index..<index + length])
            index += length
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An uncompressed wire-format name (RFC 1035 §3.1) that fills `bytes` exactly. Labels must
    /// be what `DNSName` accepts (printable ASCII, no `.` or `\` inside a label), else nil: a name
    /// that cannot be written back as text is of no use to a check.
    static func name(_ bytes: ArraySlice<UInt8>) -> WireName? {
        var labels: [String] = []
        var index = bytes.startIndex
        while true {
            guard index < bytes.endIndex else { return nil }  // no terminating root label
            let length = Int(bytes[index])
            index += 1
            if length == 0 { break }
            // Compression pointers (0xC0) and the obsolete label types are > 63.
            guard length <= 63, bytes.endIndex - index >= length else { return nil }
            let label = bytes[index..<index + length]
            guard label.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "\\") })
            else { return nil }
            labels.append(String(decoding: label, as: UTF8.self))
            index += length
        }
        guard index == bytes.endIndex else { return nil }
        if labels.isEmpty { return .root }
        return DNSName(labels.joined(separator: ".")).map { .name($0) }
    }
}
