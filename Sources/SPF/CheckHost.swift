import PolicyCore

/// One run of `check_host()` (RFC 7208 §4) with its counters, caches and trace. Used by one
/// task, from ``SPFEvaluator/checkHost(_:)``, and dropped when it returns.
final class CheckHost {
    /// What stops an evaluation early: the result and why.
    enum Stop: Error, CustomStringConvertible {
        case permerror(String)
        case temperror(String)

        var description: String {
            switch self {
            case .permerror(let why): return "permerror: \(why)"
            case .temperror(let why): return "temperror: \(why)"
            }
        }
    }

    /// The outcome of one record's evaluation.
    struct Verdict {
        var result: SPFResult
        /// The deciding term, "default", or nil for `none`.
        var mechanism: String?
        /// The `exp=` of the record that decided a `fail`, with that record's `<domain>`.
        var explanation: (target: SPFRecord.Target, domain: String)?
        var problem: String?
    }

    private let resolver: any DNSResolver
    private let limits: SPFLimits
    private let request: SPFRequest
    private var values: MacroValues
    private var budget = ExpansionBudget()
    private var dnsTerms = 0
    private var voidLookups = 0
    /// The validated names of `<ip>` for `%{p}`, once looked up.
    private var namesForMacro: [DNSName]?
    private(set) var trace: [SPFTraceStep] = []

    init(resolver: any DNSResolver, limits: SPFLimits, request: SPFRequest) {
        self.resolver = resolver
        self.limits = limits
        var normalized = request
        normalized.domain = CheckHost.withoutTrailingDot(request.domain)
        self.request = normalized
        let (sender, localPart, senderDomain) = CheckHost.senderParts(request.sender, domain: normalized.domain)
        values = MacroValues(request: normalized, sender: sender, localPart: localPart, senderDomain: senderDomain)
    }

    /// `<sender>`, its local-part and its domain (§4.3): the null sender is
    /// `postmaster@<domain>`, a missing local-part is `postmaster`, and a sender without "@" is
    /// taken as a domain.
    static func senderParts(_ raw: String, domain: String) -> (sender: String, localPart: String, domain: String) {
        let sender = raw.isEmpty ? "postmaster@" + domain : raw
        guard let at = sender.lastIndex(of: "@") else { return ("postmaster@" + sender, "postmaster", sender) }
        let senderDomain = String(sender[sender.index(after: at)...])
        guard at > sender.startIndex else { return ("postmaster" + sender, "postmaster", senderDomain) }
        return (sender, String(sender[..<at]), senderDomain)
    }

    // MARK: - check_host()

    /// The whole evaluation: `check_host()` on the request's domain, then the explanation of a
    /// `fail`. Never throws: errors are results.
    func run() async -> SPFOutcome {
        let domain = request.domain
        note(0, "check_host(\(request.ip), \(LogSafe.escape(domain)), sender \(LogSafe.escape(String(decoding: values.sender, as: UTF8.self))))")
        let verdict: Verdict
        do {
            verdict = try await checkHost(domain, depth: 0)
        } catch {
            let (result, problem): (SPFResult, String) =
                switch error {
                case .permerror(let why): (.permerror, why)
                case .temperror(let why): (.temperror, why)
                }
            note(0, "result: \(result) (\(problem))")
            return SPFOutcome(result: result, domain: domain, problem: problem, trace: trace)
        }
        var text: String? = nil
        if verdict.result == .fail, let source = verdict.explanation {
            text = await explanation(source.target, domain: source.domain)
        }
        note(0, "result: \(verdict.result)" + (verdict.mechanism.map { " (\($0))" } ?? ""))
        return SPFOutcome(
            result: verdict.result, domain: domain, mechanism: verdict.mechanism, explanation: text,
            problem: verdict.problem, trace: trace)
    }

