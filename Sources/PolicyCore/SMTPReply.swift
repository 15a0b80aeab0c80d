/// An SMTP reply the MTA should send: basic code, RFC 3463 enhanced status, and text lines.
///
/// Only 4xx and 5xx exist here, because libmilter accepts nothing else (smfi_setreply(3)). Text
/// lines may hold `{placeholders}`; ``rendered(_:)`` fills them with sanitised values.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    public let code: Int
    public let enhanced: String
    public let lines: [String]

    /// libmilter refuses more lines than this (smfi_setmlreply(3)).
    public static let maxLines = 32
    /// libmilter's MAXREPLYLEN is 980 bytes for code, enhanced code and text together, counted
    /// after `%` is doubled; 960 leaves room for `NNN X.YYY.ZZZ ` and the separator.
    public static let maxEscapedLineBytes = 960

    /// For literals in our own catalogue. A bad literal is a programmer error, caught by the
    /// catalogue test that walks every entry through ``init(validating:enhanced:lines:)``.
    public init(_ code: Int, _ enhanced: String, _ lines: String...) {
        self.code = code
        self.enhanced = enhanced
        self.lines = lines
    }

    /// For replies from configuration: every problem is reported, nothing traps.
    public init(validating code: Int, enhanced: String, lines: [String]) throws(ReplyError) {
        guard (400...599).contains(code) else { throw .codeOutOfRange(code) }
        guard let enhancedClass = EnhancedStatus.statusClass(enhanced) else { throw .malformedEnhanced(enhanced) }
        guard enhancedClass == code / 100 else { throw .classMismatch(code: code, enhanced: enhanced) }
        guard !lines.isEmpty else { throw .emptyText }
        guard lines.count <= SMTPReply.maxLines else { throw .tooManyLines(lines.count) }
        for (index, line) in lines.enumerated() {
            if line.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value >= 0x7F }) {
                throw .forbiddenCharacter(line: index + 1)
            }
            let bytes = SMTPReply.escapedByteCount(line)
            if bytes > SMTPReply.maxEscapedLineBytes { throw .lineTooLong(line: index + 1, bytes: bytes) }
        }
        self.code = code
        self.enhanced = enhanced
        self.lines = lines
    }

    /// True for 4xx: the client should retry (RFC 5321 §4.2.1).
    public var isTransient: Bool { code / 100 == 4 }

    /// The text on one line, lines joined by a space; for logs.
    public var text: String { lines.joined(separator: " ") }

    public var description: String { "\(code) \(enhanced) \(text)" }

    /// Bytes a line takes once `%` is doubled for libmilter (Sendmail treats the text as a format).
    public static func escapedByteCount(_ line: String) -> Int {
        line.utf8.count + line.utf8.lazy.filter { $0 == UInt8(ascii: "%") }.count
    }

    /// Fills `{name}` placeholders. Values come from SMTP input, so each is reduced to printable
    /// ASCII, and every line is cut to the libmilter limit: a 1,000-byte sender never makes a
    /// reply that libmilter refuses.
    public func rendered(_ values: ReplyValues) -> SMTPReply {
        let filled = lines.map { line -> String in
            var out = ""
            var rest = Substring(line)
            while let open = rest.firstIndex(of: "{") {
                out += rest[..<open]
                let afterOpen = rest.index(after: open)
                guard let close = rest[afterOpen...].firstIndex(of: "}") else {
                    rest = rest[open...]
                    break
                }
                let name = String(rest[afterOpen..<close])
                if let value = values[name] {
                    out += LogSafe.replyText(value)
                } else {
                    out += rest[open...close]
                }
                rest = rest[rest.index(after: close)...]
            }
            out += rest
            return SMTPReply.truncated(out)
        }
        return SMTPReply(uncheckedCode: code, enhanced: enhanced, lines: filled)
    }

    /// The reply with one more line of outside text (an SPF explanation), reduced to printable
    /// ASCII and cut to the limit; beyond 32 lines it is dropped.
    public func appending(_ line: String) -> SMTPReply {
        guard lines.count < SMTPReply.maxLines else { return self }
        return SMTPReply(
            uncheckedCode: code, enhanced: enhanced, lines: lines + [SMTPReply.truncated(LogSafe.replyText(line))])
    }

    private init(uncheckedCode: Int, enhanced: String, lines: [String]) {
        self.code = uncheckedCode
        self.enhanced = enhanced
        self.lines = lines
    }

    static func truncated(_ line: String) -> String {
        guard escapedByteCount(line) > maxEscapedLineBytes else { return line }
        var out = ""
        var bytes = 0
        for scalar in line.unicodeScalars {
            let cost = scalar == "%" ? 2 : String(scalar).utf8.count
            if bytes + cost > maxEscapedLineBytes - 3 { break }
            out.unicodeScalars.append(scalar)
            bytes += cost
        }
        return out + "..."
    }
}

/// Values for reply templates: `ip`, `helo`, `sender`, `rcpt`, `domain`, `list`, `reason`, ...
public typealias ReplyValues = [String: String]

/// RFC 3463 enhanced status codes: `class.subject.detail`.
public enum EnhancedStatus {
    /// The class digit (2, 4 or 5) of a well-formed code, else nil.
    public static func statusClass(_ text: String) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, ["2", "4", "5"].contains(parts[0]),
            parts[1].count >= 1, parts[1].count <= 3, parts[2].count >= 1, parts[2].count <= 3,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else { return nil }
        return Int(parts[0])
    }
}

/// Why a configured reply cannot be used.
public enum ReplyError: Error, Equatable, Sendable, CustomStringConvertible {
    case codeOutOfRange(Int)
    case malformedEnhanced(String)
    case classMismatch(code: Int, enhanced: String)
    case emptyText
    case tooManyLines(Int)
    case lineTooLong(line: Int, bytes: Int)
    case forbiddenCharacter(line: Int)

    public var description: String {
        switch self {
        case .codeOutOfRange(let c): return "reply code \(c) is not 4xx or 5xx (libmilter sends only those)"
        case .malformedEnhanced(let e): return "enhanced status \"\(e)\" is not of the form 4.x.y or 5.x.y (RFC 3463)"
        case .classMismatch(let c, let e): return "enhanced status \(e) does not match the class of code \(c)"
        case .emptyText: return "reply text is empty"
        case .tooManyLines(let n): return "reply has \(n) lines; libmilter allows at most \(SMTPReply.maxLines)"
        case .lineTooLong(let l, let b):
            return "reply line \(l) is \(b) bytes with % doubled; the limit is \(SMTPReply.maxEscapedLineBytes)"
        case .forbiddenCharacter(let l): return "reply line \(l) holds a control or non-ASCII character"
        }
    }
}
