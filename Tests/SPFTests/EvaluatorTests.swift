import PolicyCore
import PolicyTesting
import SPF
import Testing

/// A record, a client, the expected result.
struct RecordCase: Sendable, CustomTestStringConvertible {
    let record: String
    let ip: String
    let expected: SPFResult

    init(_ record: String, from ip: String = "192.0.2.1", _ expected: SPFResult) {
        self.record = record
        self.ip = ip
        self.expected = expected
    }

    var testDescription: String { "\"\(record)\" from \(ip) is \(expected)" }
}

/// A small zone around example.com: mail.example.com is 192.0.2.1 and 2001:db8::1, the MX of
/// example.com, and the PTR name of 192.0.2.1; inc.example.com authorizes 192.0.2.1.
func exampleZone(record: String) -> FakeZone {
    let zone = zone(record: record)
    zone.set("mail.example.com", .a, "192.0.2.1")
    zone.set("mail.example.com", .aaaa, "2001:db8::1")
    zone.set("example.com", .mx, "10 mail.example.com")
    zone.set("1.2.0.192.in-addr.arpa", .ptr, "mail.example.com")
    zone.set("inc.example.com", .txt, "v=spf1 ip4:192.0.2.1 -all")
    return zone
}

@Suite struct MechanismTests {
    static let cases: [RecordCase] = [
        RecordCase("v=spf1 -all", .fail),
        RecordCase("v=spf1 +all", .pass),
        RecordCase("v=spf1 ~all", .softfail),
        RecordCase("v=spf1 ?all", .neutral),
        RecordCase("v=spf1", .neutral),
        RecordCase("v=spf1 ip4:192.0.2.0/24 -all", .pass),
        RecordCase("v=spf1 ip4:192.0.2.0/24 -all", from: "198.51.100.1", .fail),
        RecordCase("v=spf1 ip4:192.0.2.0/24 -all", from: "::ffff:192.0.2.9", .pass),
        RecordCase("v=spf1 ip6:2001:db8::/32 -all", from: "2001:db8::5", .pass),
        RecordCase("v=spf1 ip6:2001:db8::/32 -all", from: "192.0.2.1", .fail),
        // An IPv4-mapped ip6 network never matches: IPv4 clients are matched by ip4 only (§5).
        RecordCase("v=spf1 ip6:::ffff:192.0.2.0/120 -all", from: "::ffff:192.0.2.1", .fail),
        RecordCase("v=spf1 a:mail.example.com -all", .pass),
        RecordCase("v=spf1 a:mail.example.com/24 -all", from: "192.0.2.77", .pass),
        RecordCase("v=spf1 a:mail.example.com -all", from: "192.0.2.77", .fail),
        RecordCase("v=spf1 a:mail.example.com//64 -all", from: "2001:db8::9", .pass),
        RecordCase("v=spf1 a:mail.example.com/8 -all", from: "2001:db8::9", .fail),
        RecordCase("v=spf1 a -all", .fail),  // example.com itself has no A
        RecordCase("v=spf1 mx -all", .pass),
        RecordCase("v=spf1 mx/24 -all", from: "192.0.2.200", .pass),
        RecordCase("v=spf1 mx -all", from: "2001:db8::1", .pass),
        RecordCase("v=spf1 mx:mail.example.com -all", .fail),  // no MX there
        RecordCase("v=spf1 ptr -all", .pass),
        RecordCase("v=spf1 ptr:mail.example.com -all", .pass),
        RecordCase("v=spf1 ptr:example.org -all", .fail),
        RecordCase("v=spf1 ptr -all", from: "192.0.2.2", .fail),
        RecordCase("v=spf1 exists:mail.example.com -all", .pass),
        RecordCase("v=spf1 exists:mail.example.com -all", from: "2001:db8::77", .pass),  // always A
        RecordCase("v=spf1 exists:nothing.example.com -all", .fail),
        RecordCase("V=SPF1 A:MAIL.EXAMPLE.COM -ALL", .pass),
        RecordCase("v=spf1 include:inc.example.com -all", .pass),
        RecordCase("v=spf1 include:inc.example.com -all", from: "192.0.2.2", .fail),
        RecordCase("v=spf1 -include:inc.example.com +all", .fail),
        RecordCase("v=spf1 redirect=inc.example.com", .pass),
        RecordCase("v=spf1 redirect=inc.example.com", from: "192.0.2.2", .fail),
        RecordCase("v=spf1 +all redirect=inc.example.com", from: "192.0.2.2", .pass),
        RecordCase("v=spf1 unknown=foo ?all", .neutral),
        RecordCase("v=spf1   ip4:192.0.2.1   ", .pass),  // several and trailing spaces
        RecordCase("v=spf1 a:%{d} -all", .fail),  // a domain-spec that is all macro
        RecordCase("v=spf1 a:mail.%{d2} -all", .pass),
    ]

