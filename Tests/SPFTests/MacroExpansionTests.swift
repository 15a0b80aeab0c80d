import PolicyCore
import PolicyTesting
import Testing

@testable import SPF

/// RFC 7208 §7: macro syntax and expansion, with the examples of §7.4.
@Suite struct MacroExpansionTests {
    /// §7.4: "The <sender> is strong-bad@email.example.com. The IPv4 SMTP client IP is
    /// 192.0.2.3. The IPv6 SMTP client IP is 2001:db8::cb01. The PTR domain name of the client
    /// IP is mx.example.org."
    static func values(ip: String = "192.0.2.3") -> MacroValues {
        let request = SPFRequest(
            ip: IPAddress(ip)!, sender: "strong-bad@email.example.com", helo: "mx.example.org",
            domain: "email.example.com", receiver: "receiver.example.net", timestamp: 1_700_000_000)
        var values = MacroValues(
            request: request, sender: request.sender, localPart: "strong-bad", senderDomain: "email.example.com")
        values.validatedName = Array("mx.example.org".utf8)
        return values
    }

    static func expandDomain(_ spec: String, ip: String = "192.0.2.3") throws -> String {
        var budget = ExpansionBudget()
        return try MacroString(domainSpec: Array(spec.utf8)).expandDomain(values(ip: ip), &budget)
    }

    static func expandExplanation(_ text: String, ip: String = "192.0.2.3") throws -> String {
        var budget = ExpansionBudget()
        return try MacroString(Array(text.utf8), .explanation).expandExplanation(values(ip: ip), &budget)
    }

    static let rfcExamples: [(String, String)] = [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ]

    @Test("RFC 7208 §7.4 examples (IPv4)", arguments: rfcExamples)
    func rfcExample(_ example: (String, String)) throws {
        #expect(try Self.expandDomain(example.0) == example.1)
    }

    /// §7.4's IPv6 example. We write the nibbles in upper case (as the RFC 7208 test suite's
    /// v-macro-ip6 explanation expects); as the DNS name queried, it is the RFC's lower-case one.
    @Test func rfcExampleIPv6() async throws {
        let expected = "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        let expanded = try Self.expandDomain("%{ir}.%{v}._spf.%{d2}", ip: "2001:db8::cb01")
        #expect(DNSName(expanded)?.text == expected)

        // The same name through the evaluator: the query it sends.
        let zone = zone(record: "v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all", at: "email.example.com")
        zone.set(expected, .a, "127.0.0.2")
        let outcome = await check(zone, ip: "2001:db8::cb01", sender: "strong-bad@email.example.com")
        #expect(outcome.result == .pass, "\(outcome.traceText)")
        #expect(zone.queries.contains("\(expected)/A"))
    }

    @Test func validatedNameAndUpperCaseEscaping() throws {
        #expect(try Self.expandDomain("%{p}") == "mx.example.org")
        #expect(try Self.expandDomain("%{p2}.trusted-domains.example.net") == "example.org.trusted-domains.example.net")
        // Upper-case letters are URL-escaped: everything but ALPHA DIGIT - . _ ~ (§7.3).
        #expect(try Self.expandDomain("%{S}") == "strong-bad%40email.example.com")
        #expect(try Self.expandDomain("%{L}") == "strong-bad")
        // The transformers apply first, then the escaping.
        #expect(try Self.expandDomain("%{L1r-}") == "strong")
        #expect(try Self.expandDomain("%{V}") == "in-addr")
    }

    @Test("%%, %_ and %- (§7.1)")
    func escapes() throws {
        #expect(try Self.expandDomain("a%%b%_c%-d.example.com") == "a%b c%20d.example.com")
        #expect(try Self.expandExplanation("100%% sure %_ 50%-off") == "100% sure   50%20off")
    }

