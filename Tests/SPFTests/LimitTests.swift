import PolicyCore
import PolicyTesting
import SPF
import Testing

/// RFC 7208 §4.6.4 processing limits, and time and memory bounds whatever a record says.
@Suite struct LimitTests {
    @Test("the 11th DNS-querying term is a permerror; the 10th is fine")
    func dnsTermLimit() async {
        let ten = zone(record: "v=spf1 " + Array(repeating: "a", count: 10).joined(separator: " ") + " -all")
        ten.set("example.com", .a, "198.51.100.1")
        let atLimit = await check(ten)
        #expect(atLimit.result == .fail, "\(atLimit.traceText)")

        let eleven = zone(record: "v=spf1 " + Array(repeating: "a", count: 11).joined(separator: " ") + " -all")
        eleven.set("example.com", .a, "198.51.100.1")
        let over = await check(eleven)
        #expect(over.result == .permerror)
        #expect(over.problem?.contains("§4.6.4") == true)
        // The 11th term never queried.
        #expect(eleven.queries.filter { $0 == "example.com/A" }.count == 10)
    }

    @Test("include and redirect count too, across records")
    func termsCountAcrossIncludes() async {
        let zone = zone(record: "v=spf1 include:a.example.com include:b.example.com mx -all")
        zone.set("a.example.com", .txt, "v=spf1 a a a a ?all")  // 1 + 4
        zone.set("b.example.com", .txt, "v=spf1 a a a redirect=c.example.com")  // 1 + 3 + 1
        zone.set("c.example.com", .txt, "v=spf1 -all")
        for name in ["a.example.com", "b.example.com"] { zone.set(name, .a, "198.51.100.1") }
        // 1+4 + 1+3+1 = 10, so the mx after them is the 11th.
        let outcome = await check(zone)
        #expect(outcome.result == .permerror, "\(outcome.traceText)")
        #expect(outcome.problem?.contains("mx") == true)
    }

    @Test("ip4, ip6 and all do not count")
    func nonQueryingTermsDoNotCount() async {
        let terms = (1...30).map { "ip4:198.51.100.\($0)" } + Array(repeating: "a", count: 10) + ["ip6:2001:db8::/32", "-all"]
        let zone = zone(record: "v=spf1 " + terms.joined(separator: " "))
        zone.set("example.com", .a, "198.51.100.200")
        #expect(await check(zone).result == .fail)
    }

    @Test("the 3rd void lookup is a permerror; 2 are fine")
    func voidLookupLimit() async {
        let two = zone(record: "v=spf1 a:gone1.example.com exists:gone2.example.com -all")
        #expect(await check(two).result == .fail)

        let three = zone(record: "v=spf1 a:gone1.example.com mx:gone2.example.com exists:gone3.example.com -all")
        three.set("gone3.example.com", .txt, "not an address")  // exists, no A: NODATA is void too
        let outcome = await check(three)
        #expect(outcome.result == .permerror, "\(outcome.traceText)")
        #expect(outcome.problem?.contains("void") == true)
    }

    @Test("an exp= lookup does not count as a void lookup")
    func explanationIsNotVoid() async {
        let zone = zone(record: "v=spf1 a:gone1.example.com a:gone2.example.com exp=gone3.example.com -all")
        let outcome = await check(zone)
        #expect(outcome.result == .fail)
        #expect(outcome.explanation == nil)
    }

    @Test("11 MX names are a permerror for mx; 10 are looked up")
    func mxNameLimit() async {
        let eleven = zone(record: "v=spf1 mx -all")
        eleven.set("example.com", .mx, (0..<11).map { "\($0) mx\($0).example.com" })
        eleven.set("mx10.example.com", .a, "192.0.2.1")
        let over = await check(eleven)
        #expect(over.result == .permerror)
        #expect(over.problem?.contains("11 MX records") == true)

        let ten = zone(record: "v=spf1 mx -all")
        ten.set("example.com", .mx, (0..<10).map { "\($0) mx\($0).example.com" })
        ten.set("mx9.example.com", .a, "192.0.2.1")
        let atLimit = await check(ten)
        #expect(atLimit.result == .pass, "\(atLimit.traceText)")
        #expect(atLimit.mechanism == "mx")
    }

    @Test("only the first 10 PTR names are validated")
    func ptrNameLimit() async {
        let zone = zone(record: "v=spf1 ptr -all")
        zone.set("1.2.0.192.in-addr.arpa", .ptr, (0..<11).map { "host\($0).example.com" })
        zone.set("host10.example.com", .a, "192.0.2.1")
        #expect(await check(zone).result == .fail)
        zone.set("host9.example.com", .a, "192.0.2.1")
        #expect(await check(zone).result == .pass)
    }

