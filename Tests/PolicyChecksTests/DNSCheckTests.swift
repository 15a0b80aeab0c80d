import PolicyChecks
import PolicyCore
import PolicyEngine
import PolicyTesting
import Synchronization
import Testing

/// Collects warnings a check emits.
final class Warnings: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var sink: @Sendable (String) -> Void { { [self] line in self.lines.withLock { $0.append(line) } } }
}

func client(_ ip: String, helo: String? = nil, from: String? = nil) -> Transaction {
    var b = TransactionBuilder().client(ip)
    if let helo { b = b.helo(helo) }
    if let from { b = b.from(from) }
    return b.build()
}

func replyOf(_ verdict: Verdict) -> SMTPReply? {
    if case .reject(let reply, _) = verdict { return reply }
    return nil
}

@Suite struct FCrDNSCheckTests {
    let zone = FakeZone()

    init() {
        zone.set("20.2.0.192.in-addr.arpa", .ptr, "good.example.test")
        zone.set("good.example.test", .a, "192.0.2.20")
        zone.set("21.2.0.192.in-addr.arpa", .ptr, "mismatch.example.test")
        zone.set("mismatch.example.test", .a, "192.0.2.99")
        zone.set("22.2.0.192.in-addr.arpa", .ptr, "dyn-192-0-2-22.example.test")
        zone.set("dyn-192-0-2-22.example.test", .a, "192.0.2.22")
        zone.set("27.2.0.192.in-addr.arpa", .ptr, "broken.example.test", "other.example.test")
        zone.fail("broken.example.test", .a, .serverFailure(name: "broken.example.test", type: .a))
        zone.set("other.example.test", .a, "192.0.2.27")
        zone.set(DNSName.reverse(IPAddress("2001:db8::10")!).text, .ptr, "mx.example.test")
        zone.set("mx.example.test", .aaaa, "2001:db8::10")
        zone.fail("28.2.0.192.in-addr.arpa", .ptr, .timeout(name: "28.2.0.192.in-addr.arpa", type: .ptr))
    }

    @Test func confirmedNameIsNotedForLaterChecks() async throws {
        let check = FCrDNSCheck(resolver: zone)
        #expect(try await check.evaluate(client("192.0.2.20")) == .note("client_name", "good.example.test"))
        #expect(try await check.evaluate(client("2001:db8::10")) == .note("client_name", "mx.example.test"))
        // One name fails, another confirms: confirmed.
        #expect(try await check.evaluate(client("192.0.2.27")) == .note("client_name", "other.example.test"))
    }

    @Test func noPTRAndUnconfirmedAreTempfailedWithTheCatalogueReply() async throws {
        let check = FCrDNSCheck(resolver: zone)
        let noPTR = try await check.evaluate(client("192.0.2.23"))
        #expect(replyOf(noPTR) == .reverseDNSMissing)
        let unconfirmed = try await check.evaluate(client("192.0.2.21"))
        #expect(replyOf(unconfirmed) == .reverseDNSMissing)
        #expect(replyOf(try await check.evaluate(client("2001:db8::23"))) == .reverseDNSMissing)
    }

    @Test func outcomesMapToTheirOwnActions() async throws {
        let check = FCrDNSCheck(resolver: zone, noPTR: .continue, unconfirmed: .reject)
        #expect(try await check.evaluate(client("192.0.2.23")) == .dunno)
        #expect(replyOf(try await check.evaluate(client("192.0.2.21")))?.code == 550)
    }

    @Test func genericNamesCanBeRefused() async throws {
        var patterns = PatternList()
        _ = try patterns.add("/^dyn-/")
        let check = FCrDNSCheck(resolver: zone, generic: .reject, genericPatterns: patterns)
        #expect(replyOf(try await check.evaluate(client("192.0.2.22")))?.enhanced == "5.7.25")
        #expect(try await check.evaluate(client("192.0.2.20")) == .note("client_name", "good.example.test"))
    }

    @Test func temporaryFailuresThrowForOnError() async {
        let check = FCrDNSCheck(resolver: zone)
        await #expect(throws: DNSError.self) { try await check.evaluate(client("192.0.2.28")) }
    }
}

