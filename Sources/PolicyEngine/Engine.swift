import Logging
import PolicyCore
import Synchronization

/// Engine-wide settings, validated by PolicyConfig.
public struct EngineSettings: Sendable, Equatable {
    /// `dry-run` here turns every check into dry-run, whatever its own mode.
    public var mode: CheckMode
    /// Time for all checks of one stage together; must stay well under Postfix's 30 s
    /// `milter_command_timeout`.
    public var stageBudget: Duration
    /// Hold connect and HELO decisions until the first RCPT (as Postfix's `smtpd_delay_reject`).
    public var delayReject: Bool
    /// Record every DNS query of every check in the trace (`portcullis check`).
    public var traceQueries: Bool
    /// Our authserv-id for Authentication-Results (RFC 8601); empty: the MTA's host name (macro `j`).
    public var authservID: String
    /// Remove incoming Authentication-Results fields that claim our authserv-id (RFC 8601 §5).
    public var removeForgedAuthenticationResults: Bool

    public init(
        mode: CheckMode = .enforce, stageBudget: Duration = .seconds(10), delayReject: Bool = true,
        traceQueries: Bool = false, authservID: String = "", removeForgedAuthenticationResults: Bool = false
    ) {
        self.mode = mode
        self.stageBudget = stageBudget
        self.delayReject = delayReject
        self.traceQueries = traceQueries
        self.authservID = authservID
        self.removeForgedAuthenticationResults = removeForgedAuthenticationResults
    }
}

/// Runs the checks of a stage concurrently under the stage budget and combines their verdicts in
/// configured order: the first check (in order) that accepts, rejects or discards decides; dunno
/// goes on; annotations accumulate. The engine is the only place where a check's error or
/// timeout becomes a verdict, through that check's ``ErrorPolicy``.
///
/// Immutable: a reload builds a new engine, and open connections keep the one they started with.
public final class Engine: Sendable {
    public let settings: EngineSettings
    /// All checks, in configured order.
    public let checks: [ConfiguredCheck]
    private let byStage: [Stage: [ConfiguredCheck]]
    /// When each check last logged a failure it let through: at most one warning a minute per
    /// check, so a database that is down does not write a line per message.
    private let lastWarning = Mutex<[String: (at: ContinuousClock.Instant, suppressed: Int)]>([:])
    static let warningInterval: Duration = .seconds(60)

    public init(settings: EngineSettings, checks: [ConfiguredCheck]) {
        self.settings = settings
        self.checks = checks
        self.byStage = Dictionary(grouping: checks, by: { $0.check.stage })
    }

    /// Stages that have at least one check: the events the milter must ask the MTA for.
    public var activeStages: Set<Stage> { Set(byStage.keys) }

    public func hasChecks(at stage: Stage) -> Bool { byStage[stage] != nil }

    /// Evaluates one stage. Never throws and never takes much longer than the stage budget:
    /// a check still running when the budget ends is cancelled and counts as an error.
    public func evaluate(_ stage: Stage, _ tx: Transaction, logger: Logger) async -> StageResult {
        guard let list = byStage[stage], !list.isEmpty else { return StageResult(stage: stage) }
        let outcomes = await StageRun.run(list, tx, budget: settings.stageBudget, traceQueries: settings.traceQueries)
        return combine(stage, list, outcomes, tx: tx, logger: logger)
    }

    private func combine(
        _ stage: Stage, _ list: [ConfiguredCheck], _ outcomes: [StageRun.Outcome?], tx: Transaction, logger: Logger
    ) -> StageResult {
        var decision: Decision? = nil
        var dryRuns: [Decision] = []
        var headers: [HeaderField] = []
        var facts: [String: String] = [:]
        var trace: [TraceEntry] = []
        let values = tx.replyValues

        for (configured, outcome) in zip(list, outcomes) {
            let name = configured.check.name
            let dryRun = settings.mode == .dryRun || configured.mode == .dryRun
            var verdict: Verdict
            var label: String? = nil
            var elapsed = 0.0
            var queries: [QueryRecord] = []
            switch outcome {
            case .verdict(let v, let ms, let q)?:
                verdict = v
                elapsed = ms
                queries = q
            case .failed(let message, let ms, let q)?:
                elapsed = ms
                queries = q
                label = "error"
                verdict = apply(configured.onError, name: name, stage: stage, why: message, logger: logger)
            case nil:
                elapsed = settings.stageBudget.milliseconds
                label = "timeout"
                let why = "no answer within the \(settings.stageBudget) stage budget"
                verdict = apply(configured.onError, name: name, stage: stage, why: why, logger: logger)
            }

            var reason = ""
            var made: Decision? = nil
            switch verdict {
            case .dunno:
                break
            case .annotate(let added, let notes):
                headers += added
                facts.merge(notes) { _, new in new }
                reason = added.map { "\($0.name): \($0.value)" }.joined(separator: "; ")
            case .note(let key, let value):
                facts[key] = value
                reason = "\(key)=\(value)"
            case .accept(let because):
                reason = because
                made = Decision(check: name, stage: stage, action: .accept, reply: nil, reason: because, dryRun: false)
            case .discard(let because):
                reason = because
                made = Decision(check: name, stage: stage, action: .discard, reply: nil, reason: because, dryRun: false)
            case .reject(let reply, let because):
                reason = because
                made = Decision(
                    check: name, stage: stage, action: reply.isTransient ? .tempfail : .reject,
                    reply: reply.rendered(values), reason: because, dryRun: false)
            }
            trace.append(
                TraceEntry(
                    check: name, stage: stage, verdict: label ?? made?.action.rawValue ?? verdictName(verdict),
                    reason: reason, milliseconds: elapsed, dryRun: dryRun, queries: queries))
            guard let made else { continue }
            if dryRun {
                dryRuns.append(made.asDryRun())
            } else if decision == nil {
                decision = made
            }
        }
        return StageResult(
            stage: stage, decision: decision, dryRunDecisions: dryRuns, headers: headers, facts: facts, trace: trace)
    }