    @Test("an include loop ends at the term limit")
    func includeLoop() async {
        let zone = zone(record: "v=spf1 include:loop.example.com -all")
        zone.set("loop.example.com", .txt, "v=spf1 include:example.com -all")
        let outcome = await check(zone)
        #expect(outcome.result == .permerror)
        #expect(zone.queries.count <= 11)

        let selfLoop = FakeZone()
        selfLoop.set("example.com", .txt, "v=spf1 redirect=example.com")
        #expect(await check(selfLoop).result == .permerror)
        #expect(selfLoop.queries.count <= 11)
    }

    @Test("a 1,000-term record is evaluated, and its DNS terms stop at 10")
    func thousandTerms() async {
        let clock = ContinuousClock()
        let start = clock.now
        let addresses = (0..<999).map { "ip4:198.51.\($0 / 250).\($0 % 250)" }
        let big = zone(record: "v=spf1 " + addresses.joined(separator: " ") + " ip4:192.0.2.1 -all")
        let outcome = await check(big)
        #expect(outcome.result == .pass)
        #expect(outcome.mechanism == "ip4:192.0.2.1")

        let lookups = zone(record: "v=spf1 " + (0..<1000).map { "a:h\($0).example.com" }.joined(separator: " "))
        for index in 0..<1000 { lookups.set("h\(index).example.com", .a, "198.51.100.1") }
        #expect(await check(lookups).result == .permerror)
        #expect(lookups.queries.count == 11)  // the TXT and 10 A
        #expect(clock.now - start < .seconds(5))
    }

    @Test("a macro bomb expands to at most 253 bytes of name")
    func macroBomb() async {
        let local = String(repeating: "abcdefghij", count: 5)  // 50 bytes: "<local>@example" is one 58-byte label
        let spec = Array(repeating: "%{l}", count: 50).joined(separator: ".") + ".%{s}.%{s}.%{s}.bomb.example.net"
        let zone = zone(record: "v=spf1 exists:\(spec) -all")
        let outcome = await check(zone, sender: "\(local)@example.com")
        #expect(outcome.result == .fail, "\(outcome.traceText)")
        let queried = zone.queries.filter { $0.hasSuffix("/A") }
        #expect(queried.count == 1, "\(outcome.traceText)")
        let name = queried.first.map { String($0.dropLast(2)) } ?? ""
        #expect(name.utf8.count <= 253)
        // Whole labels were dropped from the left: the longest suffix that fits is the three %{s}.
        #expect(name == Array(repeating: "\(local)@example.com", count: 3).joined(separator: ".") + ".bomb.example.net")
    }

    @Test("thousands of macros over a long sender cost only the tail they expand to")
    func bombCostsItsTail() async {
        let clock = ContinuousClock()
        let start = clock.now
        // 4,000 macros, each a 2,000-byte sender URL-escaped to 6,000 bytes: 24 MB if expanded.
        let spec = String(repeating: "%{S}", count: 4_000) + ".example.net"
        let zone = zone(record: "v=spf1 exists:\(spec) -all")
        let sender = String(repeating: "%", count: 2_000) + "@example.com"
        let outcome = await check(zone, sender: sender)
        #expect(outcome.result == .fail, "\(outcome.traceText)")
        // "...%25%40example.com.example.net", cut to whole labels.
        #expect(zone.queries == ["example.com/TXT", "com.example.net/A"])
        #expect(clock.now - start < .seconds(2))
    }

    @Test("macro work is capped even for a sender no MTA would pass")
    func expansionBudget() async {
        let clock = ContinuousClock()
        let start = clock.now
        // Each %{s1} reads a 200 KB sender to produce "com": the cap stops it at the 2nd.
        let spec = String(repeating: "%{s1}", count: 1_000) + ".example.net"
        let zone = zone(record: "v=spf1 exists:\(spec) -all")
        let sender = String(repeating: "x", count: 200_000) + "@example.com"
        let outcome = await check(zone, sender: sender)
        #expect(outcome.result == .permerror)
        #expect(outcome.problem?.contains("exceeds") == true)
        #expect(zone.queries.count == 1)
        #expect(clock.now - start < .seconds(2))
    }

    @Test("an explanation is cut at 800 bytes")
    func explanationBomb() async {
        let zone = zone(record: "v=spf1 -all exp=why.example.com")
        zone.set("why.example.com", .txt, String(repeating: "%{S}", count: 100))
        let outcome = await check(zone, sender: String(repeating: "x", count: 60) + "@example.com")
        #expect(outcome.result == .fail)
        #expect(outcome.explanation?.utf8.count == 800)
    }

    @Test("custom limits apply")
    func customLimits() async {
        let zone = zone(record: "v=spf1 a:gone1.example.com a -all")
        zone.set("example.com", .a, "192.0.2.1")
        #expect(await check(zone).result == .pass)
        #expect(await check(zone, limits: SPFLimits(voidLookups: 0)).result == .permerror)
        #expect(await check(zone, limits: SPFLimits(dnsTerms: 1)).result == .permerror)
    }
}
