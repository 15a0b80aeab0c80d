import Testing

/// delay_reject off: connection-stage decisions are answered where they are made.
@Suite(
    "Live: delay_reject off", .serialized,
    .liveDaemon(LiveConfig.standard + "\nengine: {delay_reject: false}\n"))
struct DelayRejectOffTests {
    @Test("a deny-listed client is refused at connect")
    func deniedClientRefusedAtConnect() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        let reply = client.connect(hostname: "unknown", address: "192.0.2.66", family: "4", port: 41234)
        #expect(
            reply == .replyCode(Expected.clientDenied("192.0.2.66")) || reply == .reject || reply == .tempfail,
            "connect from 192.0.2.66 got \(reply); stderr tail:\n\(daemon.logTail())")
        client.quit()
    }

    @Test("a clean client still passes connect and the whole message")
    func cleanClientPasses() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        let transcript = try client.runTransaction(Envelope())
        #expect(transcript.passedEveryStep, "\(transcript)")
        client.quit()
    }

    @Test("a deny-listed HELO is refused at HELO")
    func deniedHeloRefusedAtHelo() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        #expect(client.connect(address: "198.51.100.7").letsMailThrough)
        let reply = client.helo("bad.example")
        #expect(
            reply == .replyCode(Expected.heloDenied) || reply == .reject,
            "HELO bad.example got \(reply); stderr tail:\n\(daemon.logTail())")
        client.quit()
    }
}

/// Configured reply texts: `%` escaping and multi-line replies.
@Suite(
    "Live: configured reply texts", .serialized,
    .liveDaemon(
        """
        checks:
          sender_deny: {entries: ["bad@example.com"], reply: {code: 550, enhanced: 5.7.1, text: "100% sure"}}
          recipient_deny:
            entries: ["multi@example.com"]
            reply:
              code: 550
              enhanced: 5.7.1
              text: ["a", "b"]
        """))
struct ConfiguredReplyTests {
    @Test("a % in the text is doubled on the wire (libmilter's format; the MTA un-doubles it)")
    func percentIsDoubled() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        var envelope = Envelope()
        envelope.sender = "bad@example.com"
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.finalStep == "mail", "\(transcript)")
        #expect(transcript.final == .replyCode("550 5.7.1 100%% sure"), "\(transcript)")
        client.quit()
    }

    @Test("a text given as a list of lines becomes a multi-line reply")
    func multiLineReply() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        var envelope = Envelope()
        envelope.recipients = ["multi@example.com"]
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.finalStep == "rcpt multi@example.com", "\(transcript)")
        #expect(transcript.final == .replyCode("550-5.7.1 a\r\n550 5.7.1 b"), "\(transcript)")
        client.quit()
    }
}
