import PolicyCore
import PolicyEngine
import SPF

/// SPF (RFC 7208) for the MAIL FROM identity, and the HELO identity for the null sender (or
/// first, when configured, §2.3). Each result maps to an action; accepted mail is annotated
/// with `Received-SPF` (§9.1) and `Authentication-Results` (RFC 8601).
///
/// - Stage: ``Stage/mail``
/// - Replies: ``SMTPReply/spfFail`` (reject), ``SMTPReply/spfTempError`` (temperror),
///   ``SMTPReply/spfPermError`` (permerror, when set to reject), a 4.7.23 tempfail reply
/// - On error: SPF has no internal errors: DNS failures are the temperror result
/// - Docs: docs/checks/spf.md
public struct SPFCheck: Check {
    /// What a result does.
    public enum Action: String, Sendable, CaseIterable {
        /// Let the mail through, with the headers.
        case accept
        case tempfail
        case reject
    }

    /// The configured policy.
    public struct Policy: Sendable {
        public var actions: [SPFResult: Action] = [
            .fail: .reject, .softfail: .accept, .neutral: .accept, .none: .accept, .temperror: .tempfail,
            .permerror: .accept, .pass: .accept,
        ]
        public var heloFirst = false
        public var trusted = NetworkSet()
        public var appendExplanation = false
        public var receivedSPF = true
        public var authenticationResults = true
        /// Empty: the MTA's host name (macro `j`).
        public var authservID = ""
        public var rejectReply = SMTPReply.spfFail
        public var tempfailReply = SMTPReply(
            451, "4.7.23", "SPF check did not pass for {domain}, please try again later")
        public var temperrorReply = SMTPReply.spfTempError
        public var permerrorReply = SMTPReply.spfPermError

        public init() {}
    }

    public let name = "spf"
    public let stage = Stage.mail
    public let evaluator: SPFEvaluator
    public let policy: Policy
    /// Seconds since the epoch, for the `%{t}` macro of explanations (injected: checks never
    /// read the clock).
    public let now: @Sendable () -> Int64

    public init(evaluator: SPFEvaluator, policy: Policy = Policy(), now: @escaping @Sendable () -> Int64 = { 0 }) {
        self.evaluator = evaluator
        self.policy = policy
        self.now = now
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let ip = tx.client.address, let sender = tx.sender, !sender.isMalformed else { return .dunno }
        if let network = policy.trusted.firstMatch(ip) {
            return .note("spf", "skipped: \(ip) is trusted (\(network))")
        }
        let helo = tx.helo ?? ""
        let receiver = authservID(tx)
        var identity = Identity.mailFrom
        var outcome: SPFOutcome
        if policy.heloFirst, !helo.isEmpty, !DomainName.isAddressLiteral(helo) {
            let heloOutcome = await evaluator.evaluateHelo(ip: ip, helo: helo, receiver: receiver, timestamp: now())
            if heloOutcome.result == .fail {
                outcome = heloOutcome
                identity = .helo
                return verdict(outcome, identity: identity, tx: tx, receiver: receiver)
            }
        }
        let address = sender.mailbox?.description ?? ""
        outcome = await evaluator.evaluateMailFrom(
            ip: ip, sender: address, helo: helo, receiver: receiver, timestamp: now())
        if sender.isNull { identity = .helo }
        return verdict(outcome, identity: identity, tx: tx, receiver: receiver)
    }

    enum Identity: String {
        case mailFrom = "mailfrom"
        case helo
    }

    private func authservID(_ tx: Transaction) -> String {
        if !policy.authservID.isEmpty { return policy.authservID }
        return tx.macros["j"].flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
    }

