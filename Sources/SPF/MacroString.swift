import PolicyCore

/// A syntax error in an SPF record or explanation: the whole record is a `permerror` (RFC 7208
/// §4.6), an explanation is ignored (§6.2).
struct SPFSyntaxError: Error, Sendable, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}

/// A macro-string (RFC 7208 §7.1): literal bytes and `%{...}` expansions. Parsed once, with the
/// record, so that a syntax error anywhere is found before any term is evaluated (§4.6).
struct MacroString: Sendable, Hashable, CustomStringConvertible {
    /// The macro letters of §7.3.
    enum Letter: Sendable, Hashable {
        case sender, localPart, senderDomain, domain, ip, validatedName, ipVersion, helo
        /// Only in explanations (§7.3: "c", "r", "t" are allowed only in "exp" text).
        case clientIP, receiver, timestamp

        init?(_ byte: UInt8) {
            switch byte | 0x20 {
            case UInt8(ascii: "s"): self = .sender
            case UInt8(ascii: "l"): self = .localPart
            case UInt8(ascii: "o"): self = .senderDomain
            case UInt8(ascii: "d"): self = .domain
            case UInt8(ascii: "i"): self = .ip
            case UInt8(ascii: "p"): self = .validatedName
            case UInt8(ascii: "v"): self = .ipVersion
            case UInt8(ascii: "h"): self = .helo
            case UInt8(ascii: "c"): self = .clientIP
            case UInt8(ascii: "r"): self = .receiver
            case UInt8(ascii: "t"): self = .timestamp
            default: return nil
            }
        }

        var onlyInExplanations: Bool { self == .clientIP || self == .receiver || self == .timestamp }
    }

    /// One `%{...}`: letter, transformers and delimiters (§7.1).
    struct Expansion: Sendable, Hashable {
        var letter: Letter
        /// An upper-case letter: the value is URL-escaped (§7.3).
        var urlEscaped: Bool
        /// The DIGIT transformer: keep this many right-hand parts (nil: all).
        var rightParts: Int?
        /// The `r` transformer.
        var reversed: Bool
        /// The delimiters to split on; `.` when none is written.
        var delimiters: [UInt8]

        /// True when the value is used as it is.
        var isPlain: Bool { !urlEscaped && rightParts == nil && !reversed && delimiters == [UInt8(ascii: ".")] }
    }

    enum Token: Sendable, Hashable {
        case literal([UInt8])
        case expansion(Expansion)
    }

    /// Where a macro-string stands, which decides the characters and letters it may use.
    enum Context: Sendable {
        /// A domain-spec (mechanism and modifier targets): visible ASCII, no `c`, `r`, `t`.
        case domainSpec
        /// The value of an unknown modifier: visible ASCII, any letter (never expanded).
        case modifierValue
        /// An explanation fetched by `exp=`: visible ASCII and spaces, any letter (§6.2).
        case explanation
    }

    let tokens: [Token]
    /// The text as written.
    let text: String

    var description: String { text }

    /// True when expanding needs `%{p}`, which costs DNS queries.
    var usesValidatedName: Bool {
        tokens.contains { if case .expansion(let e) = $0 { return e.letter == .validatedName } else { return false } }
    }

    /// Parses `raw` as a macro-string of the given context.
    init(_ raw: some Collection<UInt8>, _ context: Context) throws(SPFSyntaxError) {
        let (tokens, _) = try MacroString.tokenize(Array(raw), context)
        self.tokens = tokens
        self.text = String(decoding: raw, as: UTF8.self)
    }

    /// Parses a domain-spec: `macro-string domain-end`, where domain-end is a macro expansion
    /// or `.toplabel` with an optional trailing dot (§7.1). The toplabel rule is what refuses
    /// `a:museum`, `a:abc.123`, `a:example.com:8080` and `redirect=-all`.
    init(domainSpec raw: some Collection<UInt8>) throws(SPFSyntaxError) {
        let bytes = Array(raw)
        guard !bytes.isEmpty else { throw SPFSyntaxError("empty domain-spec") }
        let (tokens, trailingLiteral) = try MacroString.tokenize(bytes, .domainSpec)
        if trailingLiteral < bytes.count {
            // Ends in literal text: it must end in "." toplabel ["."].
            var end = bytes.count
            if bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            let literal = bytes[trailingLiteral..<end]
            guard let dot = literal.lastIndex(of: UInt8(ascii: ".")) else {
                throw SPFSyntaxError(
                    "domain-spec \"\(LogSafe.escape(bytes))\" must end in a macro or in .toplabel (RFC 7208 §7.1)")
            }
            let label = bytes[(dot + 1)..<end]
            guard MacroString.isTopLabel(label) else {
                throw SPFSyntaxError(
                    "domain-spec \"\(LogSafe.escape(bytes))\" ends in \"\(LogSafe.escape(label))\", "
                        + "which is not a valid top-level label (RFC 7208 §7.1)")
            }
        }
        self.tokens = tokens
        self.text = String(decoding: bytes, as: UTF8.self)
    }