    @Test("mechanisms, qualifiers and modifiers", arguments: cases)
    func evaluate(_ test: RecordCase) async {
        let outcome = await check(exampleZone(record: test.record), ip: test.ip)
        #expect(outcome.result == test.expected, "\(outcome.problem ?? "")\n\(outcome.traceText)")
    }

    static let syntaxErrors: [String] = [
        "v=spf1 -all moo",
        "v=spf1 a:",
        "v=spf1 a:museum",
        "v=spf1 ip4:192.0.2.1/33",
        "v=spf1 ip4:192.0.2.1/032",
        "v=spf1 ip4:192.0.2.01",
        "v=spf1 ip4:192.0.2",
        "v=spf1 ip4:[192.0.2.1]",
        "v=spf1 ip4:::ffff:192.0.2.1",
        "v=spf1 ip4:192.0.2.1//32",
        "v=spf1 ip6:2001:db8::/129",
        "v=spf1 ip6:192.0.2.1",
        "v=spf1 ip6:IPv6:2001:db8::1",
        "v=spf1 ip6:2001:db8::1//64",
        "v=spf1 all:x",
        "v=spf1 -all/8",
        "v=spf1 exp=a.example.com exp=b.example.com -all",
        "v=spf1 redirect=a.example.com redirect=b.example.com",
        "v=spf1 redirect=",
        "v=spf1 exp= -all",
        "v=spf1 a/24/64",
        "v=spf1 a/33",
        "v=spf1 a//129",
        "v=spf1 include",
        "v=spf1 include:inc.example.com/24",
        "v=spf1 ptr/24",
        "v=spf1 exists",
        "v=spf1 1x=y",
        "v=spf1 =all",
        "v=spf1 foo=%q",
        "v=spf1 redirect:inc.example.com",
        "v=spf1 exists:%{c}.example.com",
        "v=spf1 a:caf\u{e9}.example.com",
        "v=spf1 \u{e9}all",
        "v=spf1 a:mail.example.com\tmx",
        "v=spf1 a:mail.example.com\r\n-all",
        "v=spf1 a:mail.example.com\0",
    ]

    /// §4.6: "If there are any syntax errors anywhere in the record, check_host() returns
    /// immediately with the result permerror": also after a term that would have matched.
    @Test("syntax errors anywhere are a permerror", arguments: syntaxErrors)
    func syntaxError(_ record: String) async {
        let outcome = await check(exampleZone(record: "v=spf1 +all " + record.dropFirst(7)))
        #expect(outcome.result == .permerror, "\(outcome.traceText)")
        #expect(outcome.problem?.contains("syntax error") == true)
        #expect(outcome.trace.allSatisfy { !$0.text.contains("\r") && !$0.text.contains("\0") })
    }

    @Test("record selection: v=spf1 then a space or the end; one record only (§4.5)")
    func recordSelection() async {
        let several = FakeZone()
        several.set("example.com", .txt, "v=spf1 -all", "v=spf1 +all")
        #expect(await check(several).result == .permerror)

        let others = FakeZone()
        others.set("example.com", .txt, "v=spf10 +all", "spf2.0/pra -all", "v=spf1 ~all", "", "google-site-verification=x")
        #expect(await check(others).result == .softfail)

        let tab = FakeZone()
        tab.set("example.com", .txt, "v=spf1\t-all")
        #expect(await check(tab).result == .none)

        let nothing = FakeZone()
        #expect(await check(nothing).result == .none)
        nothing.set("example.com", .a, "192.0.2.1")
        let noTXT = await check(nothing)
        #expect(noTXT.result == .none)
        #expect(noTXT.problem?.contains("no SPF record") == true)
        // The SPF RR type does not exist for us: only TXT is asked.
        #expect(nothing.queries.allSatisfy { $0.hasSuffix("/TXT") })
    }

