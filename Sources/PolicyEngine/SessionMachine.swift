import PolicyCore

/// What one milter connection has seen so far, and what to answer next.
///
/// Pure: events in, actions out; no C types, I/O or clock. The adapter (and `portcullis check`)
/// feeds it the MTA's events; when it answers ``Action/evaluate(_:_:)`` the caller runs the engine
/// and hands the ``StageResult`` back to ``resolved(_:)``, which says what to reply and which
/// decisions to log.
///
/// Decide early, reply late: with `delayReject`, connect and HELO decisions are held and
/// delivered at every RCPT of the connection, where a reply can carry text and the log can name
/// the sender and recipient (as Postfix's `smtpd_delay_reject`).
public struct SessionMachine: Sendable {
    public enum Action: Sendable {
        /// Nothing to decide: answer continue.
        case proceed
        /// Run the engine for this stage, then call ``resolved(_:)``.
        case evaluate(Stage, Transaction)
        /// Answer now, without the engine (a held decision delivered at RCPT).
        case respond(Outcome)
    }

    /// The answer to the MTA.
    public enum Response: Sendable, Equatable {
        case proceed
        /// Stop filtering: the connection (connect/HELO stage) or the message.
        case accept
        /// Reject or tempfail, derived from the reply code.
        case reject(SMTPReply)
        case discard
        /// End of message only: add and remove these headers, then continue.
        case editHeaders(HeaderEdits)
    }

    /// A response plus the decisions to log, one line each.
    public struct Outcome: Sendable {
        public let response: Response
        public let decisions: [LoggedDecision]

        public init(response: Response, decisions: [LoggedDecision]) {
            self.response = response
            self.decisions = decisions
        }
    }

    /// Bounds on what one session may make us remember, whatever the client sends.
    public static let maxStoredHeaderBytes = 256 * 1024
    public static let maxStoredRecipients = 10_000

    private let delayReject: Bool
    private let activeStages: Set<Stage>
    /// Remove Authentication-Results fields that claim this authserv-id (RFC 8601 §5); nil:
    /// keep them. An empty string means the MTA's host name (macro `j`).
    private let forgedAuthservID: String?

    // Connection.
    private var client = ClientFacts()
    private var helo: String?
    private var macros: [String: String] = [:]
    private var queueID: String?
    private var heldConnect: Decision?
    private var heldHelo: Decision?
    private var heldDryRun: [Decision] = []
    /// Facts noted by checks; connection facts (connect/HELO) survive transactions.
    private var facts: [String: String] = [:]

    // Transaction.
    private var sender: EnvelopeAddress?
    private var mailParameters: [String] = []
    private var currentRecipient: EnvelopeAddress?
    private var recipients: [EnvelopeAddress] = []
    private var recipientCount = 0
    private var allowedRecipients = 0
    private var messageAccepted = false
    private var headers: [HeaderField] = []
    private var headerBytes = 0
    private var bodySize = 0
    private var headersToAdd: [HeaderField] = []
    private var headerCounts: [String: Int] = [:]
    private var forgedHeaders: [HeaderPosition] = []

    public init(delayReject: Bool, activeStages: Set<Stage>, forgedAuthservID: String? = nil) {
        self.delayReject = delayReject
        self.activeStages = activeStages
        self.forgedAuthservID = forgedAuthservID
    }

    public init(engine: Engine) {
        self.init(
            delayReject: engine.settings.delayReject, activeStages: engine.activeStages,
            forgedAuthservID: engine.settings.removeForgedAuthenticationResults ? engine.settings.authservID : nil)
    }

    /// True when the MTA must send header fields.
    public static func needsHeaders(_ engine: Engine) -> Bool {
        engine.settings.removeForgedAuthenticationResults || engine.activeStages.contains(.endOfHeaders)
            || engine.activeStages.contains(.endOfMessage)
    }

    // MARK: Events

    /// A new SMTP session: everything from an earlier one on this milter connection is forgotten,
    /// then the connect macros (`j`, `{client_*}`) are noted.
    public mutating func connected(_ client: ClientFacts, macros: [String: String] = [:]) -> Action {
        self = SessionMachine(delayReject: delayReject, activeStages: activeStages, forgedAuthservID: forgedAuthservID)
        self.client = client
        noteMacros(macros)
        return evaluate(.connect)
    }

    /// Macros as the MTA sends them (names without braces); `i` is the queue id.
    public mutating func noteMacros(_ values: [String: String]) {
        for (name, value) in values where !value.isEmpty {
            macros[name] = value
            if name == "i" { queueID = value }
        }
        if client.hostname == nil, let name = values["client_name"], !name.isEmpty { client.hostname = name }
        if client.address == nil, let text = values["client_addr"], let address = IPAddress(text) {
            client.address = address
        }
    }

