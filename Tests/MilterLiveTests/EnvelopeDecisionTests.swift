import Testing

/// The deny lists and syntax checks through the real daemon, with delay_reject at its default (on).
@Suite("Live: envelope decisions (delay_reject on)", .serialized, .liveDaemon(LiveConfig.standard))
struct EnvelopeDecisionTests {
    @Test("the daemon negotiates protocol version 6 and asks for the envelope events")
    func negotiation() throws {
        let daemon = try currentDaemon()
        let client = try daemon.connect()
        defer { client.close() }
        let negotiation = try client.negotiate()
        #expect(negotiation.version == 6)
        for event in [MilterEvent.connect, .helo, .mail, .rcpt] {
            #expect(negotiation.wants(event), "daemon asked not to get \(event) (flags \(negotiation.protocolFlags))")
        }
        // It must not ask for actions the MTA did not offer (libmilter would abort).
        #expect(negotiation.actions & ~UInt32(0x1FF) == 0)
        client.quit()
    }

    @Test("MAIL FROM a deny-listed sender is refused with the catalogue's 553 and one decision log line")
    func deniedSender() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        let offset = daemon.logOffset
        var envelope = Envelope()
        envelope.sender = "bad@example.com"
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.reply("connect")?.letsMailThrough == true, "\(transcript)")
        #expect(transcript.reply("helo")?.letsMailThrough == true, "\(transcript)")
        #expect(transcript.finalStep == "mail", "\(transcript)")
        #expect(transcript.final == .replyCode(Expected.senderDenied), "\(transcript)")

        let line = daemon.waitForLogLine(containing: ["decision", "check=sender_deny"], after: offset)
        #expect(line != nil, "no decision line for sender_deny; stderr tail:\n\(daemon.logTail())")
        if let line {
            #expect(line.contains("action=reject"), "\(line)")
            #expect(line.contains("code=553"), "\(line)")
            #expect(line.contains("dry_run=false"), "\(line)")
        }
        let decisionLines = daemon.logLines(after: offset).filter { $0.contains("check=sender_deny") }
        #expect(decisionLines.count == 1, "expected one decision line, got:\n\(decisionLines.joined(separator: "\n"))")
        client.quit()
    }

    @Test("a clean envelope gets continue at every step and at end of message")
    func cleanEnvelope() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        let transcript = try client.runTransaction(Envelope())
        #expect(transcript.passedEveryStep, "\(transcript)")
        // Events the daemon replies to must be answered with a real 'c'.
        let negotiation = try #require(client.negotiation)
        for (event, step) in [(MilterEvent.connect, "connect"), (.helo, "helo"), (.mail, "mail"), (.rcpt, "rcpt user@example.com")]
        where negotiation.wants(event) && negotiation.replies(to: event) {
            #expect(transcript.reply(step) == .continue, "\(step): \(transcript)")
        }
        #expect(transcript.reply("eom") == .continue, "\(transcript)")
        #expect(client.modifications.isEmpty, "unexpected modifications \(client.modifications)")
        client.quit()
    }

    @Test("RCPT TO a deny-listed recipient is refused with the catalogue's 553")
    func deniedRecipient() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        var envelope = Envelope()
        envelope.recipients = ["user@example.com", "nobody@example.com"]
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.reply("rcpt user@example.com")?.letsMailThrough == true, "\(transcript)")
        #expect(transcript.finalStep == "rcpt nobody@example.com", "\(transcript)")
        #expect(transcript.final == .replyCode(Expected.recipientDenied), "\(transcript)")
        client.quit()
    }

    @Test("a deny-listed client passes connect, HELO and MAIL and is refused at the first RCPT")
    func deniedClientIsHeldUntilRcpt() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        #expect(client.connect(hostname: "unknown", address: "192.0.2.66", family: "4", port: 41234).letsMailThrough)
        #expect(client.helo("client.example.test").letsMailThrough)
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        let offset = daemon.logOffset
        #expect(client.rcpt(to: "user@example.com") == .replyCode(Expected.clientDenied("192.0.2.66")))
        let line = daemon.waitForLogLine(containing: ["decision", "check=client_deny"], after: offset)
        #expect(line != nil, "no decision line for client_deny; stderr tail:\n\(daemon.logTail())")
        if let line {
            #expect(line.contains("action=reject") && line.contains("code=554") && line.contains("dry_run=false"), "\(line)")
        }
        // Every further RCPT of the connection gets the same answer.
        #expect(client.rcpt(to: "other@example.com") == .replyCode(Expected.clientDenied("192.0.2.66")))
        client.abort()
        client.quit()
    }

    @Test("a deny-listed HELO name is refused at the first RCPT")
    func deniedHeloIsHeldUntilRcpt() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        var envelope = Envelope()
        envelope.helo = "bad.example"
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.reply("helo")?.letsMailThrough == true, "\(transcript)")
        #expect(transcript.reply("mail")?.letsMailThrough == true, "\(transcript)")
        #expect(transcript.finalStep == "rcpt user@example.com", "\(transcript)")
        #expect(transcript.final == .replyCode(Expected.heloDenied), "\(transcript)")
        client.quit()
    }

    @Test("an empty or garbage HELO is refused with 501 at the first RCPT", arguments: ["", "!!!"])
    func invalidHelo(helo: String) throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        var envelope = Envelope()
        envelope.helo = helo
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.reply("helo")?.letsMailThrough == true, "\(transcript)")
        #expect(transcript.reply("mail")?.letsMailThrough == true, "\(transcript)")
        #expect(transcript.finalStep == "rcpt user@example.com", "\(transcript)")
        #expect(transcript.final == .replyCode(Expected.heloInvalid), "\(transcript)")
        client.quit()
        expectHealthy(daemon, after: "HELO \(String(reflecting: helo))")
    }

    @Test("a refused MAIL does not stick: the next transaction on the connection passes")
    func nextTransactionAfterRefusedMail() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        #expect(client.connect(address: "198.51.100.7").letsMailThrough)
        #expect(client.helo("client.example.test").letsMailThrough)
        #expect(client.mail(from: "bad@example.com") == .replyCode(Expected.senderDenied))
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        #expect(client.rcpt(to: "user@example.com").letsMailThrough)
        #expect(client.data().letsMailThrough)
        #expect(client.endOfHeaders().letsMailThrough)
        #expect(client.endOfMessage() == .continue)
        // And a second message after a completed one.
        #expect(client.mail(from: "bad@example.com") == .replyCode(Expected.senderDenied))
        client.quit()
    }

    @Test("a connection reused with QUIT_NC ('K') starts a new session: no state leaks between clients")
    func reusedConnectionResetsState() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        // A clean client and a complete message first...
        #expect(client.connect(address: "198.51.100.7").letsMailThrough)
        #expect(client.helo("client.example.test").letsMailThrough)
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        #expect(client.rcpt(to: "user@example.com").letsMailThrough)
        #expect(client.data().letsMailThrough)
        #expect(client.endOfHeaders().letsMailThrough)
        #expect(client.endOfMessage() == .continue)
        // ...then, on the same milter connection, a deny-listed client: refused at its RCPT.
        // (libmilter takes 'K' only after a finished message, so the order is fixed.)
        client.quitNewConnection()
        #expect(client.connect(address: "192.0.2.66").letsMailThrough)
        #expect(client.helo("client.example.test").letsMailThrough)
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        #expect(client.rcpt(to: "user@example.com") == .replyCode(Expected.clientDenied("192.0.2.66")))
        client.quit()
        // And the next connection, from a clean client, passes: the verdict is per session.
        let next = try daemon.session()
        defer { next.close() }
        let transcript = try next.runTransaction(Envelope())
        #expect(transcript.passedEveryStep, "\(transcript)")
        next.quit()
    }

    @Test("a client without an address (family 'U') and a unix-socket client ('L') are handled")
    func clientsWithoutIPAddress() throws {
        let daemon = try currentDaemon()
        for family: Character in ["U", "L"] {
            let client = try daemon.session()
            defer { client.close() }
            #expect(client.connect(hostname: "localhost", address: "/var/run/x.sock", family: family).letsMailThrough)
            #expect(client.helo("client.example.test").letsMailThrough)
            #expect(client.mail(from: "good@example.org").letsMailThrough)
            #expect(client.rcpt(to: "user@example.com").letsMailThrough)
            #expect(client.mail(from: "bad@example.com") == .replyCode(Expected.senderDenied))
            client.quit()
        }
        expectHealthy(daemon, after: "clients without an IP address")
    }

    @Test("an IPv6 client is handled")
    func ipv6Client() throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        var envelope = Envelope()
        envelope.clientAddress = "2001:db8::25"
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.passedEveryStep, "\(transcript)")
        client.quit()
    }
}
