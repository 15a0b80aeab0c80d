import PolicyCore

/// A parsed `v=spf1` record (RFC 7208 §4.6, §12): its directives in order and its modifiers.
/// Parsing checks the whole record, so that a syntax error anywhere is a `permerror` whatever
/// the evaluation would have reached (§4.6).
struct SPFRecord: Sendable {
    /// `+`, `-`, `~`, `?` (§4.6.2).
    enum Qualifier: Sendable {
        case pass, fail, softfail, neutral

        var result: SPFResult {
            switch self {
            case .pass: return .pass
            case .fail: return .fail
            case .softfail: return .softfail
            case .neutral: return .neutral
            }
        }
    }

    /// The prefix lengths of `a` and `mx` (`dual-cidr-length`, §5.6).
    struct DualCIDR: Sendable, Hashable {
        var v4 = 32
        var v6 = 128

        func length(for address: IPAddress) -> Int { address.isIPv4 ? v4 : v6 }
    }

    /// The mechanisms of §5.
    enum Mechanism: Sendable {
        case all
        case include(MacroString)
        case a(MacroString?, DualCIDR)
        case mx(MacroString?, DualCIDR)
        case ptr(MacroString?)
        case ip4(IPNetwork)
        /// Kept as IPv6 even for an IPv4-mapped network, which therefore never matches: an
        /// IPv4 client (mapped or not) is matched by ip4 only (§5, ¶9).
        case ip6(IPNetwork)
        case exists(MacroString)

        /// Counts against ``SPFLimits/dnsTerms`` (§4.6.4).
        var queriesDNS: Bool {
            switch self {
            case .include, .a, .mx, .ptr, .exists: return true
            case .all, .ip4, .ip6: return false
            }
        }
    }

    struct Directive: Sendable {
        let qualifier: Qualifier
        let mechanism: Mechanism
        /// The term as written.
        let text: String
    }

    /// `redirect=` or `exp=`: the target and the term as written.
    struct Target: Sendable {
        let domainSpec: MacroString
        let text: String
    }

    let directives: [Directive]
    let redirect: Target?
    let explanation: Target?

    /// True for the record texts §4.5 selects: `v=spf1` (any case), then a space or the end.
    static func isSPFRecord(_ text: String) -> Bool {
        let bytes = text.utf8
        guard bytes.count >= 6 else { return false }
        let version = bytes.prefix(6).map { $0.isASCIIUppercase ? $0 | 0x20 : $0 }
        guard version.elementsEqual("v=spf1".utf8) else { return false }
        return bytes.count == 6 || bytes.dropFirst(6).first == UInt8(ascii: " ")
    }

