internal import CResolver
import Glibc
import Logging
import PolicyCore
import Synchronization

/// A libunbound context and the one thread that drives it.
///
/// Callers (any thread, any task) only touch `shared`, under its lock: they park a continuation
/// in the token table, queue the token in the inbox, and wake the loop through a pipe. The loop
/// thread makes every libunbound call: `ub_resolve_async` for the inbox, `ub_process` when
/// `ub_fd` is readable (the callbacks run there), `ub_cancel` for queries past their deadline
/// or whose task was cancelled, and finally `ub_ctx_delete`. So no two libunbound calls ever
/// race, the callback box of a query has one owner at a time, and no Swift pool thread waits.
///
/// Exactly once: a continuation leaves the table under the lock before it is resumed, and only
/// the one who removed it resumes it. The answer, the deadline, task cancellation and shutdown
/// all go through that removal, so whichever comes first wins and the others find nothing.
final class ResolverLoop: @unchecked Sendable {
    // @unchecked: `context` is used by the loop thread only (after `start`), the descriptors and
    // settings are immutable, and the mutable state shared with callers lives in `shared`.
    private let context: OpaquePointer
    private let unboundFD: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let timeout: Duration
    private let logger: Logger
    private let shared = Mutex(Shared())
    private let nextToken = Atomic<UInt64>(1)
    private let thread = Mutex<pthread_t?>(nil)
    private let boxesLeft = Atomic<Int>(-1)

    private struct Waiting {
        let name: DNSName
        let type: DNSRecordType
        let continuation: CheckedContinuation<Result<DNSAnswer, DNSError>, Never>
    }

    private struct Shared {
        /// The token table: queries whose caller is still waiting.
        var waiting: [UInt64: Waiting] = [:]
        /// Registered, not yet handed to libunbound.
        var inbox: [UInt64] = []
        /// Abandoned by their task: `ub_cancel` them.
        var cancelled: [UInt64] = []
        var deadlines = DeadlineQueue()
        var stopping = false
    }

    /// Starts the loop thread on `context`, which it then owns (and deletes when it stops).
    /// On failure `context` is deleted here.
    static func start(context: OpaquePointer, timeout: Duration, logger: Logger) throws(DNSError) -> ResolverLoop {
        let unboundFD = ub_fd(context)
        var pipeFDs: [Int32] = [-1, -1]
        guard unboundFD >= 0, pipe(&pipeFDs) == 0 else {
            ub_ctx_delete(context)
            throw .unavailable("cannot set up the resolver loop: \(String(cString: strerror(errno)))")
        }
        for fd in pipeFDs {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        let loop = ResolverLoop(
            context: context, unboundFD: unboundFD, wakeRead: pipeFDs[0], wakeWrite: pipeFDs[1], timeout: timeout,
            logger: logger)
        var tid = pthread_t()
        let retained = Unmanaged.passRetained(loop)
        let status = pthread_create(
            &tid, nil,
            { argument in
                Unmanaged<ResolverLoop>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            }, retained.toOpaque())
        guard status == 0 else {
            retained.release()
            ub_ctx_delete(context)
            throw .unavailable("cannot start the resolver thread: \(String(cString: strerror(status)))")
        }
        loop.thread.withLock { $0 = tid }
        return loop
    }

    private init(
        context: OpaquePointer, unboundFD: Int32, wakeRead: Int32, wakeWrite: Int32, timeout: Duration, logger: Logger
    ) {
        self.context = context
        self.unboundFD = unboundFD
        self.wakeRead = wakeRead
        self.wakeWrite = wakeWrite
        self.timeout = timeout
        self.logger = logger
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    // MARK: - Callers

    func query(_ name: DNSName, _ type: DNSRecordType) async -> Result<DNSAnswer, DNSError> {
        if Task.isCancelled { return .failure(.timeout(name: name.text, type: type)) }
        let token = nextToken.wrappingAdd(1, ordering: .relaxed).oldValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                register(token, name, type, continuation)
                // A cancellation that came before `register` found nothing to abandon.
                if Task.isCancelled { abandon(token) }
            }
        } onCancel: {
            abandon(token)
        }
    }

    /// Stops the loop: waiting queries fail with `.unavailable`, the context is deleted. Returns
    /// when the loop thread has finished (unless called on it). Idempotent.
    func shutdown() {
        let first = shared.withLock { state in
            defer { state.stopping = true }
            return !state.stopping
        }
        if first { wake() }
        let running = thread.withLock { tid in
            defer { tid = nil }
            return tid
        }
        guard let running else { return }
        if pthread_equal(running, pthread_self()) != 0 {
            pthread_detach(running)
        } else {
            pthread_join(running, nil)
        }
    }

    /// Queries whose caller is still waiting (for tests).
    var waitingCount: Int { shared.withLock { $0.waiting.count } }

