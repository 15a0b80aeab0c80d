import PolicyCore

/// The zones the test NSD serves. `.test` and the documentation reverse zones are answered by
/// unbound itself unless made transparent (`TestZone.transparent`).
struct TestZone: Sendable {
    let origin: String
    let text: String

    static let all = [test, reverseIPv4, reverseIPv6]

    /// The settings that lift unbound's built-in answers for these zones.
    static let transparent = all.map(\.origin)

    static func header(_ origin: String) -> String {
        """
        $ORIGIN \(origin)
        $TTL 300
        @ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
        @ IN NS ns.test.

        """
    }

    /// `n0.bulk.test` … `n199.bulk.test`: A 10.0.<i / 256>.<i % 256>.
    static let bulkCount = 200

    static let test = TestZone(
        origin: "test.",
        text: header("test.") + """
            ns IN A 127.0.0.1
            host IN A 192.0.2.1
            host IN A 192.0.2.2
            host IN AAAA 2001:db8::1
            mapped IN AAAA ::ffff:192.0.2.3
            spf IN TXT "v=spf1 ip4:192.0.2.0/24 " "include:_spf.test" " -all"
            two IN TXT "first"
            two IN TXT "second"
            ; é (C3 A9) split across two strings; then a byte that is not UTF-8.
            utf8 IN TXT "caf\\195" "\\169"
            latin1 IN TXT "caf\\233"
            empty IN TXT ""
            mx IN MX 10 mail.test.
            mx IN MX 20 backup.test.
            nullmx IN MX 0 .
            alias IN CNAME alias2
            alias2 IN CNAME host
            dangling IN CNAME missing.test.
            cached IN A 192.0.2.77
            shortlived 1 IN A 192.0.2.78
            *.wild IN A 192.0.2.99
            badmx IN MX 10 bad\\032name.test.

            """
            + (0..<bulkCount).map { "n\($0).bulk IN A 10.0.\($0 / 256).\($0 % 256)" }.joined(separator: "\n") + "\n")

    static let reverseIPv4 = TestZone(
        origin: "2.0.192.in-addr.arpa.",
        text: header("2.0.192.in-addr.arpa.") + """
            1 IN PTR host.test.
            2 IN PTR host.test.
            2 IN PTR other.test.
            9 IN PTR bad\\.label.test.

            """)

    static let reverseIPv6 = TestZone(
        origin: "8.b.d.0.1.0.0.2.ip6.arpa.",
        text: header("8.b.d.0.1.0.0.2.ip6.arpa.")
            + "\(DNSName.reverse(IPAddress("2001:db8::1")!).text). IN PTR host.test.\n")
}
