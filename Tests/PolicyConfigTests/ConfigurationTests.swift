import Foundation
import PolicyChecks
import PolicyConfig
import PolicyCore
import PolicyEngine
import Testing

@Suite struct ConfigurationTests {
    static let fixtures = Bundle.module.resourcePath! + "/Fixtures"
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func defaultsLoad() throws {
        let configuration = try ConfigurationLoader.defaults()
        #expect(configuration.mode == .enforce)
        #expect(configuration.milter.socket == .unix(path: "/run/portcullis/portcullis.sock"))
        #expect(configuration.milter.socketMode == 0o660)
        #expect(configuration.milter.socketGroup == "postfix")
        #expect(configuration.milter.user == "portcullis")
        #expect(configuration.engine.stageBudget == .seconds(10))
        #expect(configuration.engine.delayReject)
        // Empty lists add no check: nothing to ask the MTA for.
        #expect(configuration.checks.map(\.check.name) == ["helo_syntax", "sender_syntax", "recipient_syntax"])
    }

    @Test func exampleFileIsTheDefaultsVerbatim() throws {
        let example = try String(contentsOfFile: Self.repository + "/examples/portcullis.yml", encoding: .utf8)
        #expect(example == DefaultConfiguration.yaml + "\n")
    }

    @Test func everyMistakeIsReportedWithItsLineAndKey() throws {
        let path = Self.fixtures + "/several-mistakes.yml"
        let list = Self.fixtures + "/client-deny.txt"
        do {
            _ = try ConfigurationLoader.load(path: path)
            Issue.record("a broken configuration loaded")
        } catch {
            let lines = error.errors.map(\.description)
            #expect(
                Set(lines) == [
                    "\(path):1: mode: expected one of enforce, dry-run, got \"enforcing\"",
                    "\(path):3: milter.socket: expected unix:/path, inet:PORT@HOST or inet6:PORT@HOST, got \"tcp:1234\"",
                    "\(path):4: milter.bogus: unknown key \"bogus\" (known here: backlog, pidfile, socket, socket_group, socket_mode, timeout, user)",
                    "\(path):6: engine.stage_budget: 100s is out of range 10ms...25s",
                    "\(path):9: checks.sender_deny.entries[0]: \"@@\": not a domain name after @",
                    "\(path):9: checks.sender_deny.entries[1]: \"/(unclosed/\": not a valid regular expression: expected ')'",
                    "\(path):10: checks.sender_deny.reply.code: 253 is out of range 400...599",
                    "\(path):12: checks.client_deny.entries[0]: \"300.1.1.1\": not an IPv4/IPv6 address or CIDR network",
                    "\(path):15: checks.recipient_allow.reply: unknown key \"reply\" (known here: enabled, entries, files, mode, on_error)",
                    "\(list):5: checks.client_deny.files[0]: \"not-an-address\": not an IPv4/IPv6 address or CIDR network",
                ])
            #expect(lines.count == 10)
        }
    }

    @Test func listsFilesRepliesAndModesLoad() throws {
        let configuration = try ConfigurationLoader.load(path: Self.fixtures + "/lists.yml")
        #expect(configuration.mode == .dryRun)
        #expect(configuration.engine.mode == .dryRun)
        #expect(!configuration.engine.delayReject)
        #expect(configuration.milter.socket == .inet(port: 10025, host: "127.0.0.1"))
        #expect(configuration.milter.user == nil)
        #expect(
            configuration.checks.map(\.check.name) == [
                "sender_deny", "client_allow", "sender_syntax", "recipient_deny", "recipient_syntax",
            ])
        let senderDeny = try #require(configuration.checks.first { $0.check.name == "sender_deny" })
        #expect(senderDeny.mode == .dryRun)
        let check = try #require(senderDeny.check as? AddressListCheck)
        #expect(check.reply == SMTPReply(553, "5.7.1", "go away {sender}", "and stay away"))
        let recipientDeny = try #require(configuration.checks.first { $0.check.name == "recipient_deny" })
        #expect(recipientDeny.onError == .tempfail(.internalError))
    }

    @Test func listFileEntriesMatch() async throws {
        let configuration = try ConfigurationLoader.load(path: Self.fixtures + "/lists.yml")
        let check = try #require(configuration.checks.first { $0.check.name == "recipient_deny" }?.check)
        var tx = Transaction()
        tx.currentRecipient = EnvelopeAddress("noreply@shop.example")
        guard case .reject = try await check.evaluate(tx) else {
            Issue.record("the regex from the list file did not match")
            return
        }
        tx.currentRecipient = EnvelopeAddress("someone@example.com")
        #expect(try await check.evaluate(tx) == .dunno)
    }

    @Test(arguments: [
        ("checks: {sender_deny: {reply: {code: 250}}}", "250 is out of range 400...599"),
        ("checks: {sender_deny: {reply: {enhanced: 4.7.1}}}", "does not match the class"),
        ("checks: {sender_deny: {reply: {text: \"bad\\r\\nline\"}}}", "control or non-ASCII"),
        ("milter: {socket_mode: rw}", "octal mode"),
        ("engine: {order: [sender_deny, sender_deny]}", "listed twice"),
        ("checks: {nope: {}}", "unknown key \"nope\""),
        ("checks: {client_deny: {entries: 10.0.0.1}}", "expected a list"),
        ("checks: {client_deny: {mode: enforced}}", "expected one of enforce, dry-run"),
        ("log: {level: loud}", "expected one of trace"),
        ("mode: [a]", "expected a single value"),
        ("milter: 5", "expected a mapping"),
    ])
    func badValuesAreNamed(_ yaml: String, _ fragment: String) {
        do {
            _ = try ConfigurationLoader.load(yaml: yaml, file: "t.yml", baseDirectory: ".")
            Issue.record("\(yaml) loaded")
        } catch {
            #expect(error.description.contains(fragment), "\(error.description)")
            #expect(error.description.hasPrefix("t.yml:1: "), "\(error.description)")
        }
    }

    @Test func aReplyOverrideKeepsTheClassOfItsCode() throws {
        let configuration = try ConfigurationLoader.load(
            yaml: "checks: {sender_deny: {entries: [a@b.example], reply: {code: 550, text: \"100% sure\"}}}", file: "t.yml",
            baseDirectory: ".")
        let check = try #require(configuration.checks.first { $0.check.name == "sender_deny" }?.check as? AddressListCheck)
        #expect(check.reply == SMTPReply(550, "5.7.1", "100% sure"))
    }
}