    public mutating func helo(_ name: String) -> Action {
        helo = name
        heldHelo = nil
        return evaluate(.helo)
    }

    public mutating func mailFrom(_ path: EnvelopeAddress, parameters: [String] = []) -> Action {
        // Decisions of a transaction that ended without end-of-message or abort.
        let leftover = deferred
        deferred = []
        resetTransaction()
        sender = path
        mailParameters = parameters
        // A held connection decision already settles every message of this connection.
        if heldDecision != nil {
            return leftover.isEmpty ? .proceed : .respond(Outcome(response: .proceed, decisions: leftover))
        }
        pendingLog = leftover
        return evaluate(.mail)
    }

    public mutating func rcptTo(_ path: EnvelopeAddress) -> Action {
        currentRecipient = path
        var logged = heldDryRun.map(logged)
        heldDryRun = []
        if let held = heldDecision {
            logged.append(self.logged(held))
            switch held.action {
            case .accept:
                addRecipient(path)
                return .respond(outcome(.accept, logged))
            case .discard:
                addRecipient(path)
                return .respond(outcome(.discard, logged))
            case .reject, .tempfail:
                return .respond(outcome(.reject(held.reply ?? .internalError), logged))
            }
        }
        if messageAccepted || !activeStages.contains(.rcpt) {
            addRecipient(path)
            return logged.isEmpty ? .proceed : .respond(outcome(.proceed, logged))
        }
        pendingLog = logged
        return evaluate(.rcpt)
    }

    public mutating func data() -> Action { evaluate(.data) }

    public mutating func header(_ field: HeaderField) -> Action {
        if let configured = forgedAuthservID {
            let name = field.name.lowercased()
            let position = (headerCounts[name] ?? 0) + 1
            headerCounts[name] = position
            let ours = configured.isEmpty ? (macros["j"] ?? "") : configured
            if name == "authentication-results", !ours.isEmpty,
                AuthenticationResults.authservID(of: field.value)?.lowercased() == ours.lowercased()
            {
                forgedHeaders.append(HeaderPosition(name: field.name, index: position))
            }
        }
        guard activeStages.contains(.endOfHeaders) || activeStages.contains(.endOfMessage) else { return .proceed }
        let size = field.name.utf8.count + field.value.utf8.count
        if headerBytes + size <= SessionMachine.maxStoredHeaderBytes {
            headers.append(field)
            headerBytes += size
        }
        return .proceed
    }

    public mutating func endOfHeaders() -> Action { evaluate(.endOfHeaders) }

    /// A body chunk, cut anywhere by the MTA (Postfix: at most 65,535 bytes).
    public mutating func body(_ chunk: [UInt8]) -> Action {
        bodySize += chunk.count
        return .proceed
    }

    public mutating func endOfMessage() -> Action {
        let action = evaluate(.endOfMessage)
        guard case .proceed = action else { return action }
        let edits = HeaderEdits(add: headersToAdd, remove: forgedHeaders)
        let result = outcome(edits.isEmpty ? .proceed : .editHeaders(edits), [], endsMessage: true)
        finishMessage()
        return result.decisions.isEmpty && edits.isEmpty ? .proceed : .respond(result)
    }

    /// The MTA aborted the transaction (RSET, QUIT mid-message, a reject elsewhere). Returns the
    /// decisions still waiting for a queue id, to be logged now.
    public mutating func aborted() -> [LoggedDecision] {
        let flushed = outcome(.proceed, [], endsMessage: true).decisions
        finishMessage()
        return flushed
    }

    /// The connection closed: the same as an abort for what is still to be logged.
    public mutating func closed() -> [LoggedDecision] { aborted() }

    // MARK: Engine results

    /// Turns the engine's result for the stage this machine asked about into a reply.
    public mutating func resolved(_ result: StageResult) -> Outcome {
        let stage = result.stage
        var decisions = pendingLog
        pendingLog = []
        headersToAdd += result.headers
        facts.merge(result.facts) { _, new in new }

        if stage.isConnectionStage && delayReject {
            heldDryRun += result.dryRunDecisions
        } else {
            decisions += result.dryRunDecisions.map(logged)
        }

        guard let decision = result.decision else {
            if stage == .rcpt, let rcpt = currentRecipient { addRecipient(rcpt) }
            if stage == .endOfMessage {
                let edits = HeaderEdits(add: headersToAdd, remove: forgedHeaders)
                let result = outcome(edits.isEmpty ? .proceed : .editHeaders(edits), decisions, endsMessage: true)
                finishMessage()
                return result
            }
            return outcome(.proceed, decisions)
        }

        if stage.isConnectionStage && delayReject {
            if stage == .connect { heldConnect = decision } else { heldHelo = decision }
            return outcome(.proceed, decisions)
        }

        decisions.append(logged(decision))
        let response: Response
        switch decision.action {
        case .accept:
            if stage == .rcpt, let rcpt = currentRecipient {
                // An allow-listed recipient skips the other RCPT checks; the message is accepted
                // outright only when every recipient is allow-listed (see `skipsMessageChecks`).
                addRecipient(rcpt)
                allowedRecipients += 1
                response = .proceed
            } else {
                messageAccepted = true
                response = .accept
            }
        case .discard:
            response = .discard
        case .reject, .tempfail:
            response = .reject(decision.reply ?? .internalError)
        }
        let result = outcome(response, decisions, endsMessage: stage == .endOfMessage)
        if stage == .endOfMessage { finishMessage() }
        return result
    }