    /// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum ):
    /// letters, digits and inner hyphens, not all digits.
    static func isTopLabel(_ label: ArraySlice<UInt8>) -> Bool {
        guard let first = label.first, let last = label.last, first.isASCIIAlphanumeric, last.isASCIIAlphanumeric
        else { return false }
        guard label.allSatisfy({ $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") }) else { return false }
        return label.contains { $0.isASCIILetter || $0 == UInt8(ascii: "-") }
    }

    /// The tokens, and where the trailing literal text starts (the end when the string ends in a
    /// macro-expand: `%{...}`, `%%`, `%_` or `%-`).
    private static func tokenize(_ bytes: [UInt8], _ context: Context) throws(SPFSyntaxError) -> ([Token], Int) {
        var tokens: [Token] = []
        var literal: [UInt8] = []
        var trailingLiteral = 0
        var index = 0
        func flush() {
            if !literal.isEmpty { tokens.append(.literal(literal)) }
            literal = []
        }
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "%") else {
                let allowed = byte > 0x20 && byte < 0x7F || (byte == 0x20 && context == .explanation)
                guard allowed else {
                    throw SPFSyntaxError(
                        "\"\(LogSafe.escape(bytes))\" contains byte \(hex(byte)), not allowed "
                            + "(SPF records are printable 7-bit ASCII, terms are separated by spaces: RFC 7208 §3, §4.6.1)")
                }
                literal.append(byte)
                index += 1
                continue
            }
            guard index + 1 < bytes.count else {
                throw SPFSyntaxError("\"\(LogSafe.escape(bytes))\" ends in a lone '%' (RFC 7208 §7.1: write %%)")
            }
            switch bytes[index + 1] {
            case UInt8(ascii: "%"): literal.append(UInt8(ascii: "%"))
            case UInt8(ascii: "_"): literal.append(UInt8(ascii: " "))
            case UInt8(ascii: "-"): literal += Array("%20".utf8)
            case UInt8(ascii: "{"):
                flush()
                let (expansion, next) = try parseExpansion(bytes, from: index + 2, context)
                tokens.append(.expansion(expansion))
                index = next
                trailingLiteral = index
                continue
            default:
                throw SPFSyntaxError(
                    "\"\(LogSafe.escape(bytes))\": '%' must be followed by '{', '%', '_' or '-' (RFC 7208 §7.1)")
            }
            index += 2
            trailingLiteral = index
        }
        flush()
        return (tokens, trailingLiteral)
    }

    /// delimiter = "." / "-" / "+" / "," / "/" / "_" / "=" (§7.1).
    private static let delimiters = Array(".-+,/_=".utf8)