    private func verdict(_ outcome: SPFOutcome, identity: Identity, tx: Transaction, receiver: String) -> Verdict {
        let action = policy.actions[outcome.result] ?? .accept
        let values: ReplyValues = ["domain": outcome.domain]
        var because = "SPF \(outcome.result.rawValue) for \(outcome.domain) (\(identity.rawValue))"
        if let mechanism = outcome.mechanism { because += " by \(mechanism)" }
        if let problem = outcome.problem { because += ": \(problem)" }
        switch action {
        case .accept:
            let headers = SPFHeaders.fields(
                outcome, identity: identity, tx: tx, receiver: receiver, receivedSPF: policy.receivedSPF,
                authenticationResults: policy.authenticationResults)
            let notes = ["spf": outcome.result.rawValue, "spf_domain": outcome.domain.lowercased()]
            return .annotate(headers, notes: notes)
        case .tempfail:
            let reply = outcome.result == .temperror ? policy.temperrorReply : policy.tempfailReply
            return .reject(reply.rendered(values), because: because)
        case .reject:
            var reply = (outcome.result == .permerror ? policy.permerrorReply : policy.rejectReply).rendered(values)
            if policy.appendExplanation, outcome.result == .fail, let explanation = outcome.explanation,
                !explanation.isEmpty
            {
                reply = reply.appending(explanation)
            }
            return .reject(reply, because: because)
        }
    }
}

/// The header fields that record an SPF result.
enum SPFHeaders {
    static func fields(
        _ outcome: SPFOutcome, identity: SPFCheck.Identity, tx: Transaction, receiver: String, receivedSPF: Bool,
        authenticationResults: Bool
    ) -> [HeaderField] {
        var fields: [HeaderField] = []
        let ip = tx.client.address?.description ?? "unknown"
        let from = tx.sender?.mailbox?.description ?? ""
        let helo = safe(tx.helo ?? "")
        if receivedSPF {
            // RFC 7208 §9.1: result (comment) key=value pairs.
            var value = "\(outcome.result.rawValue) (\(safe(receiver)): \(comment(outcome, ip: ip, from: from)))"
            value += " client-ip=\(ip); envelope-from=\(quoted(from.isEmpty ? "<>" : from)); helo=\(quoted(helo));"
            value += " receiver=\(safe(receiver)); identity=\(identity.rawValue);"
            if let mechanism = outcome.mechanism, outcome.result == .pass || outcome.result == .fail
                || outcome.result == .softfail || outcome.result == .neutral
            {
                value += " mechanism=\(quoted(mechanism));"
            }
            if let problem = outcome.problem, outcome.result == .permerror || outcome.result == .temperror {
                value += " problem=\(quoted(problem));"
            }
            fields.append(HeaderField(name: "Received-SPF", value: value))
        }
        if authenticationResults {
            // RFC 8601 §2.7.2: smtp.mailfrom for the MAIL FROM identity, smtp.helo for HELO.
            let property = identity == .helo ? "smtp.helo=\(token(helo))" : "smtp.mailfrom=\(token(from))"
            fields.append(
                HeaderField(name: "Authentication-Results", value: "\(safe(receiver)); spf=\(outcome.result.rawValue) \(property)"))
        }
        return fields
    }

    static func comment(_ outcome: SPFOutcome, ip: String, from: String) -> String {
        let domain = safe(outcome.domain)
        let who = from.isEmpty ? domain : safe(from)
        switch outcome.result {
        case .pass: return "domain of \(who) designates \(ip) as permitted sender"
        case .fail: return "domain of \(who) does not designate \(ip) as permitted sender"
        case .softfail: return "transitioning domain of \(who) does not designate \(ip) as permitted sender"
        case .neutral: return "\(ip) is neither permitted nor denied by domain of \(who)"
        case .none: return "domain of \(who) does not provide an SPF record"
        case .temperror: return "error in processing during lookup of \(domain)"
        case .permerror: return "permanent error in processing domain of \(domain)"
        }
    }

    /// Printable ASCII without parentheses, quotes or backslashes: comments and values stay
    /// well-formed whatever the client sent.
    static func safe(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.prefix(200).map {
                    $0.value >= 0x21 && $0.value < 0x7F && !"()\"\\;".unicodeScalars.contains($0) ? $0 : "_"
                }))
    }

    static func quoted(_ text: String) -> String { "\"\(safe(text))\"" }

    /// An RFC 8601 property value: a token, or quoted when it holds special characters.
    static func token(_ text: String) -> String {
        let value = safe(text)
        return value.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || "0123456789.-_@+".unicodeScalars.contains($0) }
            && !value.isEmpty ? value : quoted(value)
    }
}
