import Foundation
import Logging
import PolicyCore
import PolicyEngine

/// A message file split into header fields and body bytes.
struct MessageFile {
    var headers: [HeaderField] = []
    var body: [UInt8] = []

    /// Splits at the first empty line; folded header lines are unfolded. Line ends become CRLF,
    /// as an MTA hands them to a milter.
    init(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
        var current: (String, String)? = nil
        while let line = lines.first {
            lines = lines.dropFirst()
            if line.isEmpty { break }
            if line.first == " " || line.first == "\t", let (name, value) = current {
                current = (name, value + "\r\n" + line)
                continue
            }
            if let (name, value) = current { headers.append(HeaderField(name: name, value: value)) }
            if let colon = line.firstIndex(of: ":") {
                current = (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
            } else {
                current = nil
            }
        }
        if let (name, value) = current { headers.append(HeaderField(name: name, value: value)) }
        body = Array(lines.joined(separator: "\r\n").utf8)
    }
}

/// Drives one transaction through the session machine and the engine, as the daemon would,
/// and records the first answer that is not "continue".
struct OfflineTransaction {
    var client: ClientFacts
    var helo: String
    var sender: String
    var recipients: [String]
    var message: MessageFile?

    struct Report {
        var decision: Decision?
        var response: SessionMachine.Response = .proceed
        var stage: Stage = .endOfMessage
        var dryRun = false
        var dryRunDecisions: [Decision] = []
        var trace: [TraceEntry] = []
    }

    func evaluate(with engine: Engine, logger: Logger) async -> Report {
        var machine = SessionMachine(engine: engine)
        var report = Report()
        report.dryRun = engine.settings.mode == .dryRun

        /// Runs one event; returns false when the transaction ends there.
        func step(_ action: SessionMachine.Action) async -> Bool {
            let outcome: SessionMachine.Outcome
            var stage: Stage? = nil
            switch action {
            case .proceed:
                return true
            case .respond(let o):
                outcome = o
            case .evaluate(let s, let tx):
                stage = s
                let result = await engine.evaluate(s, tx, logger: logger)
                report.trace += result.trace
                outcome = machine.resolved(result)
            }
            for logged in outcome.decisions {
                if logged.decision.dryRun { report.dryRunDecisions.append(logged.decision) }
            }
            switch outcome.response {
            case .proceed, .editHeaders:
                return true
            case .accept, .reject, .discard:
                report.response = outcome.response
                report.decision = outcome.decisions.last(where: { !$0.decision.dryRun })?.decision
                report.stage = report.decision?.stage ?? stage ?? .rcpt
                return false
            }
        }

        let steps: [(inout SessionMachine) -> SessionMachine.Action] = [
            { $0.connected(client) }, { $0.helo(helo) },
            { $0.mailFrom(EnvelopeAddress(sender == "" ? "<>" : sender)) },
        ]
        /// Decisions still waiting for a queue id when the transaction ends early.
        func finish() -> Report {
            report.dryRunDecisions += machine.aborted().map(\.decision).filter(\.dryRun)
            return report
        }
        for event in steps where !(await step(event(&machine))) { return finish() }
        for recipient in recipients where !(await step(machine.rcptTo(EnvelopeAddress(recipient)))) { return finish() }
        if !(await step(machine.data())) { return finish() }
        if let message {
            for header in message.headers { _ = machine.header(header) }
            if !(await step(machine.endOfHeaders())) { return finish() }
            _ = machine.body(message.body)
        }
        _ = await step(machine.endOfMessage())
        return report
    }
}

extension OfflineTransaction.Report {
    /// The decision that counts: the enforced one, else the first a dry-run check would have taken.
    private var shown: (Decision?, Bool) {
        if let decision { return (decision, false) }
        if let first = dryRunDecisions.first { return (first, true) }
        return (nil, dryRun)
    }

    func json() -> String {
        let (decision, isDryRun) = shown
        var object: [String: Any] = [:]
        if let decision {
            object["decision"] = [
                "stage": decision.stage.rawValue, "action": decision.action.rawValue,
                "code": decision.reply.map { $0.code as Any } ?? NSNull(),
                "enhanced": decision.reply.map { $0.enhanced as Any } ?? NSNull(),
                "text": decision.reply.map { $0.text as Any } ?? NSNull(), "check": decision.check,
                "reason": decision.reason,
            ] as [String: Any]
        } else {
            object["decision"] = [
                "stage": Stage.endOfMessage.rawValue, "action": "continue", "code": NSNull(), "enhanced": NSNull(),
                "text": NSNull(), "check": NSNull(), "reason": "",
            ] as [String: Any]
        }
        object["dry_run"] = isDryRun || dryRun
        object["trace"] = trace.map {
            [
                "check": $0.check, "stage": $0.stage.rawValue, "verdict": $0.verdict, "reason": $0.reason,
                "ms": ($0.milliseconds * 1000).rounded() / 1000, "dry_run": $0.dryRun,
                "queries": $0.queries.map { query in
                    [
                        "name": query.name, "type": query.type.rawValue, "answer": query.outcome,
                        "ms": (query.milliseconds * 1000).rounded() / 1000,
                    ] as [String: Any]
                },
            ] as [String: Any]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    func text() -> String {
        let (decision, isDryRun) = shown
        var lines: [String] = []
        if let decision {
            var line = "decision: \(decision.action.rawValue) at \(decision.stage) by \(decision.check)"
            if let reply = decision.reply { line += ": \(reply.code) \(reply.enhanced) \(reply.text)" }
            if isDryRun || dryRun { line += " (dry-run: would have been taken; the message passes)" }
            lines.append(line)
            lines.append("reason: \(decision.reason)")
        } else {
            lines.append("decision: continue (no check decided; the message passes)")
        }
        lines.append("trace:")
        for entry in trace {
            let reason = entry.reason.isEmpty ? "" : "  \(entry.reason)"
            let ms = String(format: "%.3f", entry.milliseconds)
            lines.append("  \(entry.stage.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))\(entry.check.padding(toLength: 18, withPad: " ", startingAt: 0))\(entry.verdict.padding(toLength: 9, withPad: " ", startingAt: 0))\(ms) ms\(entry.dryRun ? "  [dry-run]" : "")\(reason)")
            for query in entry.queries {
                let qms = String(format: "%.3f", query.milliseconds)
                lines.append("      dns \(query.name) \(query.type): \(query.outcome) (\(qms) ms)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
