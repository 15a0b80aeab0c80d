import PolicyCore
import Testing

@testable import DNSResolverC

/// The rdata decoder and the `ub_result` → answer mapping, fed directly (no libunbound).
@Suite struct RecordDataTests {
    static let query = DNSName("q.example")!

    static func wire(_ name: String) -> [UInt8] { DNSWire.name(name) }

    struct DecodeCase: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let type: DNSRecordType
        let rdata: [UInt8]
        let expected: DNSRecord?
    }

    static let decodeCases: [DecodeCase] = [
        .init(testDescription: "an A record is 4 bytes", type: .a, rdata: [192, 0, 2, 1], expected: .address(IPAddress("192.0.2.1")!)),
        .init(testDescription: "an A record of 3 bytes is malformed", type: .a, rdata: [192, 0, 2], expected: nil),
        .init(testDescription: "an A record of 5 bytes is malformed", type: .a, rdata: [192, 0, 2, 1, 0], expected: nil),
        .init(
            testDescription: "an AAAA record is 16 bytes", type: .aaaa,
            rdata: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1],
            expected: .address(IPAddress("2001:db8::1")!)),
        .init(testDescription: "an AAAA record of 4 bytes is malformed", type: .aaaa, rdata: [192, 0, 2, 1], expected: nil),
        .init(
            testDescription: "TXT strings of one record are concatenated", type: .txt,
            rdata: [3] + Array("v=s".utf8) + [4] + Array("pf1 ".utf8) + [0] + [4] + Array("-all".utf8),
            expected: .text("v=spf1 -all")),
        .init(
            testDescription: "a UTF-8 character split across two TXT strings survives", type: .txt,
            rdata: [4, 0x63, 0x61, 0x66, 0xC3, 1, 0xA9], expected: .text("café")),
        .init(testDescription: "a byte that is not UTF-8 becomes U+FFFD", type: .txt, rdata: [2, 0x61, 0xFF], expected: .text("a\u{FFFD}")),
        .init(testDescription: "a TXT record of one empty string is an empty text", type: .txt, rdata: [0], expected: .text("")),
        .init(testDescription: "TXT with no string at all is malformed", type: .txt, rdata: [], expected: nil),
        .init(testDescription: "a TXT string longer than the rdata is malformed", type: .txt, rdata: [5, 0x61, 0x62], expected: nil),
        .init(
            testDescription: "an MX record is a preference and a name", type: .mx, rdata: [0, 10] + wire("Mail.Example.org"),
            expected: .mx(MXRecord(preference: 10, exchange: DNSName("mail.example.org")))),
        .init(
            testDescription: "an MX to the root is the null MX", type: .mx, rdata: [0, 0, 0],
            expected: .mx(MXRecord(preference: 0, exchange: nil))),
        .init(testDescription: "an MX without its name is malformed", type: .mx, rdata: [0, 10], expected: nil),
        .init(
            testDescription: "a compression pointer in an MX name is malformed", type: .mx, rdata: [0, 10, 0xC0, 12],
            expected: nil),
        .init(
            testDescription: "a name without its root label is malformed", type: .ptr, rdata: [4] + Array("host".utf8),
            expected: nil),
        .init(testDescription: "bytes after the name are malformed", type: .ptr, rdata: wire("host.test") + [0], expected: nil),
        .init(
            testDescription: "a label longer than the rdata is malformed", type: .ptr, rdata: [9] + Array("host".utf8) + [0],
            expected: nil),
        .init(
            testDescription: "a PTR record is a name", type: .ptr, rdata: wire("host.test"),
            expected: .name(DNSName("host.test")!)),
        .init(testDescription: "a PTR to the root is malformed", type: .ptr, rdata: [0], expected: nil),
        .init(
            testDescription: "a label with a dot in it is malformed", type: .ptr, rdata: [3] + Array("a.b".utf8) + [0],
            expected: nil),
        .init(
            testDescription: "a label with a space in it is malformed", type: .ptr, rdata: [3] + Array("a b".utf8) + [0],
            expected: nil),
        .init(
            testDescription: "a name longer than 253 characters is malformed", type: .ptr,
            rdata: Array(repeating: [63] + [UInt8](repeating: 0x61, count: 63), count: 4).flatMap { $0 } + [0],
            expected: nil),
    ]

    @Test(arguments: decodeCases)
    func decodes(_ c: DecodeCase) {
        #expect(RecordData.decode(c.type, c.rdata[...]) == c.expected)
    }

    struct OutcomeCase: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let outcome: UnboundOutcome
        let type: DNSRecordType
        let expected: Result<DNSAnswer, DNSError>
    }

    static let name = query.text

    static let outcomeCases: [OutcomeCase] = [
        .init(
            testDescription: "NOERROR with records is an answer",
            outcome: UnboundOutcome(rcode: 0, haveData: true, rdata: [[192, 0, 2, 1], [192, 0, 2, 2]]), type: .a,
            expected: .success(.records([.address(IPAddress("192.0.2.1")!), .address(IPAddress("192.0.2.2")!)]))),
        .init(
            testDescription: "NOERROR without records is NODATA", outcome: UnboundOutcome(rcode: 0), type: .a,
            expected: .success(.noData)),
        .init(
            testDescription: "NXDOMAIN is an answer", outcome: UnboundOutcome(rcode: 3, nxdomain: true), type: .mx,
            expected: .success(.noSuchName)),
        .init(
            testDescription: "SERVFAIL is a server failure", outcome: UnboundOutcome(rcode: 2), type: .txt,
            expected: .failure(.serverFailure(name: name, type: .txt))),
        .init(
            testDescription: "REFUSED is refused", outcome: UnboundOutcome(rcode: 5), type: .a,
            expected: .failure(.refused(name: name, type: .a))),
        .init(
            testDescription: "FORMERR is refused", outcome: UnboundOutcome(rcode: 1), type: .a,
            expected: .failure(.refused(name: name, type: .a))),
        .init(
            testDescription: "NOTIMP is refused", outcome: UnboundOutcome(rcode: 4), type: .a,
            expected: .failure(.refused(name: name, type: .a))),
        .init(
            testDescription: "an unexpected RCODE is a server failure", outcome: UnboundOutcome(rcode: 9), type: .a,
            expected: .failure(.serverFailure(name: name, type: .a))),
        .init(
            testDescription: "a DNSSEC-bogus answer is a server failure",
            outcome: UnboundOutcome(rcode: 0, haveData: true, bogus: true, rdata: [[192, 0, 2, 1]]), type: .a,
            expected: .failure(.serverFailure(name: name, type: .a))),
        .init(
            testDescription: "one malformed record makes the answer malformed",
            outcome: UnboundOutcome(rcode: 0, haveData: true, rdata: [[192, 0, 2, 1], [192, 0, 2]]), type: .a,
            expected: .failure(.malformedAnswer(name: name, type: .a))),
        .init(
            testDescription: "libunbound's own SERVFAIL error is a server failure", outcome: UnboundOutcome(error: -4),
            type: .a, expected: .failure(.serverFailure(name: name, type: .a))),
    ]

    @Test(arguments: outcomeCases)
    func maps(_ c: OutcomeCase) {
        #expect(c.outcome.answer(name: RecordDataTests.query, type: c.type) == c.expected)
    }

    @Test func otherLibunboundErrorsMakeTheResolverUnavailable() {
        let result = UnboundOutcome(error: -2).answer(name: RecordDataTests.query, type: .a)
        guard case .failure(.unavailable(let why)) = result else {
            Issue.record("expected .unavailable, got \(result)")
            return
        }
        #expect(why.contains("q.example"))
    }

    @Test func deadlineQueueSkipsAndCompacts() {
        var queue = DeadlineQueue()
        let start = ContinuousClock.now
        for token in 0..<3000 { queue.append(start + .milliseconds(token), UInt64(token)) }
        for _ in 0..<2000 { queue.removeFirst() }
        #expect(queue.count == 1000)
        #expect(queue.first?.token == 2000)
        queue.dropFront { _, token in token < 2500 }
        #expect(queue.first?.token == 2500)
        queue.dropFront { _, _ in true }
        #expect(queue.isEmpty)
    }
}