    @Test("include: none and permerror below are permerrors, temperror is temperror (§5.2)")
    func includeResults() async {
        let zone = exampleZone(record: "v=spf1 include:none.example.com -all")
        zone.set("none.example.com", .a, "192.0.2.1")
        #expect(await check(zone).result == .permerror)

        let broken = exampleZone(record: "v=spf1 include:bad.example.com +all")
        broken.set("bad.example.com", .txt, "v=spf1 ip4:192.0.2.300 +all")
        #expect(await check(broken).result == .permerror)

        let down = exampleZone(record: "v=spf1 include:down.example.com +all")
        down.fail("down.example.com", .txt, .serverFailure(name: "down.example.com", type: .txt))
        #expect(await check(down).result == .temperror)

        let nameless = exampleZone(record: "v=spf1 include:%{l}.example.com +all")
        // A target that is no DNS name (an empty label) gives none there: permerror.
        #expect(await check(nameless, sender: "a..b@example.com").result == .permerror)
    }

    @Test("redirect to a domain without a record is a permerror (§6.1)")
    func redirectToNothing() async {
        #expect(await check(exampleZone(record: "v=spf1 redirect=nothing.example.com")).result == .permerror)
    }

    @Test("%{d} inside an include is the included domain")
    func domainMacroInInclude() async {
        let zone = exampleZone(record: "v=spf1 include:sub.example.com -all")
        zone.set("sub.example.com", .txt, "v=spf1 exists:%{d}.list.example.net -all")
        zone.set("sub.example.com.list.example.net", .a, "127.0.0.2")
        let outcome = await check(zone)
        #expect(outcome.result == .pass, "\(outcome.traceText)")
        #expect(outcome.mechanism == "include:sub.example.com")
    }
}

@Suite struct IdentityTests {
    @Test("the null sender checks the HELO name as postmaster@helo (§2.4)")
    func nullSender() async {
        let zone = zone(record: "v=spf1 -all exp=why.mx.example.net", at: "mx.example.net")
        zone.set("why.mx.example.net", .txt, "%{s} %{l} %{o} %{d} %{h}")
        for sender in ["", "<>"] {
            let outcome = await check(zone, sender: sender)
            #expect(outcome.result == .fail)
            #expect(outcome.domain == "mx.example.net")
            #expect(outcome.explanation == "postmaster@mx.example.net postmaster mx.example.net mx.example.net mx.example.net")
        }
    }

    @Test func mailFromForms() async {
        let zone = zone(record: "v=spf1 -all exp=why.example.com")
        zone.set("why.example.com", .txt, "%{s}|%{l}|%{o}")
        #expect(await check(zone, sender: "<user@example.com>").explanation == "user@example.com|user|example.com")
        #expect(await check(zone, sender: "@example.com").explanation == "postmaster@example.com|postmaster|example.com")
        #expect(await check(zone, sender: "\"a@b\"@example.com").explanation == "\"a@b\"@example.com|\"a@b\"|example.com")
        let dotted = await check(zone, sender: "user@Example.COM.")
        #expect(dotted.result == .fail)
        #expect(dotted.domain == "Example.COM")
    }

    @Test("HELO: address literals and single labels give none without a query (§4.3)")
    func helo() async {
        let zone = zone(record: "v=spf1 -all", at: "mx.example.net")
        let evaluator = SPFEvaluator(resolver: zone)
        let ip = IPAddress("192.0.2.1")!
        #expect(await evaluator.evaluateHelo(ip: ip, helo: "mx.example.net").result == .fail)
        #expect(await evaluator.evaluateHelo(ip: ip, helo: "[192.0.2.1]").result == .none)
        #expect(await evaluator.evaluateHelo(ip: ip, helo: "localhost").result == .none)
        #expect(await evaluator.evaluateHelo(ip: ip, helo: "a..example.net").result == .none)
        #expect(await evaluator.evaluateHelo(ip: ip, helo: String(repeating: "a", count: 64) + ".example.net").result == .none)
        #expect(zone.queries == ["mx.example.net/TXT"])
    }

