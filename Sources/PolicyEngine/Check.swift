import PolicyCore

/// One policy check: small, stateless between transactions, dependencies injected at init.
///
/// A check answers ``Verdict/dunno`` unless it decides, like a Postfix restriction. Expected
/// outcomes ("not listed") are verdicts; a check throws only when it could not decide (DNS
/// timeout, store down), and the engine then applies the check's configured ``ErrorPolicy``.
public protocol Check: Sendable {
    /// The instance name: config section, log `check=` value and docs/checks/<name>.md.
    var name: String { get }
    /// The stage whose data this check needs.
    var stage: Stage { get }
    /// Decides about one transaction.
    func evaluate(_ tx: Transaction) async throws -> Verdict
}

/// What a check says about a transaction.
public enum Verdict: Sendable, Equatable {
    /// No opinion (Postfix: DUNNO).
    case dunno
    /// Allow-list hit: stop checking. For a connection stage the whole connection, for MAIL the
    /// message, for RCPT that recipient.
    case accept(because: String)
    /// Refuse with this reply; 4xx is temporary, 5xx permanent.
    case reject(SMTPReply, because: String)
    /// Accept the message and throw it away.
    case discard(because: String)
    /// Add headers at end of message; never stops evaluation. `notes` are facts for later
    /// checks, as with ``note(_:_:)`` (the SPF result, for greylisting's SPF skip).
    case annotate([HeaderField], notes: [String: String] = [:])
    /// No opinion, but a fact for later checks and the log, e.g. `client_name` for the
    /// forward-confirmed host name (``Transaction/facts``).
    case note(String, String)
}

/// `enforce` acts on verdicts; `dry-run` only logs the decision it would have taken.
public enum CheckMode: String, Sendable, Equatable, CaseIterable {
    case enforce
    case dryRun = "dry-run"
}

/// What the engine does when a check throws or runs out of time.
public enum ErrorPolicy: Sendable, Equatable {
    /// Fail open: treat as no opinion, and log why.
    case `continue`
    /// Fail closed with this reply (default: the catalogue's 451 4.3.0).
    case tempfail(SMTPReply)
    /// Fail closed permanently with this reply.
    case reject(SMTPReply)
}

/// A check as configured: the check plus its mode and error policy.
public struct ConfiguredCheck: Sendable {
    public let check: any Check
    public let mode: CheckMode
    public let onError: ErrorPolicy

    public init(_ check: any Check, mode: CheckMode = .enforce, onError: ErrorPolicy = .continue) {
        self.check = check
        self.mode = mode
        self.onError = onError
    }
}
