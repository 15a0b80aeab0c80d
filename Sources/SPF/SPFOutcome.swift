/// What `check_host()` concluded, and how.
public struct SPFOutcome: Sendable, Hashable {
    /// The result (RFC 7208 §2.6).
    public let result: SPFResult
    /// The `<domain>` that was checked (the identity's domain, not an include's or redirect's).
    public let domain: String
    /// The term that decided, as written in the record: `"ip4:192.0.2.0/24"`, `"-all"`,
    /// `"include:_spf.example.net"` (after a `redirect=`, the term of the record redirected to),
    /// or `"default"` when no term matched. Nil for `none` and for errors (see ``problem``).
    public let mechanism: String?
    /// The expanded `exp=` text (RFC 7208 §6.2), for `fail` only, and only when the record has
    /// a usable one. Untrusted text from the domain's owner: 7-bit ASCII, printable, at most
    /// 800 bytes, but sanitize it anyway before it goes into an SMTP reply.
    public let explanation: String?
    /// Why the result is `permerror`, `temperror` or `none`, in a sentence for logs.
    public let problem: String?
    /// Every record fetched, term evaluated and DNS query made, in order.
    public let trace: [SPFTraceStep]

    public init(
        result: SPFResult, domain: String, mechanism: String? = nil, explanation: String? = nil,
        problem: String? = nil, trace: [SPFTraceStep] = []
    ) {
        self.result = result
        self.domain = domain
        self.mechanism = mechanism
        self.explanation = explanation
        self.problem = problem
        self.trace = trace
    }
}

/// One line of an evaluation's trace, for `portcullis spf` and debug logs.
public struct SPFTraceStep: Sendable, Hashable, CustomStringConvertible {
    /// Nesting: 0 for the checked domain's record, 1 inside its `include:` or `redirect=`, ...
    public let depth: Int
    /// For example `example.com: record v=spf1 a mx -all`, `a: example.com A -> 192.0.2.1 (no match)`,
    /// `include:_spf.example.net -> pass (match)`, `DNS TXT _spf.example.net: NXDOMAIN`.
    /// Record and answer text is escaped with `LogSafe`: no control bytes.
    public let text: String

    public init(depth: Int, text: String) {
        self.depth = depth
        self.text = text
    }

    /// The text indented two spaces per level.
    public var description: String { String(repeating: "  ", count: depth) + text }
}
