import PolicyCore

/// What a decision does to the SMTP transaction.
public enum DecisionAction: String, Sendable, Equatable {
    case accept
    case reject
    case tempfail
    case discard
}

/// One decision: the check that took it, what it does, and why. Logged as one line.
public struct Decision: Sendable, Equatable {
    public let check: String
    public let stage: Stage
    public let action: DecisionAction
    /// The reply sent (or, in dry-run, that would have been sent); nil for accept and discard.
    public let reply: SMTPReply?
    /// For logs only; never sent to the client.
    public let reason: String
    public let dryRun: Bool

    public init(check: String, stage: Stage, action: DecisionAction, reply: SMTPReply?, reason: String, dryRun: Bool) {
        self.check = check
        self.stage = stage
        self.action = action
        self.reply = reply
        self.reason = reason
        self.dryRun = dryRun
    }

    func asDryRun() -> Decision {
        Decision(check: check, stage: stage, action: action, reply: reply, reason: reason, dryRun: true)
    }
}

/// One line of the per-check trace (`portcullis check`, debug logs).
public struct TraceEntry: Sendable, Equatable {
    public let check: String
    public let stage: Stage
    /// `dunno`, `accept`, `reject`, `tempfail`, `discard`, `annotate`, `error`, `timeout`.
    public let verdict: String
    public let reason: String
    public let milliseconds: Double
    public let dryRun: Bool
    /// The DNS queries the check made, when the engine traces them (`portcullis check`).
    public let queries: [QueryRecord]
}

/// The combined outcome of one stage.
public struct StageResult: Sendable {
    public let stage: Stage
    /// The enforced decision, if any check decided (accept, reject, tempfail or discard).
    public let decision: Decision?
    /// Decisions that dry-run checks would have taken; logged, never acted on.
    public let dryRunDecisions: [Decision]
    /// Headers to add at end of message.
    public let headers: [HeaderField]
    /// Facts checks noted for later stages (``Verdict/note(_:_:)``).
    public let facts: [String: String]
    public let trace: [TraceEntry]

    public init(
        stage: Stage, decision: Decision? = nil, dryRunDecisions: [Decision] = [], headers: [HeaderField] = [],
        facts: [String: String] = [:], trace: [TraceEntry] = []
    ) {
        self.stage = stage
        self.decision = decision
        self.dryRunDecisions = dryRunDecisions
        self.headers = headers
        self.facts = facts
        self.trace = trace
    }
}