    /// Parses a record that ``isSPFRecord(_:)`` selected.
    init(parsing text: String) throws(SPFSyntaxError) {
        let terms = Array(text.utf8).dropFirst(6).split(separator: UInt8(ascii: " "))
        var directives: [Directive] = []
        var redirect: Target? = nil
        var explanation: Target? = nil
        directives.reserveCapacity(terms.count)
        for term in terms {
            if let bad = term.first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
                throw SPFSyntaxError(
                    "term \"\(LogSafe.escape(term))\" contains byte \(hex(bad)): SPF records are printable 7-bit ASCII "
                        + "and terms are separated by spaces only (RFC 7208 §3, §4.6.1)")
            }
            let written = String(decoding: term, as: UTF8.self)
            if let equals = term.firstIndex(of: UInt8(ascii: "=")), SPFRecord.isModifierName(term[..<equals]) {
                let name = String(decoding: term[..<equals], as: UTF8.self).lowercased()
                let value = term[(equals + 1)...]
                switch name {
                case "redirect", "exp":
                    let spec: MacroString
                    do {
                        spec = try MacroString(domainSpec: value)
                    } catch {
                        throw SPFSyntaxError("\(written): \(error.description)")
                    }
                    let target = Target(domainSpec: spec, text: written)
                    if name == "redirect" {
                        guard redirect == nil else { throw SPFSyntaxError("redirect= appears twice (RFC 7208 §6)") }
                        redirect = target
                    } else {
                        guard explanation == nil else { throw SPFSyntaxError("exp= appears twice (RFC 7208 §6)") }
                        explanation = target
                    }
                default:
                    // Unknown modifiers are ignored (§6), but must be valid macro-strings (§A).
                    do {
                        _ = try MacroString(value, .modifierValue)
                    } catch {
                        throw SPFSyntaxError("modifier \(written): \(error.description)")
                    }
                }
                continue
            }
            directives.append(try SPFRecord.directive(term, written))
        }
        self.directives = directives
        self.redirect = redirect
        self.explanation = explanation
    }

    /// name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) (§12).
    static func isModifierName(_ name: ArraySlice<UInt8>) -> Bool {
        guard let first = name.first, first.isASCIILetter else { return false }
        return name.allSatisfy {
            $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
    }

    private static func directive(_ term: ArraySlice<UInt8>, _ written: String) throws(SPFSyntaxError) -> Directive {
        var rest = term
        var qualifier = Qualifier.pass
        switch rest.first {
        case UInt8(ascii: "+"): rest.removeFirst()
        case UInt8(ascii: "-"): qualifier = .fail; rest.removeFirst()
        case UInt8(ascii: "~"): qualifier = .softfail; rest.removeFirst()
        case UInt8(ascii: "?"): qualifier = .neutral; rest.removeFirst()
        default: break
        }
        let nameEnd = rest.firstIndex { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "/") } ?? rest.endIndex
        let name = String(decoding: rest[..<nameEnd], as: UTF8.self).lowercased()
        let argument = rest[nameEnd...]
        func fail(_ why: String) -> SPFSyntaxError { SPFSyntaxError("\(written): \(why)") }
        /// The domain-spec after ":", required.
        func requiredSpec(_ section: String) throws(SPFSyntaxError) -> MacroString {
            guard argument.first == UInt8(ascii: ":") else {
                throw fail("\(name) needs \":domain-spec\" (RFC 7208 \(section))")
            }
            do {
                return try MacroString(domainSpec: argument.dropFirst())
            } catch {
                throw fail(error.description)
            }
        }
        let mechanism: Mechanism
        switch name {
        case "all":
            guard argument.isEmpty else { throw fail("all takes no argument (RFC 7208 §5.1)") }
            mechanism = .all
        case "include":
            mechanism = .include(try requiredSpec("§5.2"))
        case "exists":
            mechanism = .exists(try requiredSpec("§5.7"))
        case "a", "mx":
            let (spec, cidr) = try specAndCIDR(argument, fail)
            mechanism = name == "a" ? .a(spec, cidr) : .mx(spec, cidr)
        case "ptr":
            if argument.isEmpty {
                mechanism = .ptr(nil)
            } else {
                mechanism = .ptr(try requiredSpec("§5.5"))
            }
        case "ip4", "ip6":
            mechanism = try network(argument, v6: name == "ip6", fail)
        default:
            throw fail("unknown mechanism \"\(LogSafe.escape(name))\" (RFC 7208 §5)")
        }
        return Directive(qualifier: qualifier, mechanism: mechanism, text: written)
    }

    /// `[ ":" domain-spec ] [ dual-cidr-length ]` of `a` and `mx` (§5.3, §5.4).
    private static func specAndCIDR(_ argument: ArraySlice<UInt8>, _ fail: (String) -> SPFSyntaxError)
        throws(SPFSyntaxError) -> (MacroString?, DualCIDR)
    {
        var rest = argument
        var cidr = DualCIDR()
        // dual-cidr-length = [ "/" ip4-cidr-length ] [ "//" ip6-cidr-length ], at the very end.
        if let (digits, start) = trailingDigits(rest, after: "//") {
            guard let length = cidrLength(digits, max: 128) else { throw fail("invalid IPv6 prefix length (RFC 7208 §5.6)") }
            cidr.v6 = length
            rest = rest[..<start]
        }
        if let (digits, start) = trailingDigits(rest, after: "/") {
            guard let length = cidrLength(digits, max: 32) else { throw fail("invalid IPv4 prefix length (RFC 7208 §5.6)") }
            cidr.v4 = length
            rest = rest[..<start]
        }
        if rest.isEmpty { return (nil, cidr) }
        guard rest.first == UInt8(ascii: ":") else { throw fail("malformed prefix length (RFC 7208 §5.6)") }
        do {
            return (try MacroString(domainSpec: rest.dropFirst()), cidr)
        } catch {
            throw fail(error.description)
        }
    }

    /// The digits at the end of `bytes` when `separator` precedes them, and where the separator starts.
    private static func trailingDigits(_ bytes: ArraySlice<UInt8>, after separator: String)
        -> (ArraySlice<UInt8>, ArraySlice<UInt8>.Index)?
    {
        var start = bytes.endIndex
        while start > bytes.startIndex, bytes[start - 1].isASCIIDigit { start -= 1 }
        guard start < bytes.endIndex, bytes[..<start].elementsEqualSuffix(separator.utf8) else { return nil }
        return (bytes[start...], start - separator.utf8.count)
    }

    /// "0", or no leading zero, at most `max` (§12: ip4-cidr-length, ip6-cidr-length).
    private static func cidrLength(_ digits: ArraySlice<UInt8>, max: Int) -> Int? {
        guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy(\.isASCIIDigit),
            digits.count == 1 || digits.first != UInt8(ascii: "0")
        else {
            return nil
        }
        let value = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return value <= max ? value : nil
    }

    /// `ip4:` ip4-network [ ip4-cidr-length ], `ip6:` ip6-network [ ip6-cidr-length ] (§5.6).
    private static func network(_ argument: ArraySlice<UInt8>, v6: Bool, _ fail: (String) -> SPFSyntaxError)
        throws(SPFSyntaxError) -> Mechanism
    {
        let kind = v6 ? "ip6" : "ip4"
        guard argument.first == UInt8(ascii: ":") else { throw fail("\(kind) needs \":address\" (RFC 7208 §5.6)") }
        let body = argument.dropFirst()
        let slash = body.firstIndex(of: UInt8(ascii: "/"))
        let address = body[..<(slash ?? body.endIndex)]
        var length = v6 ? 128 : 32
        if let slash {
            guard let parsed = cidrLength(body[(slash + 1)...], max: length) else {
                throw fail("invalid prefix length (RFC 7208 §5.6)")
            }
            length = parsed
        }
        let allowed: (UInt8) -> Bool =
            v6
            ? { $0.isASCIIDigit || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }
            : { $0.isASCIIDigit || $0 == UInt8(ascii: ".") }
        let text = String(decoding: address, as: UTF8.self)
        guard !address.isEmpty, address.allSatisfy(allowed), let parsed = IPAddress(text) else {
            throw fail("\"\(LogSafe.escape(address))\" is not an \(v6 ? "IPv6" : "IPv4") address (RFC 7208 §5.6)")
        }
        if !v6 {
            guard parsed.isIPv4 else { throw fail("\"\(text)\" is not an IPv4 address (RFC 7208 §5.6)") }
            return .ip4(IPNetwork(address: parsed, prefixLength: length))
        }
        guard address.contains(UInt8(ascii: ":")) else {
            throw fail("\"\(text)\" is not an IPv6 address (RFC 7208 §5.6)")
        }
        switch parsed {
        case .v6:
            return .ip6(IPNetwork(address: parsed, prefixLength: length))
        case .v4(let mapped):
            // IPAddress folds ::ffff:a.b.c.d to IPv4; an ip6 network stays IPv6.
            return .ip6(IPNetwork(address: .v6(UInt128(0xFFFF) << 32 | UInt128(mapped)), prefixLength: length))
        }
    }
}

extension ArraySlice<UInt8> {
    fileprivate func elementsEqualSuffix(_ suffix: String.UTF8View) -> Bool {
        count >= suffix.count && self.suffix(suffix.count).elementsEqual(suffix)
    }
}