@Suite struct DNSListCheckTests {
    let zone = FakeZone()
    let bl = DNSListZone(zone: DNSName("bl.example.test")!)
    let wl = DNSListZone(zone: DNSName("wl.example.test")!, weight: -2)

    init() {
        zone.set("24.2.0.192.bl.example.test", .a, "127.0.0.2")
        zone.set("24.2.0.192.bl.example.test", .txt, "192.0.2.24 is listed")
        zone.set("25.2.0.192.bl.example.test", .a, "127.0.0.4")
        zone.set("26.2.0.192.bl.example.test", .a, "127.0.0.2")
        zone.set("26.2.0.192.wl.example.test", .a, "127.0.10.2")
        zone.set("29.2.0.192.bl.example.test", .a, "192.0.2.1")
        zone.set("*.refused.example.test", .a, "127.255.255.254")
        zone.set("24.2.0.192.refused.example.test", .a, "127.255.255.254")
        zone.set("1.0.0.127.wild.example.test", .a, "127.0.0.2")
        zone.set("24.2.0.192.wild.example.test", .a, "127.0.0.2")
        zone.fail("30.2.0.192.bl.example.test", .a, .timeout(name: "30.2.0.192.bl.example.test", type: .a))
        zone.set(DNSName.reversedLabels(IPAddress("2001:db8::24")!) + ".bl.example.test", .a, "127.0.0.2")
        zone.set("spammy.example.test.rhsbl.example.test", .a, "127.0.0.2")
        zone.set("spammy.example.test.rhsbl.example.test", .txt, "spammy domain")
    }

    func check(_ zones: [DNSListZone], target: DNSListCheck.Target = .client, permanent: Bool = false, warnings: Warnings = Warnings()) -> DNSListCheck {
        DNSListCheck(name: "dnsbl", target: target, zones: zones, permanent: permanent, resolver: zone, warn: warnings.sink)
    }

    @Test func listedClientGetsTheListAndItsTXTInTheReply() async throws {
        let verdict = try await check([bl]).evaluate(client("192.0.2.24"))
        #expect(replyOf(verdict)?.description == "451 4.7.1 Listed on bl.example.test: 192.0.2.24 is listed")
        let permanent = try await check([bl], permanent: true).evaluate(client("192.0.2.24"))
        #expect(replyOf(permanent)?.code == 554)
        #expect(replyOf(try await check([bl]).evaluate(client("2001:db8::24"))) != nil)
        #expect(try await check([bl]).evaluate(client("192.0.2.23")) == .dunno)
    }

    @Test func returnCodeFiltersSelectListings() async throws {
        let filtered = DNSListZone(zone: DNSName("bl.example.test")!, filter: ReturnCodeFilter(ranges: [ReturnCodeFilter.range("127.0.0.2-127.0.0.3")!]))
        #expect(try await check([filtered]).evaluate(client("192.0.2.25")) == .dunno)
        #expect(replyOf(try await check([filtered]).evaluate(client("192.0.2.24"))) != nil)
        let mask = DNSListZone(zone: DNSName("bl.example.test")!, filter: ReturnCodeFilter(bitmask: 4))
        #expect(replyOf(try await check([mask]).evaluate(client("192.0.2.25"))) != nil)
        #expect(try await check([mask]).evaluate(client("192.0.2.24")) == .dunno)
    }

    @Test func refusedAndInvalidAnswersAreNeverListings() async throws {
        let warnings = Warnings()
        let refused = DNSListZone(zone: DNSName("refused.example.test")!)
        #expect(try await check([refused], warnings: warnings).evaluate(client("192.0.2.24")) == .dunno)
        #expect(try await check([bl], warnings: warnings).evaluate(client("192.0.2.29")) == .dunno)
        #expect(warnings.all.count == 2)
        #expect(warnings.all[0].contains("127.255.255.254"))
        #expect(warnings.all[1].contains("outside 127.0.0.0/8"))
    }