    @Test("checkHost with an explicit request")
    func explicitRequest() async {
        let zone = zone(record: "v=spf1 ip4:192.0.2.0/24 -all", at: "example.org")
        let request = SPFRequest(ip: IPAddress("192.0.2.9")!, sender: "x@example.com", helo: "h.example.net", domain: "example.org")
        let outcome = await SPFEvaluator(resolver: zone).checkHost(request)
        #expect(outcome.result == .pass)
        #expect(outcome.domain == "example.org")
        #expect(outcome.mechanism == "ip4:192.0.2.0/24")
        #expect(request.receiver == "unknown")
    }
}

@Suite struct ErrorTests {
    @Test("DNS errors are temperror (§4.4, §5)")
    func temporaryErrors() async {
        let timeout = FakeZone()
        timeout.fail("example.com", .txt, .timeout(name: "example.com", type: .txt))
        let outcome = await check(timeout)
        #expect(outcome.result == .temperror)
        #expect(outcome.problem?.contains("timeout") == true)
        #expect(outcome.mechanism == nil)

        for (record, failing, type) in [
            ("v=spf1 a:slow.example.com -all", "slow.example.com", DNSRecordType.a),
            ("v=spf1 exists:slow.example.com -all", "slow.example.com", .a),
            ("v=spf1 mx:slow.example.com -all", "slow.example.com", .mx),
            ("v=spf1 mx -all", "mail.example.com", .a),  // an exchange's address
        ] {
            let zone = exampleZone(record: record)
            zone.fail(failing, type, .timeout(name: failing, type: type))
            #expect(await check(zone, ip: "192.0.2.77").result == .temperror, "\(record)")
        }
    }

    @Test("ptr: a PTR error is no match; an address error skips that name (§5.5)")
    func ptrErrors() async {
        let zone = exampleZone(record: "v=spf1 ptr -all")
        zone.fail("1.2.0.192.in-addr.arpa", .ptr, .serverFailure(name: "1.2.0.192.in-addr.arpa", type: .ptr))
        #expect(await check(zone).result == .fail)

        let skip = exampleZone(record: "v=spf1 ptr -all")
        skip.set("1.2.0.192.in-addr.arpa", .ptr, "broken.example.com", "mail.example.com")
        skip.fail("broken.example.com", .a, .timeout(name: "broken.example.com", type: .a))
        #expect(await check(skip).result == .pass)
    }

