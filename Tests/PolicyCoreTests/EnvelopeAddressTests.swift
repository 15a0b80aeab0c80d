import PolicyCore
import Testing

@Suite struct EnvelopeAddressTests {
    @Test(arguments: [
        ("<user@Example.COM>", "<user@example.com>"),
        ("user@example.com", "<user@example.com>"),
        ("<>", "<>"),
        ("", "<>"),
        ("<@relay.example:user@example.com>", "<user@example.com>"),
        ("<Postmaster>", "<Postmaster>"),
        ("<user@[192.0.2.1]>", "<user@[192.0.2.1]>"),
        ("<üser@exämple.com>", "<üser@exämple.com>"),
    ])
    func parsesValidPaths(_ input: String, _ expected: String) {
        let path = EnvelopeAddress(input)
        #expect(!path.isMalformed)
        #expect(path.description == expected)
    }

    @Test(arguments: [
        Array("<user@example.com".utf8), Array("<nodomain>".utf8), Array("<user@>".utf8), Array("<@example.com>".utf8),
        Array("<user@exa mple.com>".utf8), Array("<user@-bad.example>".utf8), [0x3C, 0x61, 0x00, 0x40, 0x62, 0x3E],
        [0x3C, 0x61, 0xFF, 0xFE, 0x40, 0x62, 0x3E], Array("<a@b>\r\nRCPT TO:<x@y>".utf8),
    ])
    func refusesMalformedPaths(_ bytes: [UInt8]) {
        let path = EnvelopeAddress(raw: bytes)
        #expect(path.isMalformed)
        // Whatever came in, the printable form holds no control byte (log lines stay single lines).
        #expect(!path.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
    }

    @Test func escapesUnprintableBytesForLogs() {
        #expect(LogSafe.escape([0x61, 0x00, 0x62, 0xFF]) == "a\\x00b\\xff")
        #expect(LogSafe.escape("line\r\nnext") == "line\\x0d\\x0anext")
        #expect(LogSafe.escape("plain text") == "plain text")
    }
}