    @Test func refusedWarningsAreRateLimitedPerZone() async throws {
        let warnings = Warnings()
        let c = check([DNSListZone(zone: DNSName("refused.example.test")!)], warnings: warnings)
        for _ in 0..<5 { _ = try await c.evaluate(client("192.0.2.24")) }
        #expect(warnings.all.count == 1)
    }

    @Test func aZoneThatListsTheTestPointIsIgnored() async throws {
        let warnings = Warnings()
        let wild = DNSListZone(zone: DNSName("wild.example.test")!)
        #expect(try await check([wild], warnings: warnings).evaluate(client("192.0.2.24")) == .dunno)
        #expect(warnings.all.first?.contains("RFC 5782") == true)
    }

    @Test func whitelistWeightsCancelAndAccept() async throws {
        let cancel = DNSListZone(zone: DNSName("wl.example.test")!, weight: -1)
        #expect(try await check([bl, cancel]).evaluate(client("192.0.2.26")) == .dunno)
        guard case .accept = try await check([bl, wl]).evaluate(client("192.0.2.26")) else {
            Issue.record("a DNSWL weight of -2 should accept")
            return
        }
        let acceptZone = DNSListZone(zone: DNSName("wl.example.test")!, action: .accept)
        guard case .accept = try await check([acceptZone, bl]).evaluate(client("192.0.2.26")) else {
            Issue.record("an accept zone should accept")
            return
        }
    }

    @Test func perZoneActionsDecideAlone() async throws {
        let reject = DNSListZone(zone: DNSName("bl.example.test")!, action: .reject)
        #expect(replyOf(try await check([reject]).evaluate(client("192.0.2.24")))?.code == 554)
        let tempfail = DNSListZone(zone: DNSName("bl.example.test")!, action: .tempfail)
        #expect(replyOf(try await check([tempfail], permanent: true).evaluate(client("192.0.2.24")))?.code == 451)
    }

    @Test func zonesAreAskedTogetherAndErrorsOnlyMatterWhenUndecided() async throws {
        let other = DNSListZone(zone: DNSName("wl.example.test")!)
        await #expect(throws: DNSError.self) { try await check([bl, other]).evaluate(client("192.0.2.30")) }
        // Listed elsewhere: the failing zone does not matter.
        zone.fail("24.2.0.192.wl.example.test", .a, .serverFailure(name: "x", type: .a))
        #expect(replyOf(try await check([other, bl]).evaluate(client("192.0.2.24"))) != nil)
    }

    @Test func domainListsLookUpSenderDomainAndHeloName() async throws {
        let rhsbl = DNSListZone(zone: DNSName("rhsbl.example.test")!)
        let sender = check([rhsbl], target: .senderDomain)
        #expect(sender.stage == .mail)
        let verdict = try await sender.evaluate(client("192.0.2.1", from: "a@Spammy.example.test"))
        #expect(replyOf(verdict)?.text == "Listed on rhsbl.example.test: spammy domain")
        #expect(try await sender.evaluate(client("192.0.2.1", from: "<>")) == .dunno)
        let helo = check([rhsbl], target: .heloName)
        #expect(replyOf(try await helo.evaluate(client("192.0.2.1", helo: "spammy.example.test"))) != nil)
        #expect(try await helo.evaluate(client("192.0.2.1", helo: "[192.0.2.1]")) == .dunno)
    }

    @Test func overlongNamesAreNotAsked() async throws {
        // 243 bytes: a valid sender domain, but too long once the 18-byte zone is appended.
        let long = (0..<4).map { String(repeating: Character(UnicodeScalar(97 + $0)!), count: 59) }.joined(separator: ".") + ".example"
        let before = zone.queries.count
        let sender = check([DNSListZone(zone: DNSName("rhsbl.example.test")!)], target: .senderDomain)
        #expect(try await sender.evaluate(client("192.0.2.1", from: "a@\(long)")) == .dunno)
        #expect(zone.queries.count - before <= 1)  // at most the zone's test-point probe
    }
}