    /// Callback boxes not released when the loop stopped, -1 while it runs (for tests).
    var callbackBoxesLeft: Int { boxesLeft.load(ordering: .acquiring) }

    private func register(
        _ token: UInt64, _ name: DNSName, _ type: DNSRecordType,
        _ continuation: CheckedContinuation<Result<DNSAnswer, DNSError>, Never>
    ) {
        let wakeNeeded: Bool? = shared.withLock { state in
            if state.stopping { return nil }
            state.waiting[token] = Waiting(name: name, type: type, continuation: continuation)
            // Read under the lock, so that the deadline queue stays in order.
            state.deadlines.append(ContinuousClock.now + timeout, token)
            state.inbox.append(token)
            // The loop drains the wake pipe before it takes the inbox, so one byte per
            // non-empty inbox is enough.
            return state.inbox.count == 1
        }
        switch wakeNeeded {
        case nil: continuation.resume(returning: .failure(.unavailable("the resolver has been shut down")))
        case true?: wake()
        case false?: break
        }
    }

    /// The task was cancelled: answer `.timeout` now, and have the loop `ub_cancel` the query.
    private func abandon(_ token: UInt64) {
        let abandoned: Waiting? = shared.withLock { state in
            guard let waiting = state.waiting.removeValue(forKey: token) else { return nil }
            state.cancelled.append(token)
            return waiting
        }
        guard let abandoned else { return }
        wake()
        abandoned.continuation.resume(returning: .failure(.timeout(name: abandoned.name.text, type: abandoned.type)))
    }