    /// Also where a DNS error would otherwise mean "no match" (ptr): a query cut short by the
    /// engine's time budget must never turn into `-all`'s fail.
    @Test("a cancelled evaluation stops with temperror, without waiting for the DNS", arguments: ["txt", "ptr"])
    func cancellation(_ stage: String) async {
        let zone = FakeZone()
        if stage == "txt" {
            zone[DNSName("example.com")!, .txt] = .delayed(.seconds(30), .records([.text("v=spf1 +all")]))
        } else {
            zone.set("example.com", .txt, "v=spf1 ptr -all")
            zone[DNSName("1.2.0.192.in-addr.arpa")!, .ptr] = .delayed(.seconds(30), .records([.name(DNSName("example.com")!)]))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { await check(zone) }
        try? await Task.sleep(for: .milliseconds(50))
        task.cancel()
        let outcome = await task.value
        #expect(outcome.result == .temperror, "\(outcome.traceText)")
        #expect(outcome.problem?.contains("cancelled") == true)
        #expect(clock.now - start < .seconds(10))
    }

    @Test("CNAMEs are followed; a CNAME loop is a DNS error")
    func cnames() async {
        let zone = exampleZone(record: "v=spf1 a:alias.example.com include:looped.example.com -all")
        zone.alias(DNSName("alias.example.com")!, to: DNSName("mail.example.com")!)
        zone.alias(DNSName("looped.example.com")!, to: DNSName("loop.example.com")!)
        zone.alias(DNSName("loop.example.com")!, to: DNSName("looped.example.com")!)
        #expect(await check(zone).result == .pass)
        #expect(await check(zone, ip: "192.0.2.77").result == .temperror)
    }

    @Test("non-ASCII: in the record a permerror, elsewhere harmless")
    func nonASCII() async {
        #expect(await check(zone(record: "v=spf1 a:b\u{fc}cher.example.com -all")).result == .permerror)
        #expect(await check(zone(record: "v=spf1 ip4:192.0.2.1 \u{2013}all")).result == .permerror)

        let neighbours = FakeZone()
        neighbours.set("example.com", .txt, "v=spf1 ip4:192.0.2.1 -all", "\u{96}caf\u{e9} \u{1F600}")
        #expect(await check(neighbours).result == .pass)

        // A UTF-8 local-part expands into a name no DNS query can carry: no match, no crash.
        let local = zone(record: "v=spf1 exists:%{l}.list.example.net -all")
        let outcome = await check(local, sender: "j\u{f6}rg@example.com")
        #expect(outcome.result == .fail)
        #expect(local.queries == ["example.com/TXT"])
    }

    @Test("a 450-byte TXT record arrives as 255 + 195 bytes of character-strings, joined")
    func longRecord() async {
        // 376 bytes of terms, then trailing spaces (allowed, §4.5) up to 450.
        let terms = (1...20).map { "ip4:198.51.100.\($0)" } + ["ip4:192.0.2.1", "-all"]
        var record = "v=spf1 " + terms.joined(separator: " ")
        record += String(repeating: " ", count: 450 - record.utf8.count)
        #expect(record.utf8.count == 450)
        // The resolver hands over the concatenation of the character-strings (RFC 7208 §3.3):
        // no space is added at the split, which here falls inside a term.
        let bytes = Array(record.utf8)
        let strings = [String(decoding: bytes[..<255], as: UTF8.self), String(decoding: bytes[255...], as: UTF8.self)]
        #expect(strings[0].utf8.last != UInt8(ascii: " ") && strings[1].utf8.first != UInt8(ascii: " "))
        let zone = zone(record: strings.joined())
        let outcome = await check(zone)
        #expect(outcome.result == .pass)
        #expect(outcome.mechanism == "ip4:192.0.2.1")
        #expect(await check(zone, ip: "198.51.100.20").result == .pass)
    }
}

@Suite struct ExplanationTests {
    @Test("exp= is expanded with c, r, t and the rest (§6.2)")
    func expanded() async {
        let zone = zone(record: "v=spf1 -all exp=explain._spf.%{d}")
        zone.set("explain._spf.example.com", .txt, "%{i} is not one of %{d}'s senders (asked by %{r} at %{t}; %{c}, %{v})")
        let outcome = await check(zone, ip: "2001:db8::cb01", receiver: "mx.receiver.example", timestamp: 1_700_000_000)
        #expect(outcome.result == .fail)
        #expect(
            outcome.explanation
                == "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1 is not one of example.com's senders "
                + "(asked by mx.receiver.example at 1700000000; 2001:db8::cb01, ip6)")
    }

    @Test("explanations are for fail only, and their problems are ignored")
    func onlyForFail() async {
        let soft = zone(record: "v=spf1 ~all exp=why.example.com")
        soft.set("why.example.com", .txt, "go away")
        let softfail = await check(soft)
        #expect(softfail.result == .softfail)
        #expect(softfail.explanation == nil)
        #expect(!soft.queries.contains("why.example.com/TXT"))

        for why in [["one", "two"], [], ["caf\u{e9}"], ["bad %{x} macro"]] {
            let zone = zone(record: "v=spf1 -all exp=why.example.com")
            zone.set("why.example.com", .txt, why)
            let outcome = await check(zone)
            #expect(outcome.result == .fail)
            #expect(outcome.explanation == nil, "\(why)")
        }
        let down = zone(record: "v=spf1 -all exp=why.example.com")
        down.fail("why.example.com", .txt, .timeout(name: "why.example.com", type: .txt))
        #expect(await check(down).explanation == nil)
        #expect(await check(down).result == .fail)
    }