@Suite struct SenderDomainCheckTests {
    let zone = FakeZone()
    init() {
        zone.set("withmx.example.test", .mx, "10 mx.example.test")
        zone.set("aonly.example.test", .a, "192.0.2.30")
        zone.set("nomx.example.test", .txt, "exists")
        zone.set("nullmx.example.test", .mx, "0 .")
        zone.fail("slow.example.test", .mx, .timeout(name: "slow.example.test", type: .mx))
    }

    @Test(arguments: [
        ("a@withmx.example.test", nil), ("a@aonly.example.test", nil), ("a@nomx.example.test", "5.1.8"),
        ("a@missing.example.test", "5.1.8"), ("a@nullmx.example.test", "5.7.27"), ("<>", nil),
        ("a@[192.0.2.1]", nil),
    ] as [(String, String?)])
    func senderDomains(_ sender: String, _ enhanced: String?) async throws {
        let verdict = try await SenderDomainCheck(resolver: zone).evaluate(client("192.0.2.1", from: sender))
        #expect(replyOf(verdict)?.enhanced == enhanced)
    }

    @Test func timeoutsThrow() async {
        await #expect(throws: DNSError.self) {
            try await SenderDomainCheck(resolver: zone).evaluate(client("192.0.2.1", from: "a@slow.example.test"))
        }
    }
}

@Suite struct HeloCheckTests {
    @Test(arguments: [
        ("mx.example.test", "192.0.2.50", true), ("MX.Example.Test.", "192.0.2.50", true),
        ("a.ours.example.test", "192.0.2.50", true), ("[192.0.2.10]", "192.0.2.50", true),
        ("192.0.2.10", "192.0.2.50", true), ("mx.example.test", "192.0.2.10", false),
        ("other.example.test", "192.0.2.50", false),
    ])
    func heloOurs(_ helo: String, _ ip: String, _ refused: Bool) async throws {
        var names = NameMatcher()
        try names.add("mx.example.test")
        try names.add(".ours.example.test")
        var addresses = NetworkSet()
        try addresses.add("192.0.2.10")
        let check = HeloOursCheck(names: names, addresses: addresses)
        let verdict = try await check.evaluate(client(ip, helo: helo))
        #expect((replyOf(verdict) == .heloDenied) == refused)
    }

    @Test func literalMustBeTheClientAddress() async throws {
        let check = HeloLiteralCheck()
        #expect(replyOf(try await check.evaluate(client("192.0.2.20", helo: "[192.0.2.99]"))) == .heloMismatch)
        #expect(try await check.evaluate(client("192.0.2.20", helo: "[192.0.2.20]")) == .dunno)
        #expect(try await check.evaluate(client("2001:db8::1", helo: "[IPv6:2001:DB8::1]")) == .dunno)
        #expect(try await check.evaluate(client("192.0.2.20", helo: "mx.example.test")) == .dunno)
    }

    @Test func fqdn() async throws {
        let check = HeloFQDNCheck()
        #expect(replyOf(try await check.evaluate(client("192.0.2.20", helo: "vm"))) == .heloInvalid)
        #expect(try await check.evaluate(client("192.0.2.20", helo: "vm.example.")) == .dunno)
        #expect(try await check.evaluate(client("192.0.2.20", helo: "[192.0.2.20]")) == .dunno)
    }

    @Test func heloNameMustResolveToTheClient() async throws {
        let zone = FakeZone()
        zone.set("helo.example.test", .a, "192.0.2.20")
        zone.fail("slow.example.test", .a, .timeout(name: "slow.example.test", type: .a))
        let check = HeloAddressCheck(resolver: zone)
        #expect(try await check.evaluate(client("192.0.2.20", helo: "helo.example.test")) == .dunno)
        #expect(replyOf(try await check.evaluate(client("192.0.2.21", helo: "helo.example.test"))) == .heloMismatch)
        #expect(replyOf(try await check.evaluate(client("192.0.2.21", helo: "nowhere.example.test"))) == .heloMismatch)
        await #expect(throws: DNSError.self) { try await check.evaluate(client("192.0.2.21", helo: "slow.example.test")) }
    }
}
