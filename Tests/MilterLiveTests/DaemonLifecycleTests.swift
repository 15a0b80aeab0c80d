import Testing

/// Starting and stopping the real binary.
@Suite("Live: daemon lifecycle")
struct DaemonLifecycleTests {
    @Test("SIGTERM stops the daemon within 15 s with status 0, even with a connection mid-transaction")
    func sigtermWithOpenConnection() async throws {
        let daemon = try await DaemonProcess.start(yaml: LiveConfig.standard)
        let client = try daemon.session()
        defer { client.close() }
        #expect(client.connect(address: "198.51.100.7").letsMailThrough)
        #expect(client.helo("client.example.test").letsMailThrough)
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        #expect(client.rcpt(to: "user@example.com").letsMailThrough)
        let log = daemon.logTail()
        let started = ContinuousClock.now
        await daemon.stop()
        let took = ContinuousClock.now - started
        #expect(!daemon.isRunning)
        #expect(took < .seconds(15), "SIGTERM took \(took), so it needed SIGKILL")
        #expect(daemon.terminationStatus == 0, "exit status \(String(describing: daemon.terminationStatus)); stderr before stop:\n\(log)")
    }

    @Test("a configuration with an unknown key is refused at start-up, naming the key")
    func unknownKeyIsRefused() async throws {
        do {
            let daemon = try await DaemonProcess.start(yaml: LiveConfig.standard + "\nbogus_key: 1\n", readyTimeout: .seconds(10))
            await daemon.stop()
            Issue.record("the daemon started with an unknown key in its configuration")
        } catch DaemonError.exitedEarly(let status, let log) {
            #expect(status != 0)
            #expect(log.contains("bogus_key"), "stderr does not name the key:\n\(log)")
        }
    }
}

/// Global dry-run: every check runs and logs, nothing is refused.
@Suite("Live: dry-run mode", .serialized, .liveDaemon(LiveConfig.standard, mode: "dry-run"))
struct DryRunTests {
    @Test("a deny-listed sender passes and the decision is logged with dry_run=true")
    func deniedSenderPasses() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        let offset = daemon.logOffset
        var envelope = Envelope()
        envelope.sender = "bad@example.com"
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.passedEveryStep, "\(transcript)")
        let line = daemon.waitForLogLine(containing: ["decision", "check=sender_deny"], after: offset)
        #expect(line?.contains("dry_run=true") == true, "decision line: \(line ?? "none"); stderr tail:\n\(daemon.logTail())")
        client.quit()
    }

    @Test("a deny-listed client passes every RCPT and the decision is logged with dry_run=true")
    func deniedClientPasses() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        let offset = daemon.logOffset
        var envelope = Envelope()
        envelope.clientAddress = "192.0.2.66"
        envelope.recipients = ["user@example.com", "nobody@example.com"]
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.passedEveryStep, "\(transcript)")
        let line = daemon.waitForLogLine(containing: ["decision", "check=client_deny"], after: offset)
        #expect(line?.contains("dry_run=true") == true, "decision line: \(line ?? "none"); stderr tail:\n\(daemon.logTail())")
        client.quit()
    }
}
