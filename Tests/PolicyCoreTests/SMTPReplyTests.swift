import PolicyCore
import Testing

@Suite struct SMTPReplyTests {
    @Test(arguments: SMTPReply.catalogue.map(\.name))
    func everyCatalogueEntryIsValid(_ name: String) throws {
        let reply = try #require(SMTPReply.catalogue.first { $0.name == name }?.reply)
        let validated = try SMTPReply(validating: reply.code, enhanced: reply.enhanced, lines: reply.lines)
        #expect(validated == reply)
    }

    @Test func catalogueHasTheDocumentedTexts() {
        #expect(SMTPReply.senderDenied.description == "553 5.7.1 sorry, your envelope sender has been denied (#5.7.1)")
        #expect(SMTPReply.greylisted.code == 451)
        #expect(SMTPReply.internalError.description == "451 4.3.0 Temporary server error. Please try again later.")
    }

    @Test(arguments: [
        (250, "2.0.0", ["ok"], ReplyError.codeOutOfRange(250)),
        (550, "4.7.1", ["x"], ReplyError.classMismatch(code: 550, enhanced: "4.7.1")),
        (550, "5.7", ["x"], ReplyError.malformedEnhanced("5.7")),
        (550, "5.7.1", [], ReplyError.emptyText),
        (550, "5.7.1", Array(repeating: "x", count: 33), ReplyError.tooManyLines(33)),
        (550, "5.7.1", ["a\r\nb"], ReplyError.forbiddenCharacter(line: 1)),
        (550, "5.7.1", ["ok", String(repeating: "%", count: 481)], ReplyError.lineTooLong(line: 2, bytes: 962)),
    ])
    func refusesInvalidReplies(_ code: Int, _ enhanced: String, _ lines: [String], _ expected: ReplyError) {
        #expect(throws: expected) { try SMTPReply(validating: code, enhanced: enhanced, lines: lines) }
    }

    @Test func rendersTemplatesWithSanitisedValues() {
        let reply = SMTPReply(550, "5.7.1", "no mail from {sender} at {ip} {unknown}")
        let rendered = reply.rendered(["sender": "evil\r\n250 ok@example.com", "ip": "192.0.2.1"])
        #expect(rendered.text == "no mail from evil??250 ok@example.com at 192.0.2.1 {unknown}")
    }

    @Test func cutsRenderedLinesToTheLibmilterLimit() {
        let reply = SMTPReply(553, "5.7.1", "denied {sender}")
        let rendered = reply.rendered(["sender": String(repeating: "%", count: 2000)])
        #expect(SMTPReply.escapedByteCount(rendered.lines[0]) <= SMTPReply.maxEscapedLineBytes)
        #expect(rendered.lines[0].hasSuffix("..."))
    }
}