    /// `macro-letter transformers *delimiter "}"`, from just after `%{`.
    private static func parseExpansion(_ bytes: [UInt8], from start: Int, _ context: Context)
        throws(SPFSyntaxError) -> (Expansion, Int)
    {
        // Only on error: escaping the whole string for every macro would be quadratic.
        var whole: String { LogSafe.escape(bytes) }
        var index = start
        guard index < bytes.count, let letter = Letter(bytes[index]) else {
            let what = index < bytes.count ? "'\(LogSafe.escape([bytes[index]]))'" : "nothing"
            throw SPFSyntaxError(
                "\"\(whole)\": %{ followed by \(what); the macro letters are s l o d i p h v, and c r t in exp= text (RFC 7208 §7.1)"
            )
        }
        if letter.onlyInExplanations && context == .domainSpec {
            throw SPFSyntaxError("\"\(whole)\": the macros c, r and t are allowed only in exp= text (RFC 7208 §7.3)")
        }
        let urlEscaped = bytes[index].isASCIIUppercase
        index += 1
        var digits: Int? = nil
        while index < bytes.count, bytes[index].isASCIIDigit {
            // Saturate: any count at or above the number of parts keeps them all.
            digits = min((digits ?? 0) * 10 + Int(bytes[index] - UInt8(ascii: "0")), 10_000)
            index += 1
        }
        if digits == 0 { throw SPFSyntaxError("\"\(whole)\": a macro's digit transformer must not be zero (RFC 7208 §7.3)") }
        var reversed = false
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "r") {
            reversed = true
            index += 1
        }
        var delimiters: [UInt8] = []
        while index < bytes.count, MacroString.delimiters.contains(bytes[index]) {
            if !delimiters.contains(bytes[index]) { delimiters.append(bytes[index]) }
            index += 1
        }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "}") else {
            throw SPFSyntaxError("\"\(whole)\": unterminated or malformed %{...} macro (RFC 7208 §7.1)")
        }
        let expansion = Expansion(
            letter: letter, urlEscaped: urlEscaped, rightParts: digits, reversed: reversed,
            delimiters: delimiters.isEmpty ? [UInt8(ascii: ".")] : delimiters)
        return (expansion, index + 1)
    }
}

/// The values the macro letters stand for in one evaluation (§7.3), as bytes.
struct MacroValues: Sendable {
    var sender: [UInt8]
    var localPart: [UInt8]
    var senderDomain: [UInt8]
    var domain: [UInt8]
    var helo: [UInt8]
    var receiver: [UInt8]
    var timestamp: [UInt8]
    var ip: [UInt8]
    var clientIP: [UInt8]
    var ipVersion: [UInt8]
    /// `%{p}`: filled in by the evaluator when a string needs it.
    var validatedName: [UInt8] = Array("unknown".utf8)

    init(request: SPFRequest, sender: String, localPart: String, senderDomain: String) {
        self.sender = Array(sender.utf8)
        self.localPart = Array(localPart.utf8)
        self.senderDomain = Array(senderDomain.utf8)
        self.domain = Array(request.domain.utf8)
        self.helo = Array(request.helo.utf8)
        self.receiver = Array(request.receiver.utf8)
        self.timestamp = Array(String(request.timestamp).utf8)
        switch request.ip {
        case .v4:
            ip = Array(request.ip.description.utf8)
            ipVersion = Array("in-addr".utf8)
        case .v6(let value):
            // §7.3: "i" is the dot-format address: 32 nibbles. Upper-case hex, as the RFC 7208
            // test suite's v-macro-ip6 explanation (and pyspf) has it; DNS names ignore case.
            let digits = Array("0123456789ABCDEF".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(63)
            for nibble in (0..<32).reversed() {
                if !out.isEmpty { out.append(UInt8(ascii: ".")) }
                out.append(digits[Int((value >> (UInt128(nibble) * 4)) & 0xF)])
            }
            ip = out
            ipVersion = Array("ip6".utf8)
        }
        clientIP = Array(request.ip.description.utf8)
    }

    func value(_ letter: MacroString.Letter) -> [UInt8] {
        switch letter {
        case .sender: return sender
        case .localPart: return localPart
        case .senderDomain: return senderDomain
        case .domain: return domain
        case .ip: return ip
        case .validatedName: return validatedName
        case .ipVersion: return ipVersion
        case .helo: return helo
        case .clientIP: return clientIP
        case .receiver: return receiver
        case .timestamp: return timestamp
        }
    }
}

/// The macro expansion work left to an evaluation, in bytes read and written: a backstop
/// against values far larger than any MTA lets through (a sender of megabytes), since the
/// expansion itself stops as soon as it has what it needs.
struct ExpansionBudget: Sendable {
    /// A hundred macros over a 2 KB sender use well under this.
    static let perEvaluation = 1 << 20

    var remaining = ExpansionBudget.perEvaluation

    struct Exhausted: Error, CustomStringConvertible {
        var description: String { "macro expansion exceeds \(ExpansionBudget.perEvaluation) bytes" }
    }
}

extension MacroString {
    /// The longest explanation kept (§6.2 leaves it open; an SMTP reply line holds 512 bytes
    /// of text, a multi-line reply more). Longer expansions are cut here.
    static let maxExplanationBytes = 800

