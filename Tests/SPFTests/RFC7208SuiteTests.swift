import Foundation
import PolicyCore
import PolicyTesting
import SPF
import Testing
import Yams

/// The openspf.org RFC 7208 test suite (release 2014.04), vendored in Fixtures/ with its
/// licence and changelog: every scenario's zone in a `FakeZone`, every test through the
/// evaluator.
enum RFC7208Suite {
    /// One record of a scenario's `zonedata`.
    enum ZoneRecord: Sendable {
        case a(String), aaaa(String), mx(Int, String), ptr(String), txt(String), cname(String)
        /// `TXT: NONE`: no TXT record, and none generated from the SPF ones.
        case noTXT
        /// Type SPF (99): never queried by us, but the suite's drivers copy it to TXT when a
        /// name has no TXT entry ("auto-magic duplication", see the file's header).
        case spf(String)
        /// Queries time out, except for types with records listed before it.
        case timeout
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let scenario: String
        let name: String
        let host: String
        let mailFrom: String
        let helo: String
        let results: [String]
        let explanation: String?
        let zone: [String: [ZoneRecord]]

        var testDescription: String { "\(scenario): \(name)" }
    }

    static let cases: [Case] = (try? load()) ?? []

    static func load() throws -> [Case] {
        guard let url = Bundle.module.url(forResource: "rfc7208-tests", withExtension: "yml", subdirectory: "Fixtures")
        else { throw CocoaError(.fileNoSuchFile) }
        let text = try String(contentsOf: url, encoding: .utf8)
        var cases: [Case] = []
        var documents = try Yams.load_all(yaml: text, .basic)
        while let document = documents.next() {
            guard let scenario = document as? [String: Any], let tests = scenario["tests"] as? [String: Any] else {
                continue
            }
            let title = scenario["description"] as? String ?? "?"
            let zone = zoneData(scenario["zonedata"] as? [String: Any] ?? [:])
            for (name, value) in tests.sorted(by: { $0.key < $1.key }) {
                guard let test = value as? [String: Any] else { continue }
                let results: [String]
                if let list = test["result"] as? [String] { results = list } else { results = [test["result"] as? String ?? "?"] }
                cases.append(
                    Case(
                        scenario: title, name: name, host: test["host"] as? String ?? "",
                        mailFrom: test["mailfrom"] as? String ?? "", helo: test["helo"] as? String ?? "",
                        results: results, explanation: test["explanation"] as? String, zone: zone))
            }
        }
        if let error = documents.error { throw error }
        return cases
    }

    static func zoneData(_ raw: [String: Any]) -> [String: [ZoneRecord]] {
        var zone: [String: [ZoneRecord]] = [:]
        for (name, entries) in raw {
            var records: [ZoneRecord] = []
            for entry in entries as? [Any] ?? [] {
                if let word = entry as? String, word == "TIMEOUT" {
                    records.append(.timeout)
                    continue
                }
                guard let map = entry as? [String: Any], let (type, value) = map.first else { continue }
                // TXT and SPF: a string, or a list of strings to concatenate (one record).
                let text = (value as? String) ?? (value as? [String])?.joined() ?? ""
                switch type {
                case "A": records.append(.a(text))
                case "AAAA": records.append(.aaaa(text))
                case "PTR": records.append(.ptr(text))
                case "CNAME": records.append(.cname(text))
                case "SPF": records.append(.spf(text))
                case "TXT": records.append(text == "NONE" && value is String ? .noTXT : .txt(text))
                case "MX":
                    let pair = value as? [String] ?? []
                    records.append(.mx(Int(pair.first ?? "") ?? 0, pair.count > 1 ? pair[1] : ""))
                default: Issue.record("unknown zonedata type \(type) at \(name)")
                }
            }
            zone[name] = records
        }
        return zone
    }

