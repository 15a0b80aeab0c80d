import PolicyCore
import PolicyEngine
import PolicyTesting
import Testing

/// Drives a machine and an engine together, as the adapter and `portcullis check` do.
struct Driver {
    var machine: SessionMachine
    let engine: Engine
    let logs = LogRecorder()
    var logged: [LoggedDecision] = []

    init(_ checks: [ConfiguredCheck], delayReject: Bool = true, mode: CheckMode = .enforce) {
        engine = Engine(settings: EngineSettings(mode: mode, delayReject: delayReject), checks: checks)
        machine = SessionMachine(engine: engine)
    }

    mutating func run(_ event: (inout SessionMachine) -> SessionMachine.Action) async -> SessionMachine.Response {
        switch event(&machine) {
        case .proceed:
            return .proceed
        case .respond(let outcome):
            logged += outcome.decisions
            return outcome.response
        case .evaluate(let stage, let tx):
            let outcome = machine.resolved(await engine.evaluate(stage, tx, logger: logs.logger))
            logged += outcome.decisions
            return outcome.response
        }
    }
}

@Suite struct SessionMachineTests {
    static let clientDeny = ConfiguredCheck(
        StubCheck("client_deny", at: .connect, .decide { tx in
            tx.client.address == IPAddress("192.0.2.66") ? .reject(.clientDenied, because: "listed") : .dunno
        }))
    static let clientAllow = ConfiguredCheck(
        StubCheck("client_allow", at: .connect, .decide { tx in
            tx.client.address == IPAddress("192.0.2.10") ? .accept(because: "allowed") : .dunno
        }))
    static let senderDeny = ConfiguredCheck(
        StubCheck("sender_deny", at: .mail, .decide { tx in
            tx.sender?.mailbox?.localPart == "bad" ? .reject(.senderDenied, because: "listed") : .dunno
        }))
    static let recipientAllow = ConfiguredCheck(
        StubCheck("recipient_allow", at: .rcpt, .decide { tx in
            tx.currentRecipient?.mailbox?.localPart == "abuse" ? .accept(because: "abuse desk") : .dunno
        }))
    static let recipientDeny = ConfiguredCheck(
        StubCheck("recipient_deny", at: .rcpt, .decide { tx in
            tx.currentRecipient?.mailbox?.localPart == "nobody" ? .reject(.recipientDenied, because: "listed") : .dunno
        }))
    static let eomReject = ConfiguredCheck(
        StubCheck("content", at: .endOfMessage, .verdict(.reject(.bareLF, because: "bare LF"))))

