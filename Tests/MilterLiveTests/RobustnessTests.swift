import Testing

/// Bad input through the real socket. Each case must be answered sensibly (a reply, tempfail or
/// continue; silence only where libmilter itself drops a command its state table cannot place;
/// a closed connection only where libmilter itself refuses a malformed packet) without killing
/// or stalling the daemon: after each one the process is still running and a fresh connection
/// still gets the right answers.
@Suite("Live: robustness", .serialized, .liveDaemon(LiveConfig.standard))
struct RobustnessTests {
    /// A session through connect and HELO from a clean client.
    private func openSession(_ daemon: DaemonProcess, helo: String = "client.example.test") throws -> MilterClient {
        let client = try daemon.session()
        #expect(client.connect(address: "198.51.100.7").letsMailThrough)
        #expect(client.helo(helo).letsMailThrough)
        return client
    }

    /// A session with an open transaction: connect, HELO, MAIL and one RCPT, all passed.
    private func openTransaction(_ daemon: DaemonProcess) throws -> MilterClient {
        let client = try openSession(daemon)
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        #expect(client.rcpt(to: "user@example.com").letsMailThrough)
        return client
    }

    // MARK: Addresses

    struct BadAddress: Sendable, CustomTestStringConvertible {
        let label: String
        let bytes: [UInt8]
        var testDescription: String { label }
    }

    static let badAddresses: [BadAddress] = [
        .init(label: "NUL inside the address", bytes: Array("bad".utf8) + [0] + Array("@example.com".utf8)),
        .init(label: "NUL inside the domain", bytes: Array("user@exa".utf8) + [0] + Array("mple.com".utf8)),
        .init(label: "invalid UTF-8 (C3 28)", bytes: [0x62, 0xC3, 0x28, 0x64] + Array("@example.com".utf8)),
        .init(label: "invalid UTF-8 (FF FE)", bytes: [0xFF, 0xFE] + Array("@example.com".utf8)),
        .init(label: "overlong UTF-8 (C0 AF)", bytes: [0xC0, 0xAF] + Array("x@example.com".utf8)),
        .init(label: "lone continuation byte (80)", bytes: [0x80] + Array("x@example.com".utf8)),
        .init(label: "8-bit Latin-1 byte (E9)", bytes: Array("r".utf8) + [0xE9] + Array("mi@example.com".utf8)),
    ]

