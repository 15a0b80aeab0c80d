/// One SMTP session as an MTA would play it to the milter, with every answer recorded.
struct Envelope: Sendable {
    var clientAddress = "198.51.100.7"
    var clientName = "client.example.test"
    var port: UInt16 = 40000
    /// nil: no HELO event.
    var helo: String? = "client.example.test"
    var sender = "good@example.org"
    var recipients = ["user@example.com"]
    var headers: [(String, String)] = [
        ("From", "Good Sender <good@example.org>"), ("To", "user@example.com"), ("Subject", "live test"),
    ]
    var body: [UInt8] = Array("Hello,\r\n\r\nthis is a test.\r\n".utf8)
    /// Where the body is cut into chunks.
    var bodySplits: [Int] = []
    var queueID = "4ABCDEF0123"
}

/// The answers one session got, in order.
struct Transcript: CustomStringConvertible {
    struct Step: CustomStringConvertible {
        let name: String
        let reply: MilterReply
        var description: String { "\(name) -> \(reply)" }
    }

    var steps: [Step] = []

    /// The last answer: the one that ended the session, or the end-of-message answer.
    var final: MilterReply? { steps.last?.reply }
    var finalStep: String? { steps.last?.name }

    /// The answer to the first step with this name ("connect", "helo", "mail", "rcpt <x>",
    /// "data", "header <name>", "eoh", "body", "eom").
    func reply(_ name: String) -> MilterReply? { steps.first { $0.name == name }?.reply }

    /// True if every step up to and including end of message let the mail through.
    var passedEveryStep: Bool {
        steps.last?.name == "eom" && steps.dropLast().allSatisfy { $0.reply.letsMailThrough }
            && steps.last?.reply == .continue
    }

    var description: String { steps.map(\.description).joined(separator: "; ") }
}

extension MilterClient {
    /// Plays a full session (macros, connect, HELO, MAIL, every RCPT, DATA, headers, EOH, body,
    /// EOM) the way Postfix does, stopping at the first answer that is not continue/no-reply.
    /// A rejected recipient ends the session too (the tests use one verdict per session).
    /// Negotiates first if that has not been done. Does not send QUIT.
    func runTransaction(_ envelope: Envelope) throws -> Transcript {
        if negotiation == nil { try negotiate() }
        var transcript = Transcript()
        func step(_ name: String, _ reply: MilterReply) -> Bool {
            transcript.steps.append(.init(name: name, reply: reply))
            return reply.letsMailThrough
        }

        macros(for: .connect, [
            ("j", "mx.example.test"), ("{daemon_name}", "mx.example.test"), ("v", "Postfix 3.7.11"),
            ("_", "\(envelope.clientName) [\(envelope.clientAddress)]"),
            ("{client_addr}", envelope.clientAddress), ("{client_name}", envelope.clientName),
        ])
        guard step("connect", connect(hostname: envelope.clientName, address: envelope.clientAddress, port: envelope.port))
        else { return transcript }

        if let helo = envelope.helo {
            guard step("helo", self.helo(helo)) else { return transcript }
        }

        macros(for: .mail, [("{mail_addr}", envelope.sender)])
        guard step("mail", mail(from: envelope.sender)) else { return transcript }

        for recipient in envelope.recipients {
            macros(for: .rcpt, [("{rcpt_addr}", recipient)])
            guard step("rcpt \(recipient)", rcpt(to: recipient)) else { return transcript }
        }

        macros(for: .data, [("i", envelope.queueID)])
        guard step("data", data()) else { return transcript }
        for (name, value) in envelope.headers {
            guard step("header \(name)", header(name, value)) else { return transcript }
        }
        guard step("eoh", endOfHeaders()) else { return transcript }
        if !envelope.body.isEmpty {
            guard step("body", body(envelope.body, splitAt: envelope.bodySplits)) else { return transcript }
        }
        macros(for: .endOfBody, [("i", envelope.queueID)])
        _ = step("eom", endOfMessage())
        return transcript
    }
}