    private func apply(_ policy: ErrorPolicy, name: String, stage: Stage, why: String, logger: Logger) -> Verdict {
        switch policy {
        case .continue:
            let now = ContinuousClock.now
            let suppressed = lastWarning.withLock { table -> Int? in
                if let last = table[name], now - last.at < Engine.warningInterval {
                    table[name] = (last.at, last.suppressed + 1)
                    return nil
                }
                let count = table[name]?.suppressed ?? 0
                table[name] = (now, 0)
                return count
            }
            if let suppressed {
                var metadata: Logger.Metadata = [
                    "check": "\(name)", "stage": "\(stage)", "error": "\(why)", "on_error": "continue",
                ]
                if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
                logger.warning("check failed; continuing", metadata: metadata)
            }
            return .dunno
        case .tempfail(let reply), .reject(let reply):
            return .reject(reply, because: "check failed: \(why)")
        }
    }

    private func verdictName(_ v: Verdict) -> String {
        switch v {
        case .dunno: return "dunno"
        case .accept: return "accept"
        case .reject(let r, _): return r.isTransient ? "tempfail" : "reject"
        case .discard: return "discard"
        case .annotate: return "annotate"
        case .note: return "dunno"
        }
    }
}

/// Runs checks as separate tasks and returns when all have answered or the budget ends,
/// whichever is first. Unlike a task group, it does not wait for a check that ignores
/// cancellation: a stuck check can never stall the stage.
enum StageRun {
    enum Outcome: Sendable {
        case verdict(Verdict, ms: Double, queries: [QueryRecord])
        case failed(String, ms: Double, queries: [QueryRecord])
    }

    static func run(_ list: [ConfiguredCheck], _ tx: Transaction, budget: Duration, traceQueries: Bool) async
        -> [Outcome?]
    {
        let run = Collector(count: list.count)
        let outcomes = await withCheckedContinuation { (continuation: CheckedContinuation<[Outcome?], Never>) in
            run.start(continuation)
            let clock = ContinuousClock()
            for (index, configured) in list.enumerated() {
                let task = Task {
                    let trace = traceQueries ? QueryTrace() : nil
                    let start = clock.now
                    do {
                        let verdict = try await QueryTrace.$current.withValue(trace) {
                            try await configured.check.evaluate(tx)
                        }
                        run.finish(index, .verdict(verdict, ms: (clock.now - start).milliseconds, queries: trace?.all ?? []))
                    } catch {
                        run.finish(
                            index,
                            .failed(String(describing: error), ms: (clock.now - start).milliseconds, queries: trace?.all ?? []))
                    }
                }
                run.track(task)
            }
            run.track(
                Task {
                    try? await Task.sleep(for: budget)
                    run.expire()
                })
        }
        run.cancelAll()
        return outcomes
    }

    final class Collector: Sendable {
        private struct State {
            var outcomes: [Outcome?]
            var remaining: Int
            var continuation: CheckedContinuation<[Outcome?], Never>?
            var tasks: [Task<Void, Never>] = []
            var done = false
        }
        private let state: Mutex<State>

        init(count: Int) {
            state = Mutex(State(outcomes: Array(repeating: nil, count: count), remaining: count))
        }

        func start(_ continuation: CheckedContinuation<[Outcome?], Never>) {
            state.withLock { $0.continuation = continuation }
        }

        func track(_ task: Task<Void, Never>) {
            let cancelNow = state.withLock { s -> Bool in
                if s.done { return true }
                s.tasks.append(task)
                return false
            }
            if cancelNow { task.cancel() }
        }

        func finish(_ index: Int, _ outcome: Outcome) {
            let resume = state.withLock { s -> (CheckedContinuation<[Outcome?], Never>, [Outcome?])? in
                guard !s.done else { return nil }
                s.outcomes[index] = outcome
                s.remaining -= 1
                guard s.remaining == 0, let c = s.continuation else { return nil }
                s.done = true
                s.continuation = nil
                return (c, s.outcomes)
            }
            if let (c, outcomes) = resume { c.resume(returning: outcomes) }
        }

        func expire() {
            let resume = state.withLock { s -> (CheckedContinuation<[Outcome?], Never>, [Outcome?])? in
                guard !s.done, let c = s.continuation else { return nil }
                s.done = true
                s.continuation = nil
                return (c, s.outcomes)
            }
            if let (c, outcomes) = resume { c.resume(returning: outcomes) }
        }

        func cancelAll() {
            let tasks = state.withLock { s -> [Task<Void, Never>] in
                s.done = true
                defer { s.tasks = [] }
                return s.tasks
            }
            for task in tasks { task.cancel() }
        }
    }
}