    @Test("several delimiters split together, parts rejoin with dots (§7.3)")
    func delimiters() throws {
        // Local-part "strong-bad": every delimiter listed is a split point.
        #expect(try Self.expandDomain("%{l-+}.example.com") == "strong.bad.example.com")
        #expect(try Self.expandDomain("%{lr.-}.example.com") == "bad.strong.example.com")
        // A count larger than the parts keeps them all; a huge count does not overflow.
        #expect(try Self.expandDomain("%{d99}") == "email.example.com")
        #expect(try Self.expandDomain("%{d99999999999999999999999999}") == "email.example.com")
        #expect(try Self.expandDomain("%{D1R}") == "email")
    }

    @Test("c, r, t and i in explanations (§7.3)")
    func explanationLetters() throws {
        #expect(
            try Self.expandExplanation("%{c} via %{r} at %{t}: %{i} %{v}")
                == "192.0.2.3 via receiver.example.net at 1700000000: 192.0.2.3 in-addr")
        #expect(try Self.expandExplanation("%{c} %{v}", ip: "2001:db8::cb01") == "2001:db8::cb01 ip6")
        #expect(
            try Self.expandExplanation("see http://example.com/why?s=%{S}")
                == "see http://example.com/why?s=strong-bad%40email.example.com")
    }

    static let syntaxErrors: [String] = [
        "%{x}.example.com",  // no such letter
        "%{d0}.example.com",  // zero digit transformer
        "%(ir).example.com",  // '%' then '('
        "foo%.example.com",  // lone '%'
        "foo.example.com%",  // trailing '%'
        "%{l.example.com",  // unterminated
        "%{}.example.com",  // no letter
        "%{c}.example.com",  // c, r, t only in exp text
        "%{r}.example.com",
        "%{T}.example.com",
        "museum",  // no toplabel after a dot
        "museum.",
        "abc.123",  // all-numeric toplabel
        "example.-com",  // toplabel starting with '-'
        "example.com:8080",  // ':' in the toplabel
        "%{d}.",  // ends in a dot with no toplabel
        "",
    ]

    @Test("domain-spec syntax errors (§7.1)", arguments: syntaxErrors)
    func domainSpecSyntaxError(_ spec: String) {
        #expect(throws: SPFSyntaxError.self) { try MacroString(domainSpec: Array(spec.utf8)) }
    }

    @Test func validDomainSpecs() throws {
        for spec in [
            "%{d}", "_spf.%{d2}", "example.xn--zckzah", "foo:bar/baz.example.com", "example.com.", "a.b-c",
            "%{ir}.%{v}._spf.%{d2}", "x.%%", "example.123-4",
        ] {
            #expect(throws: Never.self, "\(spec)") { try MacroString(domainSpec: Array(spec.utf8)) }
        }
    }

    @Test("an explanation allows spaces, not control bytes or non-ASCII")
    func explanationCharacters() {
        #expect(throws: Never.self) { try MacroString(Array("Go away, %{i}.".utf8), .explanation) }
        #expect(throws: SPFSyntaxError.self) { try MacroString(Array("tab\there".utf8), .explanation) }
        #expect(throws: SPFSyntaxError.self) { try MacroString(Array("caf\u{e9}".utf8), .explanation) }
        #expect(throws: SPFSyntaxError.self) { try MacroString(Array("The %{x}-files.".utf8), .explanation) }
    }

    @Test("a long expansion is cut from the left, whole labels at a time, to 253 bytes (§7.3)")
    func truncation() throws {
        // d = email.example.com (17 bytes); 20 copies make 359 bytes.
        let spec = Array(repeating: "%{d}", count: 20).joined(separator: ".")
        let expanded = try Self.expandDomain(spec)
        #expect(expanded.utf8.count <= 253)
        #expect(expanded.hasSuffix(".email.example.com"))
        #expect(!expanded.hasPrefix("."))
        #expect(DNSName(expanded) != nil)
        // A single label longer than 253 bytes cannot be cut: it stays too long (no match).
        var budget = ExpansionBudget()
        var values = Self.values()
        values.localPart = Array(repeating: UInt8(ascii: "x"), count: 300)
        let label = try MacroString(domainSpec: Array("%{l}".utf8)).expandDomain(values, &budget)
        #expect(DNSName(label) == nil)
    }
}