    @Test("an include's exp= is not used; a redirect's is, and the original's is not (§6.2)")
    func includeAndRedirect() async {
        let zone = zone(record: "v=spf1 include:inc.example.com exp=mine.example.com redirect=red.example.com")
        zone.set("inc.example.com", .txt, "v=spf1 -all exp=inc-why.example.com")
        zone.set("red.example.com", .txt, "v=spf1 -all exp=red-why.%{d}")
        zone.set("mine.example.com", .txt, "mine")
        zone.set("inc-why.example.com", .txt, "included")
        zone.set("red-why.red.example.com", .txt, "redirected, %{d}")
        let outcome = await check(zone)
        #expect(outcome.result == .fail)
        #expect(outcome.explanation == "redirected, red.example.com")
        #expect(outcome.mechanism == "-all")
    }

    @Test("what the envelope brings into an explanation is made printable ASCII")
    func printable() async {
        let zone = zone(record: "v=spf1 -all exp=why.example.com")
        zone.set("why.example.com", .txt, "rejected %{l} from %{h}")
        let outcome = await check(zone, sender: "j\u{f6}rg\u{7}@example.com", helo: "evil\r\nX-Injected: 1")
        #expect(outcome.explanation == "rejected j??rg? from evil??X-Injected: 1")
    }

    @Test("%{p} in an explanation: the validated name, else unknown")
    func validatedName() async {
        let zone = exampleZone(record: "v=spf1 -all exp=why.example.com")
        zone.set("why.example.com", .txt, "connect from %{p}")
        #expect(await check(zone).explanation == "connect from mail.example.com")
        #expect(await check(zone, ip: "192.0.2.2").explanation == "connect from unknown")
    }
}

@Suite struct TraceTests {
    @Test("the trace shows records, terms, DNS answers and nesting")
    func termByTerm() async {
        let zone = exampleZone(record: "v=spf1 a mx:nomx.example.com include:inc.example.com -all")
        let outcome = await check(zone)
        #expect(outcome.result == .pass)
        #expect(outcome.mechanism == "include:inc.example.com")
        let lines = outcome.trace.map(\.description)
        let expected = [
            "DNS TXT example.com: \"v=spf1 a mx:nomx.example.com include:inc.example.com -all\"",
            "example.com: record v=spf1 a mx:nomx.example.com include:inc.example.com -all",
            "DNS A example.com: NODATA",
            "a: example.com A -> NODATA (no match)",
            "DNS MX nomx.example.com: NXDOMAIN",
            "include:inc.example.com -> check_host(inc.example.com)",
            "  DNS TXT inc.example.com: \"v=spf1 ip4:192.0.2.1 -all\"",
            "  ip4:192.0.2.1 -> match",
            "include:inc.example.com -> pass (match)",
            "result: pass (include:inc.example.com)",
        ]
        for line in expected {
            #expect(lines.contains(line), "missing \"\(line)\" in\n\(outcome.traceText)")
        }
        #expect(outcome.trace.filter { $0.depth == 1 }.count >= 3)
    }

    @Test("the trace escapes what the DNS says")
    func escaped() async {
        let zone = FakeZone()
        zone.set("example.com", .txt, "v=spf1 a:x.example.com\r\nptr -all", "junk\u{1b}[2J")
        let outcome = await check(zone)
        #expect(outcome.result == .permerror)
        #expect(outcome.trace.allSatisfy { step in step.text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F } })
        #expect(outcome.traceText.contains("\\x0d"))
    }
}

@Suite struct SpaceNameTests {
    @Test("DNSName(permittingSpaces:) accepts a space and still refuses junk")
    func permittingSpaces() {
        #expect(DNSName(permittingSpaces: "a b.Example.com.")?.text == "a b.example.com")
        #expect(DNSName(permittingSpaces: "mail.example.com") == DNSName("mail.example.com"))
        #expect(DNSName("a b.example.com") == nil)
        for junk in ["a\tb.example.com", "a\\b.example.com", "caf\u{e9}.example.com", "a..example.com", "",
            String(repeating: "a", count: 64) + ".example.com", String(repeating: "a.", count: 127) + "aa"]
        {
            #expect(DNSName(permittingSpaces: junk) == nil, "\(junk)")
        }
    }
}