    /// Expands a domain-spec for a DNS query: the result with a trailing dot removed and, if
    /// longer than 253 bytes, its left-hand labels removed until it fits (§7.3). That result
    /// depends only on the last 254 bytes, so the tokens are expanded from the right and the
    /// expansion stops once it has 512: a macro bomb costs what its tail costs.
    func expandDomain(_ values: MacroValues, _ budget: inout ExpansionBudget) throws(ExpansionBudget.Exhausted)
        -> String
    {
        var pieces: [ArraySlice<UInt8>] = []
        var total = 0
        try expand(values, &budget, fromTheRight: true) { piece in
            pieces.append(piece.suffix(512))
            total += piece.count
            return total < 512
        }
        var out: [UInt8] = []
        for piece in pieces.reversed() { out += piece }
        if out.count > 512 { out.removeFirst(out.count - 512) }
        if out.last == UInt8(ascii: ".") { out.removeLast() }
        if out.count > 253 {
            // The suffix after the first dot at or after count-254 is the longest that fits.
            if let dot = out[(out.count - 254)...].firstIndex(of: UInt8(ascii: ".")) {
                out.removeFirst(dot + 1)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Expands an explanation, cut at ``maxExplanationBytes``. The text is printable ASCII
    /// (§6.2 requires it of the record); what a macro brings in from the envelope (a UTF-8 or
    /// control byte in `%{l}` or `%{h}`) becomes "?", so the result stays printable ASCII.
    func expandExplanation(_ values: MacroValues, _ budget: inout ExpansionBudget) throws(ExpansionBudget.Exhausted)
        -> String
    {
        var out: [UInt8] = []
        try expand(values, &budget, fromTheRight: false) { piece in
            for byte in piece.prefix(MacroString.maxExplanationBytes - out.count) {
                out.append(byte >= 0x20 && byte < 0x7F ? byte : UInt8(ascii: "?"))
            }
            return out.count < MacroString.maxExplanationBytes
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hands the expansion of each token to `emit`, in order or from the right, until `emit`
    /// returns false.
    private func expand(
        _ values: MacroValues, _ budget: inout ExpansionBudget, fromTheRight: Bool,
        _ emit: (ArraySlice<UInt8>) -> Bool
    ) throws(ExpansionBudget.Exhausted) {
        for index in tokens.indices {
            let token = tokens[fromTheRight ? tokens.count - 1 - index : index]
            let piece: ArraySlice<UInt8>
            switch token {
            case .literal(let bytes):
                piece = bytes[...]
            case .expansion(let expansion):
                let value = values.value(expansion.letter)
                // Charged before the work: reading the value, and up to 3 bytes out for each.
                budget.remaining -= expansion.isPlain ? value.count : 4 * value.count
                guard budget.remaining >= 0 else { throw ExpansionBudget.Exhausted() }
                piece = expansion.isPlain ? value[...] : MacroString.transform(value, expansion)[...]
            }
            guard emit(piece) else { return }
        }
    }

    /// Splits on the delimiters, reverses, keeps the right-hand parts, joins with dots, and
    /// URL-escapes for an upper-case letter (§7.3).
    static func transform(_ value: [UInt8], _ expansion: Expansion) -> [UInt8] {
        var parts = value.split(omittingEmptySubsequences: false) { expansion.delimiters.contains($0) }
        if expansion.reversed { parts.reverse() }
        if let keep = expansion.rightParts, keep < parts.count { parts.removeFirst(parts.count - keep) }
        var joined: [UInt8] = []
        joined.reserveCapacity(value.count)
        for (index, part) in parts.enumerated() {
            if index > 0 { joined.append(UInt8(ascii: ".")) }
            joined += part
        }
        return expansion.urlEscaped ? urlEscape(joined) : joined
    }

    /// RFC 3986 percent-encoding of everything outside `unreserved` (ALPHA DIGIT - . _ ~).
    static func urlEscape(_ bytes: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3)
        for byte in bytes {
            if byte.isASCIIAlphanumeric || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
            {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
            }
        }
        return out
    }
}

func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return "0x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
}

extension UInt8 {
    var isASCIIDigit: Bool { self >= 0x30 && self <= 0x39 }
    var isASCIIUppercase: Bool { self >= 0x41 && self <= 0x5A }
    var isASCIILetter: Bool { isASCIIUppercase || (self >= 0x61 && self <= 0x7A) }
    var isASCIIAlphanumeric: Bool { isASCIILetter || isASCIIDigit }
}
