import Testing

/// Configurations the live suites run the daemon with (the `milter:` section is added by
/// `DaemonProcess`).
enum LiveConfig {
    /// One entry in each deny list, everything else at its default (delay_reject on).
    static let standard = """
        checks:
          client_deny:    {entries: ["192.0.2.66/32"]}
          sender_deny:    {entries: ["bad@example.com"]}
          recipient_deny: {entries: ["nobody@example.com"]}
          helo_deny:      {entries: ["bad.example"]}
        """
}

/// The replies of the default catalogue, as they must arrive on the wire.
enum Expected {
    static let senderDenied = "553 5.7.1 sorry, your envelope sender has been denied (#5.7.1)"
    static let recipientDenied = "553 5.7.1 sorry, your envelope recipient has been denied (#5.7.1)"
    static let heloDenied = "553 5.7.1 sorry, your HELO host name has been denied (#5.7.1)"
    static func clientDenied(_ ip: String) -> String {
        "554 5.7.1 sorry, your client host [\(ip)] has been denied (#5.7.1)"
    }
    static let heloInvalid = "501 5.5.2 EHLO Invalid domain address."
    static let senderInvalid = "550 5.1.7 The address is not valid."
    static let recipientInvalid = "550 5.1.3 A valid address is required"
}

/// The suite's daemon, or a test failure saying that there is none.
func currentDaemon(sourceLocation: SourceLocation = #_sourceLocation) throws -> DaemonProcess {
    try #require(DaemonProcess.current, "no daemon: the suite needs the .liveDaemon(...) trait", sourceLocation: sourceLocation)
}

/// Whether an answer to malformed or out-of-place input is acceptable: any reply, continue,
/// or silence (libmilter drops commands its state table cannot place), but the daemon must
/// not have been killed by it. `.closed` is acceptable only where libmilter itself closes
/// (oversized or malformed packets), so it is a parameter.
func isSensible(_ reply: MilterReply, allowClosed: Bool = false, allowSilence: Bool = false) -> Bool {
    switch reply {
    case .continue, .noReply, .accept, .reject, .tempfail, .discard, .replyCode, .skip: true
    case .timedOut: allowSilence
    case .closed: allowClosed
    case .connectionFailure, .shutdown, .unexpected: false
    }
}

/// After a robustness case: the process is still running, and a fresh connection gets the
/// right answers (a deny-listed sender is refused, a clean message passes every step).
func expectHealthy(_ daemon: DaemonProcess, after what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(daemon.isRunning, "daemon died after \(what); stderr tail:\n\(daemon.logTail())", sourceLocation: sourceLocation)
    guard daemon.isRunning else { return }
    do {
        let client = try daemon.session()
        defer { client.close() }
        var bad = Envelope()
        bad.sender = "bad@example.com"
        let refused = try client.runTransaction(bad)
        #expect(
            refused.finalStep == "mail" && refused.final == .replyCode(Expected.senderDenied),
            "after \(what), a deny-listed sender got: \(refused); stderr tail:\n\(daemon.logTail())",
            sourceLocation: sourceLocation)
        client.abort()
        client.quit()

        let fresh = try daemon.session()
        defer { fresh.close() }
        let clean = try fresh.runTransaction(Envelope())
        #expect(
            clean.passedEveryStep,
            "after \(what), a clean message got: \(clean); stderr tail:\n\(daemon.logTail())",
            sourceLocation: sourceLocation)
        fresh.quit()
    } catch {
        Issue.record("after \(what), a fresh connection failed: \(error); stderr tail:\n\(daemon.logTail())",
                     sourceLocation: sourceLocation)
    }
}