    private func wake() {
        var byte: UInt8 = 1
        // EAGAIN: the pipe is full, so the loop is going to wake anyway.
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: - The loop thread

    /// State only the loop thread touches. Callbacks reach it through their `CallbackBox`.
    fileprivate final class LoopState {
        struct InFlight {
            let asyncID: Int32
            /// Retained once for libunbound; released by the callback, or after `ub_cancel`, or at teardown.
            let box: Unmanaged<CallbackBox>
        }
        var inFlight: [UInt64: InFlight] = [:]
        var completed: [(token: UInt64, result: Result<DNSAnswer, DNSError>)] = []
        /// `ub_process` failed: libunbound's worker is gone, so nothing more will be answered.
        var broken = false
        /// Boxes alive: 0 after teardown, else one was never released (checked by the tests).
        var liveBoxes = 0
    }

    /// The `mydata` of one `ub_resolve_async`.
    fileprivate final class CallbackBox {
        let token: UInt64
        let name: DNSName
        let type: DNSRecordType
        let state: LoopState
        var delivered = false

        init(token: UInt64, name: DNSName, type: DNSRecordType, state: LoopState) {
            self.token = token
            self.name = name
            self.type = type
            self.state = state
            state.liveBoxes += 1
        }

        deinit { state.liveBoxes -= 1 }

        func deliver(_ outcome: UnboundOutcome) {
            delivered = true
            state.inFlight[token] = nil
            state.completed.append((token, outcome.answer(name: name, type: type)))
        }
    }

    private func run() {
        cresolver_name_this_thread("portcullis-dns")
        let state = LoopState()
        var fds = [
            pollfd(fd: unboundFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        var waitMilliseconds: Int32 = 0
        while true {
            if poll(&fds, nfds_t(fds.count), waitMilliseconds) < 0, errno != EINTR {
                logger.error("DNS resolver loop: poll failed", metadata: ["error": "\(String(cString: strerror(errno)))"])
            }
            if fds[1].revents != 0 { drainWakePipe() }
            // Answers that are in first: an answer that arrived wins over its own deadline.
            if fds[0].revents != 0 {
                processResults(state)
                if state.broken { fds[0].fd = -1 }  // poll ignores negative descriptors
            }
            guard let work = takeWork() else { break }
            submit(work.submissions, state)
            for token in work.cancellations { cancelInUnbound(token, state) }
            waitMilliseconds = expireDeadlines(state)
        }
        tearDown(state)
    }

    private func drainWakePipe() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &buffer, { read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
    }

    private func processResults(_ state: LoopState) {
        let status = ub_process(context)
        if status != 0, !state.broken {
            state.broken = true
            logger.error(
                "DNS resolver: libunbound stopped answering; every query will fail until restart",
                metadata: ["error": "\(String(cString: ub_strerror(status)))"])
        }
        finish(state.completed)
        state.completed.removeAll(keepingCapacity: true)
    }

    /// Resumes the callers of these tokens that are still waiting.
    private func finish(_ results: [(token: UInt64, result: Result<DNSAnswer, DNSError>)]) {
        guard !results.isEmpty else { return }
        let ready = shared.withLock { state in
            results.compactMap { item in
                state.waiting.removeValue(forKey: item.token).map { ($0.continuation, item.result) }
            }
        }
        for (continuation, result) in ready { continuation.resume(returning: result) }
    }

    private struct Work {
        var submissions: [(token: UInt64, name: DNSName, type: DNSRecordType)] = []
        var cancellations: [UInt64] = []
    }

    /// The inbox and the cancellations; nil once the resolver is stopping.
    private func takeWork() -> Work? {
        shared.withLock { state -> Work? in
            if state.stopping { return nil }
            var work = Work()
            for token in state.inbox {
                if let waiting = state.waiting[token] { work.submissions.append((token, waiting.name, waiting.type)) }
            }
            state.inbox.removeAll(keepingCapacity: true)
            swap(&work.cancellations, &state.cancelled)
            return work
        }
    }

    private func submit(_ submissions: [(token: UInt64, name: DNSName, type: DNSRecordType)], _ state: LoopState) {
        var failed: [(token: UInt64, result: Result<DNSAnswer, DNSError>)] = []
        for query in submissions {
            if state.broken {
                failed.append((query.token, .failure(.unavailable("libunbound stopped answering"))))
                continue
            }
            let box = CallbackBox(token: query.token, name: query.name, type: query.type, state: state)
            let retained = Unmanaged.passRetained(box)
            var asyncID: Int32 = 0
            let status = query.name.text.withCString { name in
                ub_resolve_async(
                    context, name, query.type.rrtype, 1 /* IN */, retained.toOpaque(),
                    { argument, error, result in
                        let outcome = UnboundOutcome(error: error, result: result)
                        if let result { ub_resolve_free(result) }
                        guard let argument else { return }
                        Unmanaged<CallbackBox>.fromOpaque(argument).takeRetainedValue().deliver(outcome)
                    }, &asyncID)
            }
            if status != 0 {
                retained.release()
                let why = String(cString: ub_strerror(status))
                failed.append((query.token, .failure(.unavailable("libunbound: \(why) for \(query.name)/\(query.type)"))))
            } else if !box.delivered {
                state.inFlight[query.token] = LoopState.InFlight(asyncID: asyncID, box: retained)
            }
        }
        finish(failed)
    }

    /// Tells libunbound to drop a query whose caller has had its answer (a timeout). With
    /// threads, `ub_cancel` only flags the query: unbound's worker keeps resolving it and then
    /// discards the result without a callback. Called on the loop thread, between `ub_process`
    /// calls, so success means the callback will not run and its box can be released.
    private func cancelInUnbound(_ token: UInt64, _ state: LoopState) {
        guard let inFlight = state.inFlight.removeValue(forKey: token) else { return }
        if ub_cancel(context, inFlight.asyncID) == 0 {
            inFlight.box.release()
        }
        // Otherwise (UB_NOID) libunbound has delivered it, which would have removed the entry:
        // unreachable, and keeping one small box is safer than releasing it twice.
    }

    /// Times out the queries past their deadline; returns how long to sleep (ms, -1 = no deadline).
    private func expireDeadlines(_ state: LoopState) -> Int32 {
        let now = ContinuousClock.now
        var expired: [(token: UInt64, waiting: Waiting)] = []
        let next: ContinuousClock.Instant? = shared.withLock { shared in
            while let front = shared.deadlines.first {
                guard let waiting = shared.waiting[front.token] else {
                    shared.deadlines.removeFirst()  // already finished
                    continue
                }
                guard front.deadline <= now else { break }
                shared.waiting[front.token] = nil
                shared.deadlines.removeFirst()
                expired.append((front.token, waiting))
            }
            return shared.deadlines.first?.deadline
        }
        for (token, waiting) in expired {
            waiting.continuation.resume(returning: .failure(.timeout(name: waiting.name.text, type: waiting.type)))
            logger.debug("DNS query timed out", metadata: ["dns.name": "\(waiting.name)", "dns.type": "\(waiting.type)"])
            cancelInUnbound(token, state)
        }
        guard let next else { return -1 }
        let (seconds, attoseconds) = (next - ContinuousClock.now).components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        // Round up: rounding down would wake just before the deadline and spin until it passes.
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }

    private func tearDown(_ state: LoopState) {
        let waiting = shared.withLock { shared in
            defer {
                shared.waiting.removeAll()
                shared.inbox.removeAll()
                shared.cancelled.removeAll()
                shared.deadlines.removeAll()
            }
            return Array(shared.waiting.values)
        }
        for query in waiting {
            query.continuation.resume(returning: .failure(.unavailable("the resolver has been shut down")))
        }
        ub_ctx_delete(context)  // joins libunbound's worker thread; no callback runs after this
        for inFlight in state.inFlight.values { inFlight.box.release() }
        state.inFlight.removeAll()
        boxesLeft.store(state.liveBoxes, ordering: .releasing)
    }
}
