import PolicyCore
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("192.0.2.1", "192.0.2.1"),
        ("[192.0.2.1]", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("IPv6:2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("[IPv6:2001:db8::25]", "2001:db8::25"),
        ("::", "::"),
        ("::1", "::1"),
        ("2001:db8::", "2001:db8::"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
    ])
    func parsesAndFormats(_ input: String, _ expected: String) {
        #expect(IPAddress(input)?.description == expected)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "2001:db8:::1", "1::2::3", "12345::",
        "g::1", "1:2:3:4:5:6:7:8:9", "localhost", "1.2.3.4\0", "[1.2.3.4",
    ])
    func refusesGarbage(_ input: String) {
        #expect(IPAddress(input) == nil)
    }

    @Test func networksContainTheirAddresses() throws {
        let v4 = try #require(IPNetwork("192.0.2.0/24"))
        #expect(v4.contains(IPAddress("192.0.2.255")!))
        #expect(!v4.contains(IPAddress("192.0.3.0")!))
        #expect(!v4.contains(IPAddress("2001:db8::1")!))
        let v6 = try #require(IPNetwork("2001:db8::/32"))
        #expect(v6.contains(IPAddress("2001:db8:ffff::1")!))
        #expect(!v6.contains(IPAddress("2001:db9::1")!))
        #expect(IPNetwork("192.0.2.77/24")?.description == "192.0.2.0/24")
        #expect(IPNetwork("0.0.0.0/0")!.contains(IPAddress("203.0.113.9")!))
        #expect(IPNetwork("10.0.0.0/33") == nil)
        #expect(IPNetwork("10.0.0.0/") == nil)
        #expect(IPNetwork("::/129") == nil)
    }
}

@Suite struct DNSNameTests {
    @Test(arguments: [
        "", ".", "a..b", ".a", String(repeating: "a", count: 64) + ".example",
        (0..<4).map { _ in String(repeating: "x", count: 63) }.joined(separator: ".") + ".example",
        "bad name.example", "tab\there.example", "back\\slash.example", "ümlaut.example",
    ])
    func refusesNamesThatCannotBeAsked(_ text: String) {
        #expect(DNSName(text) == nil)
    }

    @Test func normalisesCaseAndTheTrailingDot() {
        #expect(DNSName("MX.Example.TEST.")?.text == "mx.example.test")
        #expect(DNSName(String(repeating: "a", count: 63) + ".example")?.labels.count == 2)
    }

    @Test func reverseNamesForBothFamilies() {
        #expect(DNSName.reverse(IPAddress("192.0.2.1")!).text == "1.2.0.192.in-addr.arpa")
        #expect(
            DNSName.reverse(IPAddress("2001:db8::1")!).text
                == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
    }
}