    /// Decisions on a message that goes on (dry-run, an allow-listed recipient) wait until the
    /// queue id is known — Postfix assigns it only at DATA — so that every line of a message can
    /// be found by its queue id. They are logged at end of message, abort, close, or with the
    /// next decision that ends or refuses something.
    private mutating func outcome(_ response: Response, _ decisions: [LoggedDecision], endsMessage: Bool = false)
        -> Outcome
    {
        let goesOn = !endsMessage && sender != nil && response == .proceed
        if goesOn && queueID == nil {
            deferred += decisions
            return Outcome(response: response, decisions: [])
        }
        let all = (deferred + decisions).map { $0.queueID == nil ? $0.with(queueID: queueID) : $0 }
        deferred = []
        return Outcome(response: response, decisions: all)
    }

    /// The result the engine could not produce in time (the adapter's safety net).
    public static func timedOut(_ stage: Stage) -> StageResult {
        StageResult(
            stage: stage,
            decision: Decision(
                check: "engine", stage: stage, action: .tempfail, reply: .internalError,
                reason: "stage did not finish within the adapter deadline", dryRun: false))
    }

    // MARK: Private

    private var pendingLog: [LoggedDecision] = []
    private var deferred: [LoggedDecision] = []

    private var heldDecision: Decision? { heldConnect ?? heldHelo }

    /// True when the message needs no more checks: allow-listed sender, or every recipient
    /// allow-listed.
    private var skipsMessageChecks: Bool {
        messageAccepted || (recipientCount > 0 && allowedRecipients == recipientCount)
    }

    private mutating func evaluate(_ stage: Stage) -> Action {
        guard activeStages.contains(stage) else { return .proceed }
        if stage >= .data && skipsMessageChecks { return .proceed }
        if stage == .mail && messageAccepted { return .proceed }
        return .evaluate(stage, snapshot(stage))
    }

    private mutating func addRecipient(_ path: EnvelopeAddress) {
        recipientCount += 1
        if recipients.count < SessionMachine.maxStoredRecipients { recipients.append(path) }
    }

    private mutating func resetTransaction() {
        sender = nil
        mailParameters = []
        currentRecipient = nil
        recipients = []
        recipientCount = 0
        allowedRecipients = 0
        messageAccepted = false
        headers = []
        headerBytes = 0
        bodySize = 0
        headersToAdd = []
        headerCounts = [:]
        forgedHeaders = []
        pendingLog = []
    }

    /// Ends the message: the transaction goes, and so does its queue id. Not called at MAIL,
    /// because Sendmail sends the new queue id with the MAIL event itself.
    private mutating func finishMessage() {
        resetTransaction()
        queueID = nil
        macros["i"] = nil
    }

    private func snapshot(_ stage: Stage) -> Transaction {
        var tx = Transaction(
            client: client, helo: helo, sender: sender,
            currentRecipient: stage == .rcpt ? currentRecipient : nil,
            // The full list only from DATA on: copying it at every RCPT would cost O(n²).
            recipients: stage >= .data ? recipients : [],
            recipientCount: recipientCount, mailParameters: mailParameters, queueID: queueID, macros: macros,
            headers: stage >= .endOfHeaders ? headers : [], bodySize: bodySize)
        tx.facts = facts
        return tx
    }

    private func logged(_ decision: Decision) -> LoggedDecision {
        LoggedDecision(
            decision: decision, queueID: queueID, client: client.address, clientName: facts["client_name"], helo: helo,
            sender: sender,
            recipient: decision.stage >= .rcpt || decision.stage.isConnectionStage ? currentRecipient : nil)
    }
}

/// A decision with the session context its log line names.
public struct LoggedDecision: Sendable, Equatable {
    public let decision: Decision
    public let queueID: String?
    public let client: IPAddress?
    /// The forward-confirmed host name, when a check confirmed one.
    public let clientName: String?
    public let helo: String?
    public let sender: EnvelopeAddress?
    public let recipient: EnvelopeAddress?

    func with(queueID: String?) -> LoggedDecision {
        LoggedDecision(
            decision: decision, queueID: queueID, client: client, clientName: clientName, helo: helo, sender: sender,
            recipient: recipient)
    }
}