    @Test("MAIL FROM with NUL or invalid 8-bit bytes is refused with 550 5.1.7", arguments: badAddresses)
    func malformedSender(address: BadAddress) throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        let reply = client.mail(fromBytes: address.bytes)
        #expect(reply == .replyCode(Expected.senderInvalid), "\(address.label): got \(reply); stderr tail:\n\(daemon.logTail())")
        client.quit()
        expectHealthy(daemon, after: "MAIL FROM with \(address.label)")
    }

    @Test("RCPT TO with NUL or invalid 8-bit bytes is refused with 550 5.1.3", arguments: badAddresses)
    func malformedRecipient(address: BadAddress) throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        let reply = client.rcpt(toBytes: address.bytes)
        #expect(reply == .replyCode(Expected.recipientInvalid), "\(address.label): got \(reply); stderr tail:\n\(daemon.logTail())")
        // A valid recipient after it in the same transaction still passes.
        #expect(client.rcpt(to: "user@example.com").letsMailThrough)
        client.quit()
        expectHealthy(daemon, after: "RCPT TO with \(address.label)")
    }

    @Test("valid UTF-8 addresses (SMTPUTF8) pass", arguments: [
        ("jöran@exämple.com", "användare@example.com"),
        ("用户@例子.广告", "δοκιμή@παράδειγμα.δοκιμή"),
    ])
    func utf8Addresses(sender: String, recipient: String) throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        let mail = client.mail(from: sender, parameters: ["SMTPUTF8", "BODY=8BITMIME"])
        try #require(mail.letsMailThrough, "MAIL FROM:<\(sender)> got \(mail)")
        let rcpt = client.rcpt(to: recipient)
        try #require(rcpt.letsMailThrough, "RCPT TO:<\(recipient)> got \(rcpt)")
        #expect(client.data().letsMailThrough)
        #expect(client.endOfHeaders().letsMailThrough)
        #expect(client.endOfMessage() == .continue)
        client.quit()
    }

    @Test("the null sender <> passes, and a 4000-byte address is answered")
    func unusualButWellFormedAddresses() throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        #expect(client.mail(fromBytes: []).letsMailThrough)
        #expect(client.rcpt(to: "user@example.com").letsMailThrough)
        client.abort()
        let long = String(repeating: "a", count: 4000) + "@example.com"
        let reply = client.mail(from: long)
        #expect(isSensible(reply), "got \(reply)")
        client.abort()
        client.quit()
        expectHealthy(daemon, after: "long and null addresses")
    }

    // MARK: Sizes

    @Test("a header value as large as libmilter's packet limit (65,528 bytes) is taken")
    func largestHeader() throws {
        let daemon = try currentDaemon()
        let client = try openTransaction(daemon)
        defer { client.close() }
        client.sendsSkippedEvents = true  // send headers even if the daemon asked not to get them
        #expect(client.data().letsMailThrough)
        let value = String(repeating: "x", count: 65_535 - "X-Big".utf8.count - 2)
        let reply = client.header("X-Big", value)
        #expect(isSensible(reply), "got \(reply)")
        #expect(client.header("Subject", "after the big one").letsMailThrough)
        #expect(client.endOfHeaders().letsMailThrough)
        #expect(client.endOfMessage() == .continue)
        client.quit()
        expectHealthy(daemon, after: "a 65,528-byte header value")
    }

    @Test("a 64 KiB header value is answered or refused by libmilter, and nothing else breaks")
    func sixtyFourKiBHeader() throws {
        let daemon = try currentDaemon()
        let client = try openTransaction(daemon)
        defer { client.close() }
        client.sendsSkippedEvents = true
        #expect(client.data().letsMailThrough)
        // 65,536 bytes of value: the packet (73 bytes more) is over libmilter's 65,535-byte limit,
        // so libmilter may close the connection (Postfix would then apply milter_default_action).
        let reply = client.header("X-Big", String(repeating: "y", count: 65_536))
        #expect(isSensible(reply, allowClosed: true), "got \(reply)")
        if reply != .closed {
            #expect(client.endOfHeaders().letsMailThrough)
            #expect(client.endOfMessage() == .continue)
        }
        client.quit()
        expectHealthy(daemon, after: "a 64 KiB header value")
    }

    @Test("10,000 recipients in one transaction are all answered")
    func tenThousandRecipients() throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        var wrong: [(Int, MilterReply)] = []
        let started = ContinuousClock.now
        for index in 0..<10_000 {
            let reply = client.rcpt(to: "user\(index)@example.com")
            if !reply.letsMailThrough {
                wrong.append((index, reply))
                if reply == .closed || reply == .timedOut { break }
            }
        }
        let elapsed = ContinuousClock.now - started
        #expect(wrong.isEmpty, "\(wrong.count) recipients not passed, first: \(wrong.prefix(3)) after \(elapsed); stderr tail:\n\(daemon.logTail())")
        // The 10,001st, deny-listed, still gets its own answer.
        #expect(client.rcpt(to: "nobody@example.com") == .replyCode(Expected.recipientDenied))
        #expect(client.data().letsMailThrough)
        #expect(client.endOfHeaders().letsMailThrough)
        #expect(client.endOfMessage() == .continue)
        client.quit()
        expectHealthy(daemon, after: "10,000 recipients")
    }

    // MARK: Callbacks out of order

    /// The out-of-place command gets `timeout` to be answered; libmilter silently drops commands
    /// it cannot reach from its current state, so silence is acceptable.
    private func outOfOrder(_ client: MilterClient, timeout: Duration = .seconds(1), _ send: (MilterClient) -> MilterReply) -> MilterReply {
        let saved = client.readTimeout
        client.readTimeout = timeout
        defer { client.readTimeout = saved }
        return send(client)
    }

    @Test("RCPT before MAIL")
    func rcptBeforeMail() throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        let reply = outOfOrder(client) { $0.rcpt(to: "user@example.com") }
        #expect(isSensible(reply, allowSilence: true), "got \(reply)")
        #expect(!client.desynchronised)
        // The connection is still in step: a deny-listed sender is refused, a clean one passes.
        #expect(client.mail(from: "bad@example.com") == .replyCode(Expected.senderDenied))
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        #expect(client.rcpt(to: "user@example.com").letsMailThrough)
        client.quit()
        expectHealthy(daemon, after: "RCPT before MAIL")
    }

    @Test("body before DATA")
    func bodyBeforeData() throws {
        let daemon = try currentDaemon()
        let client = try openTransaction(daemon)
        defer { client.close() }
        client.sendsSkippedEvents = true
        let reply = outOfOrder(client) { $0.body(Array("body without DATA\r\n".utf8)) }
        #expect(isSensible(reply, allowSilence: true), "got \(reply)")
        let end = client.endOfMessage()
        #expect(end == .continue, "end of message got \(end)")
        client.quit()
        expectHealthy(daemon, after: "body before DATA")
    }

    @Test("end of message without MAIL")
    func endOfMessageWithoutMail() throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        let reply = outOfOrder(client) { $0.endOfMessage() }
        #expect(isSensible(reply, allowSilence: true), "got \(reply)")
        #expect(client.mail(from: "bad@example.com") == .replyCode(Expected.senderDenied))
        client.quit()
        expectHealthy(daemon, after: "end of message without MAIL")
    }

    @Test("DATA and end of headers without RCPT")
    func dataWithoutRcpt() throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        client.sendsSkippedEvents = true
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        let data = outOfOrder(client) { $0.data() }
        #expect(isSensible(data, allowSilence: true), "DATA got \(data)")
        let eoh = outOfOrder(client) { $0.endOfHeaders() }
        #expect(isSensible(eoh, allowSilence: true), "EOH got \(eoh)")
        let eom = outOfOrder(client) { $0.endOfMessage() }
        #expect(isSensible(eom, allowSilence: true), "EOM got \(eom)")
        client.quit()
        expectHealthy(daemon, after: "DATA without RCPT")
    }

    @Test("a second connect in the middle of a session")
    func secondConnect() throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        let reply = outOfOrder(client) { $0.connect(address: "192.0.2.66") }
        #expect(isSensible(reply, allowSilence: true), "got \(reply)")
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        // Either the second connect was dropped (clean client) or it replaced the first (denied).
        let rcpt = client.rcpt(to: "user@example.com")
        #expect(rcpt.letsMailThrough || rcpt == .replyCode(Expected.clientDenied("192.0.2.66")), "got \(rcpt)")
        client.quit()
        expectHealthy(daemon, after: "a second connect")
    }

    @Test("abort, then a new transaction on the same connection")
    func abortThenNewTransaction() throws {
        let daemon = try currentDaemon()
        let client = try openTransaction(daemon)
        defer { client.close() }
        client.abort()
        #expect(client.mail(from: "bad@example.com") == .replyCode(Expected.senderDenied))
        #expect(client.mail(from: "good@example.org").letsMailThrough)
        #expect(client.rcpt(to: "nobody@example.com") == .replyCode(Expected.recipientDenied))
        client.abort()
        client.abort()  // twice: the second is out of place
        client.quit()
        expectHealthy(daemon, after: "abort")
    }

    @Test("an unknown SMTP command ('U') is answered")
    func unknownSMTPCommand() throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        client.sendsSkippedEvents = true
        let reply = client.unknown("XYZZY plugh")
        #expect(isSensible(reply), "got \(reply)")
        #expect(client.mail(from: "bad@example.com") == .replyCode(Expected.senderDenied))
        client.quit()
        expectHealthy(daemon, after: "an unknown SMTP command")
    }

    // MARK: Connections that go away

    @Test("the MTA closes the connection after RCPT")
    func closedAfterRcpt() throws {
        let daemon = try currentDaemon()
        let client = try openTransaction(daemon)
        client.close()
        expectHealthy(daemon, after: "a close after RCPT")
    }

    @Test("the MTA closes the connection in the middle of a body chunk")
    func closedMidBodyChunk() throws {
        let daemon = try currentDaemon()
        let client = try openTransaction(daemon)
        client.sendsSkippedEvents = true
        #expect(client.data().letsMailThrough)
        #expect(client.endOfHeaders().letsMailThrough)
        // A 'B' packet that promises 1000 bytes and delivers 500.
        client.sendRaw(bigEndianBytes(1001) + [MilterCommand.body.rawValue] + [UInt8](repeating: 0x41, count: 500))
        client.close()
        expectHealthy(daemon, after: "a close mid body chunk")
    }

    @Test("the MTA closes the connection before negotiating, and right after negotiating")
    func closedEarly() throws {
        let daemon = try currentDaemon()
        try daemon.connect().close()
        let negotiated = try daemon.session()
        negotiated.close()
        expectHealthy(daemon, after: "early closes")
    }

    // MARK: Malformed packets

    struct BadPacket: Sendable, CustomTestStringConvertible {
        /// How far the session gets before the bad packet, so that libmilter's state table lets
        /// it through to the parser (a command out of place is dropped unparsed).
        enum Stage: Sendable { case negotiated, connected, greeted, inTransaction, inMessage }

        let label: String
        let stage: Stage
        let bytes: [UInt8]
        /// Half-close after sending (for truncated packets: libmilter then reads EOF).
        var shutdownAfter = false
        var testDescription: String { label }
    }

    private static func packet(_ command: MilterCommand, _ data: [UInt8]) -> [UInt8] {
        bigEndianBytes(UInt32(data.count + 1)) + [command.rawValue] + data
    }

    static let badPackets: [BadPacket] = [
        .init(
            label: "MAIL with a huge declared length (0x7fffffff)", stage: .greeted,
            bytes: bigEndianBytes(0x7FFF_FFFF) + [MilterCommand.mail.rawValue] + Array("<a@example.com>\0".utf8)),
        .init(
            label: "RCPT with declared length 0xffffffff", stage: .inTransaction,
            bytes: bigEndianBytes(0xFFFF_FFFF) + [MilterCommand.rcpt.rawValue]),
        .init(label: "declared length 0 (and nothing after it)", stage: .greeted, bytes: bigEndianBytes(0)),
        .init(label: "truncated length field", stage: .greeted, bytes: [0, 0], shutdownAfter: true),
        .init(
            label: "truncated MAIL packet", stage: .greeted,
            bytes: bigEndianBytes(100) + [MilterCommand.mail.rawValue] + Array("<a@exa".utf8), shutdownAfter: true),
        .init(label: "unknown command byte 'Z'", stage: .greeted, bytes: packet(MilterCommand("Z"), Array("xx".utf8))),
        .init(label: "unknown command byte 0xff", stage: .inTransaction, bytes: packet(MilterCommand(rawValue: 0xFF), [])),
        .init(
            label: "MAIL without a terminating NUL", stage: .greeted,
            bytes: packet(.mail, Array("<a@example.com> ".utf8))),
        .init(label: "RCPT with no data at all", stage: .inTransaction, bytes: packet(.rcpt, [])),
        .init(label: "HELO without a terminating NUL", stage: .connected, bytes: packet(.helo, Array("example.com".utf8))),
        .init(
            label: "header without a value", stage: .inMessage,
            bytes: packet(.header, Array("Subject".utf8) + [0])),
        .init(label: "macro packet for an unknown stage", stage: .greeted, bytes: packet(.macro, Array("Zi\0x\0".utf8))),
        .init(label: "macro packet with no data", stage: .greeted, bytes: packet(.macro, [])),
        .init(
            label: "connect with an unparsable IPv4 address", stage: .negotiated,
            bytes: packet(.connect, Array("host\0".utf8) + [UInt8(ascii: "4"), 0, 25] + Array("not-an-ip\0".utf8))),
        .init(
            label: "connect with an unknown family 'X'", stage: .negotiated,
            bytes: packet(.connect, Array("host\0".utf8) + [UInt8(ascii: "X"), 0, 25] + Array("1.2.3.4\0".utf8))),
        .init(
            label: "connect cut off inside the port", stage: .negotiated,
            bytes: packet(.connect, Array("host\0".utf8) + [UInt8(ascii: "4"), 0])),
        .init(label: "connect with no data at all", stage: .negotiated, bytes: packet(.connect, [])),
        .init(
            label: "a second option negotiation", stage: .greeted,
            bytes: packet(.optionNegotiation, bigEndianBytes(6) + bigEndianBytes(0x1FF) + bigEndianBytes(0x1F_FFFF))),
    ]

    @Test("a malformed packet is refused without harm", arguments: badPackets)
    func malformedPacket(packet: BadPacket) throws {
        let daemon = try currentDaemon()
        let client = try daemon.session()
        defer { client.close() }
        client.sendsSkippedEvents = true
        if packet.stage != .negotiated {
            #expect(client.connect(address: "198.51.100.7").letsMailThrough)
        }
        if packet.stage != .negotiated && packet.stage != .connected {
            #expect(client.helo("client.example.test").letsMailThrough)
        }
        if packet.stage == .inTransaction || packet.stage == .inMessage {
            #expect(client.mail(from: "good@example.org").letsMailThrough)
            #expect(client.rcpt(to: "user@example.com").letsMailThrough)
        }
        if packet.stage == .inMessage {
            #expect(client.data().letsMailThrough)
        }
        client.sendRaw(packet.bytes)
        if packet.shutdownAfter { client.shutdownWrite() }
        let reply = client.readReply(timeout: .seconds(2))
        // libmilter closes on most of these (too big, truncated, unknown command, undecodable)
        // and silently drops some (bad macro packets, a command its state table cannot place).
        // Anything but a daemon crash or a stall of other connections is acceptable here.
        #expect(isSensible(reply, allowClosed: true, allowSilence: true), "\(packet.label): got \(reply)")
        client.close()
        expectHealthy(daemon, after: packet.label)
    }

    @Test("an MTA that offers only the version-2 feature set can still talk to the daemon")
    func oldMTANegotiation() throws {
        let daemon = try currentDaemon()
        let client = try daemon.connect()
        defer { client.close() }
        let negotiation = try client.negotiate(
            version: 2, actions: 0x3F, protocolFlags: MilterProtocolFlags(rawValue: 0x7F))
        #expect(negotiation.protocolFlags.rawValue & ~UInt32(0x7F) == 0, "asked for unoffered flags \(negotiation.protocolFlags)")
        var envelope = Envelope()
        envelope.sender = "bad@example.com"
        let transcript = try client.runTransaction(envelope)
        #expect(transcript.final == .replyCode(Expected.senderDenied), "\(transcript)")
        client.quit()
    }

    // MARK: Body chunking

    @Test("body chunks split at every offset of a short CRLF message get the same answers as one chunk")
    func bodySplitAtEveryOffset() throws {
        let daemon = try currentDaemon()
        let client = try openSession(daemon)
        defer { client.close() }
        client.sendsSkippedEvents = true  // the body goes to the daemon even if it asked to skip it
        let message = Array("Hello\r\n\r\nline two\r\n.dot\r\nend\r\n".utf8)

        func deliver(_ chunks: [[UInt8]]) -> (chunks: [MilterReply], end: MilterReply) {
            #expect(client.mail(from: "good@example.org").letsMailThrough)
            #expect(client.rcpt(to: "user@example.com").letsMailThrough)
            #expect(client.data().letsMailThrough)
            #expect(client.header("Subject", "split").letsMailThrough)
            #expect(client.endOfHeaders().letsMailThrough)
            let replies = chunks.map { client.body(chunks: [$0]) }
            return (replies, client.endOfMessage())
        }

        let whole = deliver([message])
        #expect(whole.chunks.allSatisfy { $0.letsMailThrough }, "\(whole.chunks)")
        #expect(whole.end == .continue, "one chunk: end of message got \(whole.end)")
        for offset in 1..<message.count {
            let split = deliver(MilterClient.chunks(of: message, splitAt: [offset]))
            #expect(split.chunks.count == 2)
            #expect(split.chunks.allSatisfy { $0 == whole.chunks[0] }, "split at \(offset): \(split.chunks)")
            #expect(split.end == whole.end, "split at \(offset): end of message got \(split.end)")
        }
        let bytes = deliver(message.map { [$0] })
        #expect(bytes.chunks.allSatisfy { $0 == whole.chunks[0] }, "byte by byte: \(bytes.chunks)")
        #expect(bytes.end == whole.end, "byte by byte: end of message got \(bytes.end)")
        client.quit()
    }
}