    /// The zone as a resolver: the test drivers' semantics (pyspf's testspf.py).
    static func resolver(_ data: [String: [ZoneRecord]]) -> FakeZone {
        let zone = FakeZone()
        for (owner, entries) in data {
            guard let name = DNSName(permittingSpaces: owner) else {
                Issue.record("zonedata name \(owner) is not a DNS name")
                continue
            }
            let hasTXT = entries.contains { if case .txt = $0 { true } else if case .noTXT = $0 { true } else { false } }
            var ordered = entries
            if !hasTXT {
                ordered += entries.compactMap { if case .spf(let text) = $0 { .txt(text) } else { nil } }
            }
            var answers: [DNSRecordType: [DNSRecord]] = [:]
            var timesOut = false
            for record in ordered {
                switch record {
                case .timeout: timesOut = true
                case .a(let text): answers[.a, default: []].append(.address(IPAddress(text)!))
                case .aaaa(let text): answers[.aaaa, default: []].append(.address(IPAddress(text)!))
                case .mx(let preference, let host):
                    let exchange = host.isEmpty ? nil : DNSName(permittingSpaces: host)
                    answers[.mx, default: []].append(.mx(MXRecord(preference: UInt16(preference), exchange: exchange)))
                case .ptr(let host): answers[.ptr, default: []].append(.name(DNSName(permittingSpaces: host)!))
                case .txt(let text): answers[.txt, default: []].append(.text(text))
                case .cname(let target): zone.alias(name, to: DNSName(permittingSpaces: target)!)
                case .spf, .noTXT: break
                }
                if timesOut { break }
            }
            for type in DNSRecordType.allCases {
                if let records = answers[type] {
                    zone[name, type] = .answer(.records(records))
                } else if timesOut {
                    zone[name, type] = .fail(.timeout(name: name.text, type: type))
                }
            }
            // A name listed with no records at all (only SPF, TXT: NONE) exists: NODATA.
            if answers.isEmpty && !timesOut { zone[name, .txt] = .answer(.noData) }
        }
        return zone
    }

    /// Runs one test: MAIL FROM unless it is empty, else HELO (RFC 7208 §2.4).
    static func run(_ test: Case) async -> (passed: Bool, SPFOutcome) {
        let evaluator = SPFEvaluator(resolver: resolver(test.zone))
        guard let ip = IPAddress(test.host) else { return (false, SPFOutcome(result: .none, domain: "bad host")) }
        let outcome = await evaluator.evaluateMailFrom(ip: ip, sender: test.mailFrom, helo: test.helo)
        var passed = test.results.contains(outcome.result.rawValue)
        // "DEFAULT" is the default explanation the suite's driver sets: no usable exp=.
        if let expected = test.explanation, expected != (outcome.explanation ?? "DEFAULT") { passed = false }
        return (passed, outcome)
    }
}

@Suite struct RFC7208SuiteTests {
    @Test("RFC 7208 test suite", arguments: RFC7208Suite.cases)
    func conformance(_ test: RFC7208Suite.Case) async {
        let (passed, outcome) = await RFC7208Suite.run(test)
        #expect(
            passed,
            """
            expected \(test.results) \(test.explanation.map { "explanation \"\($0)\"" } ?? ""), \
            got \(outcome.result) \(outcome.explanation.map { "explanation \"\($0)\"" } ?? "") \(outcome.problem ?? "")
            \(outcome.trace.map(\.description).joined(separator: "\n"))
            """)
    }

    @Test("all 203 tests of the RFC 7208 suite pass")
    func wholeSuite() async throws {
        let cases = try RFC7208Suite.load()
        var failed: [String] = []
        for test in cases {
            if await !RFC7208Suite.run(test).passed { failed.append(test.testDescription) }
        }
        let passed = cases.count - failed.count
        print("RFC 7208 test suite: \(passed) of \(cases.count) passed" + (failed.isEmpty ? "" : "; failed: \(failed)"))
        #expect(cases.count == 203)
        #expect(passed == 203, "failed: \(failed)")
    }
}