    /// check_host() for one `<domain>` (§4): the record's terms in order, then `redirect=`.
    /// Returns `none` as a value; throws `permerror` and `temperror`.
    private func checkHost(_ domain: String, depth: Int) async throws(Stop) -> Verdict {
        // §4.3: a malformed or single-label domain, or a domain literal, is "none".
        guard let name = CheckHost.checkableName(domain) else {
            let why = "\"\(LogSafe.escape(domain))\" is not a valid multi-label domain name (RFC 7208 §4.3)"
            note(depth, "\(LogSafe.escape(domain)): \(why) -> none")
            return Verdict(result: .none, problem: why)
        }
        // §4.4: the TXT record; the SPF RR type is not queried (§3.1, §14.1).
        let answer = try await query(name, .txt, depth: depth, countsAsVoid: depth > 0)
        let records = answer.texts.filter(SPFRecord.isSPFRecord)
        guard records.count <= 1 else {
            throw .permerror("\(name) has \(records.count) SPF records; at most one is allowed (RFC 7208 §4.5)")
        }
        guard let text = records.first else {
            let why = "\(name) has no SPF record (RFC 7208 §4.5)"
            note(depth, "\(name): no SPF record -> none")
            return Verdict(result: .none, problem: why)
        }
        note(depth, "\(name): record \(LogSafe.escape(text))")
        let record: SPFRecord
        do {
            record = try SPFRecord(parsing: text)
        } catch {
            note(depth, "\(name): syntax error: \(error.description)")
            throw .permerror("syntax error in the SPF record of \(name): \(error.description)")
        }
        var values = self.values
        values.domain = Array(domain.utf8)
        for directive in record.directives {
            if directive.mechanism.queriesDNS { try countTerm(directive.text) }
            guard try await matches(directive, current: name, values: &values, depth: depth) else {
                continue
            }
            let result = directive.qualifier.result
            note(depth, "\(name): \(directive.text) matched -> \(result)")
            return Verdict(
                result: result, mechanism: directive.text,
                explanation: result == .fail ? record.explanation.map { ($0, domain) } : nil)
        }
        guard let redirect = record.redirect else {
            note(depth, "\(name): no term matched -> neutral (default)")
            return Verdict(result: .neutral, mechanism: "default")
        }
        // §6.1: only when no mechanism matched; the target's result is the result.
        try countTerm(redirect.text)
        let target = try await expandDomain(redirect.domainSpec, values: &values, depth: depth)
        note(depth, "\(redirect.text) -> \(LogSafe.escape(target))")
        let verdict = try await checkHost(target, depth: depth + 1)
        guard verdict.result != .none else {
            throw .permerror("\(redirect.text): \(verdict.problem ?? "no SPF record") (RFC 7208 §6.1)")
        }
        note(depth, "\(redirect.text) -> \(verdict.result)")
        return verdict
    }

    // MARK: - Mechanisms (§5)

    /// Whether one directive's mechanism matches `<ip>` (§5); `current` is `<domain>`.
    private func matches(
        _ directive: SPFRecord.Directive, current name: DNSName, values: inout MacroValues, depth: Int
    ) async throws(Stop) -> Bool {
        let term = directive.text
        let ip = request.ip
        switch directive.mechanism {
        case .all:
            note(depth, "\(term) -> match")
            return true

        case .ip4(let network), .ip6(let network):
            let matched = network.contains(ip)
            note(depth, "\(term) -> \(matched ? "match" : "no match")")
            return matched

        case .include(let spec):
            let target = try await expandDomain(spec, values: &values, depth: depth)
            note(depth, "\(term) -> check_host(\(LogSafe.escape(target)))")
            let verdict = try await checkHost(target, depth: depth + 1)
            // §5.2: pass matches; fail, softfail, neutral do not; none is a permerror.
            switch verdict.result {
            case .pass:
                note(depth, "\(term) -> pass (match)")
                return true
            case .fail, .softfail, .neutral:
                note(depth, "\(term) -> \(verdict.result) (no match)")
                return false
            case .none:
                throw .permerror("\(term): \(verdict.problem ?? "no SPF record") (RFC 7208 §5.2)")
            case .temperror, .permerror:
                // Thrown, never returned; kept for exhaustiveness.
                throw .permerror("\(term): \(verdict.result)")
            }

        case .a(let spec, let cidr):
            guard let target = try await targetName(spec, name, term, values: &values, depth: depth) else { return false }
            let type: DNSRecordType = ip.isIPv4 ? .a : .aaaa
            let answer = try await query(target, type, depth: depth, countsAsVoid: true)
            let matched = answer.addresses.contains { IPNetwork(address: $0, prefixLength: cidr.length(for: ip)).contains(ip) }
            note(depth, "\(term): \(target) \(type) -> \(answer) (\(matched ? "match" : "no match"))")
            return matched

        case .mx(let spec, let cidr):
            guard let target = try await targetName(spec, name, term, values: &values, depth: depth) else { return false }
            let answer = try await query(target, .mx, depth: depth, countsAsVoid: true)
            let exchanges = answer.mxRecords
            // §4.6.4: more than 10 MX names is a permerror for mx.
            guard exchanges.count <= limits.mxNames else {
                throw .permerror(
                    "\(term): \(target) has \(exchanges.count) MX records, more than the \(limits.mxNames) allowed (RFC 7208 §4.6.4)")
            }
            let type: DNSRecordType = ip.isIPv4 ? .a : .aaaa
            for exchange in exchanges.sorted(by: { $0.preference < $1.preference }).compactMap(\.exchange) {
                let addresses = try await query(exchange, type, depth: depth, countsAsVoid: false)
                if addresses.addresses.contains(where: {
                    IPNetwork(address: $0, prefixLength: cidr.length(for: ip)).contains(ip)
                }) {
                    note(depth, "\(term): \(target) MX \(exchange) \(type) -> \(addresses) (match)")
                    return true
                }
            }
            note(depth, "\(term): \(target) MX -> \(answer) (no match)")
            return false

        case .ptr(let spec):
            guard let target = try await targetName(spec, name, term, values: &values, depth: depth) else { return false }
            // §5.5: only names at or below the target are worth validating.
            let names = try await validatedNames(depth: depth, countsAsVoid: true, onlyBelow: target)
            let matched = names.contains { $0.isSubdomain(of: target) }
            note(
                depth,
                "\(term): validated names below \(target): \(names.isEmpty ? "none" : names.map(\.text).joined(separator: ", ")) (\(matched ? "match" : "no match"))"
            )
            return matched

        case .exists(let spec):
            guard let target = try await targetName(spec, name, term, values: &values, depth: depth) else { return false }
            // §5.7: always an A query, whatever the client's address family.
            let answer = try await query(target, .a, depth: depth, countsAsVoid: true)
            let matched = !answer.addresses.isEmpty
            note(depth, "\(term): \(target) A -> \(answer) (\(matched ? "match" : "no match"))")
            return matched
        }
    }

