import PolicyCore
import PolicyEngine
import PolicyTesting
import Testing

@Suite struct EngineTests {
    let logs = LogRecorder()
    let deny = SMTPReply(553, "5.7.1", "denied {sender}")

    func engine(_ checks: [ConfiguredCheck], mode: CheckMode = .enforce, budget: Duration = .seconds(5)) -> Engine {
        Engine(settings: EngineSettings(mode: mode, stageBudget: budget), checks: checks)
    }

    var tx: Transaction { TransactionBuilder().client("192.0.2.1").helo("mx.example").from("a@example.org").build() }

    @Test func firstDecidingCheckInConfiguredOrderWins() async {
        let e = engine([
            ConfiguredCheck(StubCheck("quiet", at: .mail, .verdict(.dunno))),
            ConfiguredCheck(StubCheck("first", at: .mail, .verdict(.reject(deny, because: "one")))),
            ConfiguredCheck(StubCheck("second", at: .mail, .verdict(.accept(because: "two")))),
        ])
        let result = await e.evaluate(.mail, tx, logger: logs.logger)
        #expect(result.decision?.check == "first")
        #expect(result.decision?.action == .reject)
        #expect(result.decision?.reply?.text == "denied a@example.org")
        #expect(result.trace.map(\.check) == ["quiet", "first", "second"])
        #expect(result.trace.map(\.verdict) == ["dunno", "reject", "accept"])
    }

    @Test func onlyChecksOfTheStageRun() async {
        let e = engine([
            ConfiguredCheck(StubCheck("helo", at: .helo, .verdict(.reject(deny, because: "")))),
            ConfiguredCheck(StubCheck("mail", at: .mail, .verdict(.dunno))),
        ])
        let result = await e.evaluate(.mail, tx, logger: logs.logger)
        #expect(result.decision == nil)
        #expect(result.trace.map(\.check) == ["mail"])
        #expect(e.activeStages == [.helo, .mail])
    }

    @Test func tempfailCodesBecomeTempfailActions() async {
        let e = engine([ConfiguredCheck(StubCheck("grey", at: .rcpt, .verdict(.reject(.greylisted, because: "new"))))])
        #expect(await e.evaluate(.rcpt, tx, logger: logs.logger).decision?.action == .tempfail)
    }

    @Test func perCheckDryRunLogsInsteadOfDeciding() async {
        let e = engine([
            ConfiguredCheck(StubCheck("trial", at: .mail, .verdict(.reject(deny, because: "x"))), mode: .dryRun),
            ConfiguredCheck(StubCheck("real", at: .mail, .verdict(.reject(.senderDenied, because: "y")))),
        ])
        let result = await e.evaluate(.mail, tx, logger: logs.logger)
        #expect(result.decision?.check == "real")
        #expect(result.dryRunDecisions.map(\.check) == ["trial"])
        #expect(result.dryRunDecisions.first?.dryRun == true)
        #expect(result.dryRunDecisions.first?.reply?.code == 553)
    }

    @Test func globalDryRunTurnsEveryCheckIntoDryRun() async {
        let e = engine([ConfiguredCheck(StubCheck("real", at: .mail, .verdict(.reject(deny, because: "y"))))], mode: .dryRun)
        let result = await e.evaluate(.mail, tx, logger: logs.logger)
        #expect(result.decision == nil)
        #expect(result.dryRunDecisions.count == 1)
    }

    @Test func errorsFollowTheCheckErrorPolicy() async {
        let e = engine([
            ConfiguredCheck(StubCheck("open", at: .mail, .fail("DNS timeout")), onError: .continue),
            ConfiguredCheck(StubCheck("closed", at: .mail, .fail("store down")), onError: .tempfail(.internalError)),
        ])
        let result = await e.evaluate(.mail, tx, logger: logs.logger)
        #expect(result.decision?.check == "closed")
        #expect(result.decision?.reply == .internalError)
        #expect(result.decision?.reason.contains("store down") == true)
        #expect(result.trace.map(\.verdict) == ["error", "error"])
        let warnings = logs.all.filter { $0.level == .warning }
        #expect(warnings.count == 1)
        #expect(warnings.first?.metadata["error"] == "DNS timeout")
    }

    @Test func aHangingCheckCostsTheBudgetAndNoMore() async {
        let e = engine(
            [
                ConfiguredCheck(StubCheck("stuck", at: .rcpt, .hang), onError: .tempfail(.internalError)),
                ConfiguredCheck(StubCheck("fine", at: .rcpt, .verdict(.dunno))),
            ], budget: .milliseconds(200))
        let clock = ContinuousClock()
        let start = clock.now
        let result = await e.evaluate(.rcpt, tx, logger: logs.logger)
        #expect(clock.now - start < .seconds(3))
        #expect(result.decision?.check == "stuck")
        #expect(result.decision?.action == .tempfail)
        #expect(result.trace.map(\.verdict) == ["timeout", "dunno"])
    }

    @Test func annotationsAccumulateAndNeverDecide() async {
        let e = engine([
            ConfiguredCheck(StubCheck("a", at: .mail, .verdict(.annotate([HeaderField(name: "X-A", value: "1")])))),
            ConfiguredCheck(StubCheck("b", at: .mail, .verdict(.annotate([HeaderField(name: "X-B", value: "2")])))),
        ])
        let result = await e.evaluate(.mail, tx, logger: logs.logger)
        #expect(result.decision == nil)
        #expect(result.headers.map(\.name) == ["X-A", "X-B"])
    }
}