    @Test func connectDecisionIsHeldUntilEveryRcpt() async {
        var d = Driver([Self.clientDeny])
        #expect(await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.66"))) } == .proceed)
        #expect(await d.run { $0.helo("mx.example") } == .proceed)
        #expect(await d.run { $0.mailFrom(EnvelopeAddress("a@example.org")) } == .proceed)
        #expect(d.logged.isEmpty)
        let replyText = SMTPReply.clientDenied.rendered(["ip": "192.0.2.66"])
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("b@example.com")) } == .reject(replyText))
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("c@example.com")) } == .reject(replyText))
        #expect(d.logged.count == 2)
        #expect(d.logged.first?.recipient == EnvelopeAddress("b@example.com"))
        #expect(d.logged.first?.sender == EnvelopeAddress("a@example.org"))
        #expect(d.logged.first?.helo == "mx.example")
    }

    @Test func withoutDelayRejectConnectRejectsAtOnce() async {
        var d = Driver([Self.clientDeny], delayReject: false)
        let response = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.66"))) }
        guard case .reject(let reply) = response else {
            Issue.record("expected a reject, got \(response)")
            return
        }
        #expect(reply.code == 554)
        #expect(d.logged.count == 1)
    }

    @Test func allowListedClientPassesDeniedSender() async {
        var d = Driver([Self.clientAllow, Self.senderDeny])
        _ = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.10"))) }
        _ = await d.run { $0.helo("mx.example") }
        #expect(await d.run { $0.mailFrom(EnvelopeAddress("bad@example.com")) } == .proceed)
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("x@example.com")) } == .accept)
        #expect(d.logged.map(\.decision.check) == ["client_allow"])
        #expect(d.logged.first?.decision.action == .accept)
    }

    @Test func senderDenyAnswersAtMail() async {
        var d = Driver([Self.senderDeny])
        _ = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.1"))) }
        #expect(await d.run { $0.mailFrom(EnvelopeAddress("bad@example.com")) } == .reject(.senderDenied))
        // The next transaction on the same connection starts clean.
        #expect(await d.run { $0.mailFrom(EnvelopeAddress("good@example.com")) } == .proceed)
    }

    @Test func allowListedRecipientDoesNotOpenTheDoorForOthers() async {
        var d = Driver([Self.recipientAllow, Self.recipientDeny, Self.eomReject])
        _ = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.1"))) }
        _ = await d.run { $0.mailFrom(EnvelopeAddress("a@example.org")) }
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("abuse@example.com")) } == .proceed)
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("nobody@example.com")) } == .reject(.recipientDenied))
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("user@example.com")) } == .proceed)
        // Not every recipient is allow-listed, so content checks still run.
        #expect(await d.run { $0.endOfMessage() } == .reject(.bareLF))
    }

    @Test func everyRecipientAllowListedSkipsContentChecks() async {
        var d = Driver([Self.recipientAllow, Self.eomReject])
        _ = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.1"))) }
        _ = await d.run { $0.mailFrom(EnvelopeAddress("a@example.org")) }
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("abuse@example.com")) } == .proceed)
        #expect(await d.run { $0.endOfMessage() } == .proceed)
    }

    @Test func dryRunHeldDecisionsAreLoggedOnceAtTheFirstRcpt() async {
        var d = Driver([Self.clientDeny, Self.senderDeny], mode: .dryRun)
        _ = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.66"))) }
        _ = await d.run { $0.helo("mx.example") }
        #expect(await d.run { $0.mailFrom(EnvelopeAddress("bad@example.com")) } == .proceed)
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("x@example.com")) } == .proceed)
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("y@example.com")) } == .proceed)
        // The message goes on, so the lines wait for the queue id, which Postfix assigns at DATA.
        #expect(d.logged.isEmpty)
        d.machine.noteMacros(["i": "4XyZ123"])
        #expect(await d.run { $0.endOfMessage() } == .proceed)
        #expect(d.logged.map(\.decision.check) == ["sender_deny", "client_deny"])
        #expect(d.logged.allSatisfy { $0.decision.dryRun && $0.queueID == "4XyZ123" })
        #expect(d.logged.last?.recipient == EnvelopeAddress("x@example.com"))
    }

    @Test func waitingLinesAreLoggedAtAbortWithoutQueueID() async {
        var d = Driver([Self.senderDeny], mode: .dryRun)
        _ = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.1"))) }
        _ = await d.run { $0.mailFrom(EnvelopeAddress("bad@example.com")) }
        #expect(d.logged.isEmpty)
        let flushed = d.machine.aborted()
        #expect(flushed.map(\.decision.check) == ["sender_deny"])
        #expect(flushed.first?.queueID == nil)
        #expect(d.machine.closed().isEmpty)
    }

    @Test func eventsOutOfOrderNeverTrap() async {
        var d = Driver([Self.senderDeny, Self.recipientDeny, Self.eomReject])
        #expect(await d.run { $0.rcptTo(EnvelopeAddress("nobody@example.com")) } == .reject(.recipientDenied))
        #expect(await d.run { $0.body(Array("x\r\n".utf8)) } == .proceed)
        #expect(await d.run { $0.endOfMessage() } == .reject(.bareLF))
        _ = await d.run { $0.header(HeaderField(name: "X", value: String(repeating: "y", count: 65536))) }
        _ = d.machine.aborted()
        _ = d.machine.aborted()
        #expect(await d.run { $0.connected(ClientFacts()) } == .proceed)
        #expect(await d.run { $0.mailFrom(EnvelopeAddress("bad@example.com")) } == .reject(.senderDenied))
    }

    @Test func tenThousandRecipientsAreEachAnswered() async {
        var d = Driver([Self.recipientDeny])
        _ = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.1"))) }
        _ = await d.run { $0.mailFrom(EnvelopeAddress("a@example.org")) }
        var rejected = 0
        for index in 0..<10_000 {
            let name = index % 100 == 0 ? "nobody" : "user\(index)"
            if case .reject = await d.run({ $0.rcptTo(EnvelopeAddress("\(name)@example.com")) }) { rejected += 1 }
        }
        #expect(rejected == 100)
    }

    @Test func headersFromEarlierStagesAreAddedAtEndOfMessage() async {
        let annotate = ConfiguredCheck(
            StubCheck("spf", at: .mail, .verdict(.annotate([HeaderField(name: "Received-SPF", value: "pass")]))))
        var d = Driver([annotate])
        _ = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.1"))) }
        _ = await d.run { $0.mailFrom(EnvelopeAddress("a@example.org")) }
        _ = await d.run { $0.rcptTo(EnvelopeAddress("b@example.com")) }
        #expect(await d.run { $0.endOfMessage() } == .editHeaders(HeaderEdits(add: [HeaderField(name: "Received-SPF", value: "pass")])))
    }

    @Test func queueIDFromMacrosIsLogged() async {
        var d = Driver([Self.eomReject])
        _ = await d.run { $0.connected(ClientFacts(address: IPAddress("192.0.2.1"))) }
        _ = await d.run { $0.mailFrom(EnvelopeAddress("a@example.org")) }
        _ = await d.run { $0.rcptTo(EnvelopeAddress("b@example.com")) }
        d.machine.noteMacros(["i": "4XyZ123"])
        _ = await d.run { $0.endOfMessage() }
        #expect(d.logged.first?.queueID == "4XyZ123")
        let metadata = DecisionLog.metadata(d.logged[0])
        #expect(metadata["queue_id"] == "4XyZ123")
        #expect(metadata["code"] == "554")
        #expect(metadata["dry_run"] == "false")
    }
}