    /// The name a mechanism looks up: its expanded domain-spec, or the current `<domain>`.
    /// Nil when the expansion is no valid DNS name (an empty or overlong label): RFC 7208 leaves
    /// that open (the suite's invalid-domain-* tests accept fail or permerror); like an
    /// unresolvable name, it does not match.
    private func targetName(
        _ spec: MacroString?, _ current: DNSName, _ term: String, values: inout MacroValues, depth: Int
    ) async throws(Stop) -> DNSName? {
        guard let spec else { return current }
        let text = try await expandDomain(spec, values: &values, depth: depth)
        guard let name = DNSName(permittingSpaces: text) else {
            note(depth, "\(term): \"\(LogSafe.escape(text))\" is not a valid DNS name -> no match")
            return nil
        }
        return name
    }

    /// The validated names of `<ip>` (§5.5): PTR names, the first ``SPFLimits/ptrNames`` of
    /// them, whose A/AAAA records include `<ip>`. A DNS error on the PTR query means no names;
    /// on an address query, that name is skipped (§5.5).
    private func validatedNames(depth: Int, countsAsVoid: Bool, onlyBelow target: DNSName?) async throws(Stop)
        -> [DNSName]
    {
        let ip = request.ip
        let reverse = DNSName.reverse(ip)
        let names: [DNSName]
        switch try await tryQuery(reverse, .ptr, depth: depth) {
        case .failure:
            return []
        case .success(let answer):
            if countsAsVoid { try countVoid(answer, reverse, .ptr) }
            names = Array(answer.names.prefix(limits.ptrNames))
        }
        let type: DNSRecordType = ip.isIPv4 ? .a : .aaaa
        var validated: [DNSName] = []
        for candidate in names where target.map({ candidate.isSubdomain(of: $0) }) ?? true {
            if case .success(let answer) = try await tryQuery(candidate, type, depth: depth), answer.addresses.contains(ip) {
                validated.append(candidate)
            }
        }
        return validated
    }

    /// `%{p}` (§7.3): the `<domain>` if validated, else a validated subdomain of it, else any
    /// validated name, else "unknown".
    private func validatedName(for domain: String, depth: Int, inExplanation: Bool) async throws(Stop) -> String {
        if namesForMacro == nil {
            // §4.6.4: the PTR lookup of %{p} counts like a ptr term (not while explaining).
            if !inExplanation { try countTerm("%{p}") }
            namesForMacro = try await validatedNames(depth: depth, countsAsVoid: false, onlyBelow: nil)
        }
        let names = namesForMacro ?? []
        let current = DNSName(permittingSpaces: domain)
        if let current {
            if names.contains(current) { return current.text }
            if let below = names.first(where: { $0.isSubdomain(of: current) }) { return below.text }
        }
        return names.first?.text ?? "unknown"
    }

    // MARK: - Macros (§7)

    /// Expands a domain-spec for `<domain>` (values.domain), with `%{p}` looked up if used.
    private func expandDomain(_ spec: MacroString, values: inout MacroValues, depth: Int) async throws(Stop) -> String {
        if spec.usesValidatedName {
            let domain = String(decoding: values.domain, as: UTF8.self)
            values.validatedName = Array(try await validatedName(for: domain, depth: depth, inExplanation: false).utf8)
        }
        do {
            return try spec.expandDomain(values, &budget)
        } catch {
            throw .permerror("\(spec): macro expansion exceeds \(ExpansionBudget.perEvaluation) bytes")
        }
    }

