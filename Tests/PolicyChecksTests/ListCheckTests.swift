import PolicyChecks
import PolicyCore
import PolicyEngine
import PolicyTesting
import Testing

@Suite struct ListMatcherTests {
    @Test(arguments: [
        ("192.0.2.1", true), ("192.0.2.200", false), ("198.51.100.77", true), ("198.51.101.1", false),
        ("2001:db8::25", true), ("2001:db9::1", false), ("::ffff:198.51.100.3", true),
    ])
    func networkSetMatches(_ ip: String, _ expected: Bool) throws {
        var set = NetworkSet()
        for entry in ["192.0.2.1", "198.51.100.0/24", "2001:db8::/32"] { try set.add(entry) }
        #expect((set.firstMatch(IPAddress(ip)!) != nil) == expected)
    }

    @Test(arguments: [
        ("bad.example", "bad.example"), ("BAD.EXAMPLE.", "bad.example"), ("mx.evil.example", ".evil.example"),
        ("evil.example", nil), ("spammer42.example", "/^spam/"), ("good.example", nil), ("[192.0.2.1]", "[192.0.2.1]"),
    ] as [(String, String?)])
    func nameMatcherMatches(_ name: String, _ expected: String?) throws {
        var matcher = NameMatcher()
        for entry in ["bad.example", ".evil.example", "/^spam/", "[192.0.2.1]"] { try matcher.add(entry) }
        #expect(matcher.firstMatch(name) == expected)
    }

    @Test(arguments: [
        ("<Bad@Example.com>", "bad@example.com"), ("<x@domain.example>", "@domain.example"),
        ("<x@plain.example>", "@plain.example"), ("<x@deep.sub.example>", ".sub.example"),
        ("<x@sub.example>", nil), ("<postmaster@anywhere.example>", "postmaster@"), ("<>", "<>"),
        ("<promo-123@news.example>", "/^promo-[0-9]+@/"), ("<ok@example.org>", nil),
    ] as [(String, String?)])
    func addressMatcherMatches(_ address: String, _ expected: String?) throws {
        var matcher = AddressMatcher()
        for entry in [
            "bad@example.com", "@domain.example", "plain.example", ".sub.example", "postmaster@", "<>",
            "/^promo-[0-9]+@/",
        ] { try matcher.add(entry) }
        #expect(matcher.firstMatch(EnvelopeAddress(address)) == expected)
    }

    @Test(arguments: ["/(/", "@@", ".", "a@b@", "not a domain", "//"])
    func addressMatcherRefusesBadEntries(_ entry: String) {
        var matcher = AddressMatcher()
        #expect(throws: ListEntryError.self) { try matcher.add(entry) }
    }

    @Test(arguments: ["300.1.1.1", "10.0.0.0/33", "example.com", ""])
    func networkSetRefusesBadEntries(_ entry: String) {
        var set = NetworkSet()
        #expect(throws: ListEntryError.self) { try set.add(entry) }
    }

    @Test func malformedAddressesNeverMatch() throws {
        var matcher = AddressMatcher()
        try matcher.add("/.*/")
        #expect(matcher.firstMatch(EnvelopeAddress(raw: [0x3C, 0x00, 0x3E])) == nil)
    }
}

@Suite struct ListCheckTests {
    @Test func clientDenyRejectsWithTheCatalogueReply() async throws {
        let check = ClientListCheck(name: "client_deny", kind: .deny, networks: NetworkSet([IPNetwork("192.0.2.0/24")!]))
        let verdict = try await check.evaluate(TransactionBuilder().client("192.0.2.66").build())
        guard case .reject(let reply, _) = verdict else {
            Issue.record("expected a reject, got \(verdict)")
            return
        }
        #expect(reply == .clientDenied)
        #expect(try await check.evaluate(TransactionBuilder().client("198.51.100.1").build()) == .dunno)
        #expect(try await check.evaluate(Transaction()) == .dunno)
    }

    @Test func allowListsAccept() async throws {
        var matcher = AddressMatcher()
        try matcher.add("@partner.example")
        let check = AddressListCheck(name: "sender_allow", role: .sender, kind: .allow, addresses: matcher)
        let verdict = try await check.evaluate(TransactionBuilder().from("a@partner.example").build())
        guard case .accept = verdict else {
            Issue.record("expected accept, got \(verdict)")
            return
        }
        #expect(check.stage == .mail)
    }

    @Test func recipientListLooksAtTheCurrentRecipient() async throws {
        var matcher = AddressMatcher()
        try matcher.add("nobody@example.com")
        let check = AddressListCheck(name: "recipient_deny", role: .recipient, kind: .deny, addresses: matcher)
        #expect(check.stage == .rcpt)
        let hit = try await check.evaluate(TransactionBuilder().from("nobody@example.com").rcpt("x@example.com").build())
        #expect(hit == .dunno)
        let verdict = try await check.evaluate(TransactionBuilder().rcpt("Nobody@Example.com").build())
        #expect(verdict == .reject(.recipientDenied, because: "recipient <Nobody@example.com> matches nobody@example.com"))
    }

    @Test(arguments: [("mx.example", true), ("vm", true), ("[192.0.2.1]", true), ("", false), ("!!!", false),
        ("a..b", false), ("[300.1.1.1]", false), ("bad_host.example", true)])
    func heloSyntax(_ helo: String, _ valid: Bool) async throws {
        let verdict = try await HeloSyntaxCheck().evaluate(TransactionBuilder().helo(helo).build())
        #expect((verdict == .dunno) == valid)
    }

    @Test func senderSyntaxRefusesMalformedPaths() async throws {
        let check = AddressSyntaxCheck(name: "sender_syntax", role: .sender)
        var tx = Transaction()
        tx.sender = EnvelopeAddress(raw: Array("<a\u{0}b@example.com>".utf8))
        guard case .reject(let reply, _) = try await check.evaluate(tx) else {
            Issue.record("expected a reject")
            return
        }
        #expect(reply == .senderInvalid)
        tx.sender = .null
        #expect(try await check.evaluate(tx) == .dunno)
    }
}
