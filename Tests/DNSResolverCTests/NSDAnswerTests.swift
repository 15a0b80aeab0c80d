import DNSResolverC
import PolicyCore
import Testing

/// The resolver against a real NSD: every record type, every answer kind, the cache, load.
@Suite struct NSDAnswerTests {
    static func resolver(_ server: NSDServer, timeout: Duration = .seconds(2)) throws -> UnboundResolver {
        try UnboundResolver(
            ResolverSettings(mode: .forwarders([server.forwarder]), timeout: timeout, transparentZones: TestZone.transparent))
    }

    static func ip(_ text: String) -> DNSRecord { .address(IPAddress(text)!) }
    static func name(_ text: String) -> DNSName { DNSName(text)! }

    struct AnswerCase: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let name: String
        let type: DNSRecordType
        let expected: Result<DNSAnswer, DNSError>
        /// Compare records as a set: unbound may rotate an RRset.
        var unordered = false
    }

    static let cases: [AnswerCase] = [
        .init(
            testDescription: "A records", name: "host.test", type: .a,
            expected: .success(.records([ip("192.0.2.1"), ip("192.0.2.2")])), unordered: true),
        .init(testDescription: "an AAAA record", name: "host.test", type: .aaaa, expected: .success(.records([ip("2001:db8::1")]))),
        .init(
            testDescription: "an IPv4-mapped AAAA record is folded to IPv4", name: "mapped.test", type: .aaaa,
            expected: .success(.records([ip("192.0.2.3")]))),
        .init(
            testDescription: "the strings of a TXT record are concatenated", name: "spf.test", type: .txt,
            expected: .success(.records([.text("v=spf1 ip4:192.0.2.0/24 include:_spf.test -all")]))),
        .init(
            testDescription: "two TXT records stay two", name: "two.test", type: .txt,
            expected: .success(.records([.text("first"), .text("second")])), unordered: true),
        .init(
            testDescription: "UTF-8 split across TXT strings is joined before decoding", name: "utf8.test", type: .txt,
            expected: .success(.records([.text("café")]))),
        .init(
            testDescription: "TXT bytes that are not UTF-8 are replaced", name: "latin1.test", type: .txt,
            expected: .success(.records([.text("caf\u{FFFD}")]))),
        .init(
            testDescription: "an empty TXT string", name: "empty.test", type: .txt, expected: .success(.records([.text("")]))),
        .init(
            testDescription: "MX records", name: "mx.test", type: .mx,
            expected: .success(
                .records([
                    .mx(MXRecord(preference: 10, exchange: name("mail.test"))),
                    .mx(MXRecord(preference: 20, exchange: name("backup.test"))),
                ])), unordered: true),
        .init(
            testDescription: "the null MX", name: "nullmx.test", type: .mx,
            expected: .success(.records([.mx(MXRecord(preference: 0, exchange: nil))]))),
        .init(
            testDescription: "a CNAME chain ends in the final records", name: "alias.test", type: .a,
            expected: .success(.records([ip("192.0.2.1"), ip("192.0.2.2")])), unordered: true),
        .init(
            testDescription: "a CNAME to a name that does not exist is NXDOMAIN", name: "dangling.test", type: .a,
            expected: .success(.noSuchName)),
        .init(
            testDescription: "a wildcard answers any name below it", name: "anything.wild.test", type: .a,
            expected: .success(.records([ip("192.0.2.99")]))),
        .init(
            testDescription: "PTR of an IPv4 address", name: DNSName.reverse(IPAddress("192.0.2.1")!).text, type: .ptr,
            expected: .success(.records([.name(name("host.test"))]))),
        .init(
            testDescription: "two PTR records", name: DNSName.reverse(IPAddress("192.0.2.2")!).text, type: .ptr,
            expected: .success(.records([.name(name("host.test")), .name(name("other.test"))])), unordered: true),
        .init(
            testDescription: "PTR of an IPv6 address", name: DNSName.reverse(IPAddress("2001:db8::1")!).text, type: .ptr,
            expected: .success(.records([.name(name("host.test"))]))),
        .init(
            testDescription: "NXDOMAIN", name: "missing.test", type: .a, expected: .success(.noSuchName)),
        .init(
            testDescription: "NXDOMAIN in a reverse zone", name: DNSName.reverse(IPAddress("192.0.2.200")!).text, type: .ptr,
            expected: .success(.noSuchName)),
        .init(testDescription: "NODATA", name: "host.test", type: .txt, expected: .success(.noData)),
        .init(testDescription: "NODATA for MX", name: "host.test", type: .mx, expected: .success(.noData)),
        .init(
            testDescription: "a PTR target with a dot inside a label is malformed",
            name: DNSName.reverse(IPAddress("192.0.2.9")!).text, type: .ptr,
            expected: .failure(.malformedAnswer(name: DNSName.reverse(IPAddress("192.0.2.9")!).text, type: .ptr))),
        .init(
            testDescription: "an MX exchange with a space is malformed", name: "badmx.test", type: .mx,
            expected: .failure(.malformedAnswer(name: "badmx.test", type: .mx))),
        // Last: unbound may hold a REFUSED against the server for the rest of the table.
        .init(
            testDescription: "a zone NSD does not serve is REFUSED there, and SERVFAIL from unbound",
            name: "example.com", type: .a, expected: .failure(.serverFailure(name: "example.com", type: .a))),
    ]

    /// One NSD and one resolver for the whole table (NSD starts in about 60 ms, but one is enough).
    @Test func answersEveryCase() async throws {
        try await withNSD { server in
            let resolver = try Self.resolver(server)
            defer { resolver.shutdown() }
            for c in Self.cases {
                let result: Result<DNSAnswer, DNSError>
                do throws(DNSError) {
                    result = .success(try await resolver.query(DNSName(c.name)!, c.type))
                } catch {
                    result = .failure(error)
                }
                if c.unordered, case .success(let answer) = result, case .success(let expected) = c.expected {
                    #expect(Set(answer.records) == Set(expected.records), "\(c.testDescription)")
                    #expect(answer.records.count == expected.records.count, "\(c.testDescription)")
                } else {
                    #expect(result == c.expected, "\(c.testDescription)")
                }
            }
        }
    }

    @Test func twoHundredConcurrentQueries() async throws {
        try await withNSD { server in
            let resolver = try Self.resolver(server)
            defer { resolver.shutdown() }
            let start = ContinuousClock.now
            let answers = try await withThrowingTaskGroup(of: (Int, DNSAnswer).self) { group in
                for i in 0..<TestZone.bulkCount {
                    group.addTask { (i, try await resolver.query(DNSName("n\(i).bulk.test")!, .a)) }
                }
                return try await group.reduce(into: [Int: DNSAnswer]()) { $0[$1.0] = $1.1 }
            }
            let elapsed = ContinuousClock.now - start
            #expect(answers.count == TestZone.bulkCount)
            for (i, answer) in answers {
                #expect(answer == .records([Self.ip("10.0.\(i / 256).\(i % 256)")]), "n\(i).bulk.test")
            }
            #expect(elapsed < .seconds(5), "200 concurrent queries took \(elapsed)")
            #expect(resolver.settings.timeout == .seconds(2))
        }
    }

    @Test func cachedAnswersSurviveTheServer() async throws {
        let server = try await NSDServer.start(TestZone.all)
        defer { server.stop() }
        let resolver = try Self.resolver(server, timeout: .seconds(1))
        defer { resolver.shutdown() }
        let cached = DNSName("cached.test")!
        let first = try await resolver.query(cached, .a)
        #expect(first == .records([Self.ip("192.0.2.77")]))
        _ = try await resolver.query(DNSName("shortlived.test")!, .a)
        _ = try await resolver.query(DNSName("missing.test")!, .a)

        server.stop()
        // Same answers with NSD gone: from the cache, at once.
        let start = ContinuousClock.now
        #expect(try await resolver.query(cached, .a) == first)
        #expect(try await resolver.query(DNSName("missing.test")!, .a) == .noSuchName)  // negative cache (RFC 2308)
        #expect(ContinuousClock.now - start < .milliseconds(1500))  // below the 2 s timeout a miss would take

        // A name never asked for is not in the cache: it fails.
        await #expect(throws: DNSError.self) { try await resolver.query(DNSName("host.test")!, .a) }

        // TTLs are honoured: the 1 s record expires and is asked for again, in vain.
        try await Task.sleep(for: .milliseconds(1500))
        await #expect(throws: DNSError.self) { try await resolver.query(DNSName("shortlived.test")!, .a) }
    }
}