    /// §6.2: the explanation of a `fail`. Any problem (a bad name, a DNS error, no record or
    /// several, a syntax error, non-ASCII) means no explanation. Its lookup counts against no limit.
    private func explanation(_ target: SPFRecord.Target, domain: String) async -> String? {
        var values = self.values
        values.domain = Array(domain.utf8)
        do {
            if target.domainSpec.usesValidatedName {
                values.validatedName = Array(try await validatedName(for: domain, depth: 0, inExplanation: true).utf8)
            }
            let text = try target.domainSpec.expandDomain(values, &budget)
            guard let name = DNSName(permittingSpaces: text) else {
                note(0, "\(target.text): \"\(LogSafe.escape(text))\" is not a valid DNS name; no explanation")
                return nil
            }
            guard case .success(let answer) = try await tryQuery(name, .txt, depth: 0) else {
                note(0, "\(target.text): DNS error; no explanation")
                return nil
            }
            guard answer.texts.count == 1, let raw = answer.texts.first else {
                note(0, "\(target.text): \(answer.texts.count) TXT records at \(name); no explanation (RFC 7208 §6.2)")
                return nil
            }
            let explain = try MacroString(Array(raw.utf8), .explanation)
            if explain.usesValidatedName {
                values.validatedName = Array(try await validatedName(for: domain, depth: 0, inExplanation: true).utf8)
            }
            let expanded = try explain.expandExplanation(values, &budget)
            note(0, "\(target.text): explanation \"\(LogSafe.escape(expanded))\"")
            return expanded
        } catch {
            note(0, "\(target.text): \(error); no explanation (RFC 7208 §6.2)")
            return nil
        }
    }

    // MARK: - Limits (§4.6.4) and DNS

    private func countTerm(_ term: String) throws(Stop) {
        dnsTerms += 1
        guard dnsTerms <= limits.dnsTerms else {
            throw .permerror(
                "\(term) is DNS-querying term number \(dnsTerms); at most \(limits.dnsTerms) are allowed (RFC 7208 §4.6.4)")
        }
    }

    private func countVoid(_ answer: DNSAnswer, _ name: DNSName, _ type: DNSRecordType) throws(Stop) {
        guard answer.records.isEmpty else { return }
        voidLookups += 1
        guard voidLookups <= limits.voidLookups else {
            throw .permerror(
                "\(name)/\(type) is void lookup number \(voidLookups) (\(answer)); at most \(limits.voidLookups) are allowed (RFC 7208 §4.6.4)"
            )
        }
    }

    /// A query whose DNS error is a `temperror` (§4.4, §5).
    private func query(_ name: DNSName, _ type: DNSRecordType, depth: Int, countsAsVoid: Bool) async throws(Stop)
        -> DNSAnswer
    {
        switch try await tryQuery(name, type, depth: depth) {
        case .success(let answer):
            if countsAsVoid { try countVoid(answer, name, type) }
            return answer
        case .failure(let error):
            throw .temperror("\(error)")
        }
    }

    /// Every query goes through here, into the trace. A DNS error is a value here (the caller
    /// decides: temperror, or skip for ptr and exp=), but cancellation stops the whole
    /// evaluation with temperror: a query cut short must never read as "no match".
    private func tryQuery(_ name: DNSName, _ type: DNSRecordType, depth: Int) async throws(Stop)
        -> Result<DNSAnswer, DNSError>
    {
        guard !Task.isCancelled else {
            note(depth, "DNS \(type) \(name): not asked, the evaluation was cancelled")
            throw .temperror("the evaluation was cancelled (time budget) before \(name)/\(type) was asked")
        }
        do {
            let answer = try await resolver.query(name, type)
            note(depth, "DNS \(type) \(name): \(answer)")
            return .success(answer)
        } catch {
            note(depth, "DNS \(type) \(name): error: \(error)")
            if Task.isCancelled { throw .temperror("the evaluation was cancelled (time budget) during \(name)/\(type)") }
            return .failure(error)
        }
    }

    // MARK: - Helpers

    /// Trace lines are cut at 1,000 bytes: a record or answer can be long.
    private func note(_ depth: Int, _ text: String) {
        let line = text.utf8.count > 1_000 ? String(decoding: text.utf8.prefix(1_000), as: UTF8.self) + "..." : text
        trace.append(SPFTraceStep(depth: depth, text: line))
    }

    /// §4.3: the name of a checkable `<domain>`: valid labels, at least two, not a literal.
    static func checkableName(_ domain: String) -> DNSName? {
        guard !domain.hasPrefix("["), let name = DNSName(permittingSpaces: domain), name.labels.count >= 2 else {
            return nil
        }
        return name
    }

    static func withoutTrailingDot(_ domain: String) -> String {
        domain.hasSuffix(".") ? String(domain.dropLast()) : domain
    }
}