@Suite struct ForgedAuthenticationResultsTests {
    @Test(arguments: [
        ("mx.example.test; spf=pass smtp.mailfrom=a@b", "mx.example.test"),
        ("  mx.example.test 1; none", "mx.example.test"),
        ("(comment) mx.example.test;spf=fail", "mx.example.test"),
        ("", nil), ("(unclosed", nil),
    ] as [(String, String?)])
    func authservIDIsTheFirstToken(_ value: String, _ expected: String?) {
        #expect(AuthenticationResults.authservID(of: value) == expected)
    }

    @Test func fieldsClaimingOurAuthservIDAreRemovedAtEndOfMessage() async {
        let engine = Engine(settings: EngineSettings(authservID: "", removeForgedAuthenticationResults: true), checks: [])
        var machine = SessionMachine(engine: engine)
        #expect(SessionMachine.needsHeaders(engine))
        _ = machine.connected(ClientFacts(address: IPAddress("192.0.2.1")))
        machine.noteMacros(["j": "MX.example.test"])
        _ = machine.mailFrom(EnvelopeAddress("a@example.org"))
        _ = machine.rcptTo(EnvelopeAddress("b@example.test"))
        _ = machine.header(HeaderField(name: "Authentication-Results", value: "other.example; spf=pass"))
        _ = machine.header(HeaderField(name: "Subject", value: "hi"))
        _ = machine.header(HeaderField(name: "authentication-results", value: "mx.example.test; spf=pass"))
        guard case .respond(let outcome) = machine.endOfMessage() else {
            Issue.record("expected header edits")
            return
        }
        #expect(outcome.response == .editHeaders(HeaderEdits(remove: [HeaderPosition(name: "authentication-results", index: 2)])))
        // The next message starts counting again.
        _ = machine.mailFrom(EnvelopeAddress("a@example.org"))
        _ = machine.header(HeaderField(name: "Subject", value: "clean"))
        guard case .proceed = machine.endOfMessage() else {
            Issue.record("nothing to edit")
            return
        }
    }
}

@Suite struct ConnectMacroTests {
    @Test func connectMacrosSurviveTheResetOfANewSession() async {
        let engine = Engine(settings: EngineSettings(authservID: "", removeForgedAuthenticationResults: true), checks: [])
        var machine = SessionMachine(engine: engine)
        _ = machine.connected(ClientFacts(address: IPAddress("192.0.2.1")), macros: ["j": "mta.example.test"])
        _ = machine.mailFrom(EnvelopeAddress("a@example.org"))
        _ = machine.header(HeaderField(name: "Authentication-Results", value: "mta.example.test; spf=pass"))
        guard case .respond(let outcome) = machine.endOfMessage() else {
            Issue.record("the forged field claiming macro j was not removed")
            return
        }
        #expect(outcome.response == .editHeaders(HeaderEdits(remove: [HeaderPosition(name: "Authentication-Results", index: 1)])))
    }
}
