import Foundation
import PolicyChecks
import PolicyConfig
import PolicyCore
import PolicyEngine
import Testing

@Suite struct DNSConfigurationTests {
    @Test func dnsChecksLoadInOrder() throws {
        let configuration = try ConfigurationLoader.load(path: ConfigurationTests.fixtures + "/dns.yml")
        #expect(configuration.dns.mode == .forwarders(["127.0.0.1@5353", "::1"]))
        #expect(configuration.dns.timeout == .seconds(2))
        #expect(configuration.dns.transparentZones == ["test.", "2.0.192.in-addr.arpa."])
        #expect(configuration.needsResolver)
        #expect(
            configuration.checks.map(\.check.name) == [
                "dnsbl", "fcrdns", "helo_syntax", "helo_ours", "sender_syntax", "sender_domain", "rhsbl_sender",
                "recipient_syntax",
            ])
        let dnsbl = try #require(configuration.checks.first { $0.check.name == "dnsbl" }?.check as? DNSListCheck)
        #expect(dnsbl.zones.map(\.zone.text) == ["bl.example.test", "wl.example.test", "codes.example.test"])
        #expect(dnsbl.zones.map(\.weight) == [1, -2, 1])
        #expect(dnsbl.zones[2].action == .reject)
        #expect(dnsbl.zones[2].filter.ranges.count == 2)
        #expect(dnsbl.threshold == 2)
        #expect(configuration.checks.first { $0.check.name == "sender_domain" }?.mode == .dryRun)
    }

    @Test func defaultsStartNoResolver() throws {
        #expect(!(try ConfigurationLoader.defaults()).needsResolver)
    }

    @Test(arguments: [
        ("dns: {mode: forwarders}", "needs at least one address"),
        ("dns: {forwarders: [nameserver.example]}", "expected an IP address"),
        ("dns: {forwarders: [\"127.0.0.1@99999\"]}", "expected an IP address"),
        ("dns: {timeout: 1h}", "out of range 100ms...30s"),
        ("dns: {timeout: 12s}", "must be shorter than engine.stage_budget (10s)"),
        ("checks: {dnsbl: {zones: [{zone: bl.example, weight: x}]}}", "expected a whole number"),
        ("checks: {dnsbl: {zones: [{zone: bl.example, colour: red}]}}", "unknown key \"colour\""),
        ("checks: {dnsbl: {zones: [{weight: 1}]}}", "a zone needs `zone: NAME`"),
        ("checks: {dnsbl: {zones: [{zone: bl.example, codes: [127.0.0.9-127.0.0.2]}]}}", "expected an IPv4 answer"),
        ("checks: {dnsbl: {zones: [{zone: bl.example, action: block}]}}", "expected one of score, tempfail"),
        ("checks: {fcrdns: {enabled: true, generic_patterns: [\"(\"]}}", "not a valid regular expression"),
        ("checks: {fcrdns: {reply: {code: 550, enhanced: 5.7.25}}}", "needs a 4xx code"),
        ("checks: {helo_ours: {enabled: true, addresses: [mx.example]}}", "not an IPv4/IPv6 address"),
    ])
    func badDNSValuesAreNamed(_ yaml: String, _ fragment: String) {
        do {
            _ = try ConfigurationLoader.load(yaml: yaml, file: "t.yml", baseDirectory: ".")
            Issue.record("\(yaml) loaded")
        } catch {
            #expect(error.description.contains(fragment), "\(error.description)")
            #expect(error.description.hasPrefix("t.yml:1: "), "\(error.description)")
        }
    }
}
