internal import CMilter
import Glibc
import Logging
import PolicyCore
import PolicyEngine

/// One MTA connection's state. libmilter runs one connection's callbacks one at a time, so a
/// `Session` is never touched concurrently and never enters a Swift task: only the `Sendable`
/// snapshot (`Transaction`) and the engine cross into async code.
final class Session {
    private var machine: SessionMachine
    let runtime: Runtime
    private var logger: Logger

    init(runtime: Runtime) {
        self.runtime = runtime
        self.machine = SessionMachine(engine: runtime.engine)
        self.logger = runtime.logger
    }

    /// The session of this connection, created on the first callback that needs one, which is
    /// not necessarily xxfi_connect (negotiate comes first; a broken MTA may skip connect).
    static func current(_ ctx: OpaquePointer) -> Session? {
        if let raw = smfi_getpriv(ctx) { return Unmanaged<Session>.fromOpaque(raw).takeUnretainedValue() }
        guard let runtime = Installed.runtime() else { return nil }
        let session = Session(runtime: runtime)
        guard smfi_setpriv(ctx, Unmanaged.passRetained(session).toOpaque()) == MI_SUCCESS else {
            Unmanaged.passUnretained(session).release()
            return nil
        }
        return session
    }

    /// Called from xxfi_close only, which may come first and alone: the pointer may be NULL.
    static func release(_ ctx: OpaquePointer) {
        guard let raw = smfi_getpriv(ctx) else { return }
        smfi_setpriv(ctx, nil)
        let session = Unmanaged<Session>.fromOpaque(raw)
        session.takeUnretainedValue().closed()
        session.release()
    }

    /// Notes macros, runs one event through the pure machine, calls the engine if the machine
    /// asks for it, logs the decisions and encodes the answer for libmilter.
    func drive(
        _ ctx: OpaquePointer, macros names: [String], _ event: (inout SessionMachine) -> SessionMachine.Action
    ) -> sfsistat {
        if !names.isEmpty { machine.noteMacros(Macros.read(ctx, names)) }
        switch event(&machine) {
        case .proceed:
            return SMFIS_CONTINUE
        case .respond(let outcome):
            return answer(outcome, ctx, stage: nil)
        case .evaluate(let stage, let tx):
            let engine = runtime.engine
            let logger = self.logger
            let result =
                Deadline.wait(runtime.bridgeBudget) { await engine.evaluate(stage, tx, logger: logger) }
                ?? SessionMachine.timedOut(stage)
            return answer(machine.resolved(result), ctx, stage: stage)
        }
    }

    /// Logs what still waited for a queue id when the connection goes away.
    private func closed() {
        for decision in machine.closed() { DecisionLog.log(decision, to: logger) }
    }

    private func answer(_ outcome: SessionMachine.Outcome, _ ctx: OpaquePointer, stage: Stage?) -> sfsistat {
        for decision in outcome.decisions { DecisionLog.log(decision, to: logger) }
        switch outcome.response {
        case .proceed:
            return SMFIS_CONTINUE
        case .accept:
            return SMFIS_ACCEPT
        case .discard:
            return SMFIS_DISCARD
        case .reject(let reply):
            // libmilter takes no reply text at xxfi_connect (smfi_setreply(3)); the MTA uses its own.
            if stage == .connect { return ReplyEncoder.status(for: reply) }
            return ReplyEncoder.apply(reply, to: ctx, logger: logger)
        case .editHeaders(let edits):
            for position in edits.remove {
                // A NULL value deletes the field (smfi_chgheader(3)).
                let status = position.name.withCString {
                    smfi_chgheader(ctx, UnsafeMutablePointer(mutating: $0), Int32(clamping: position.index), nil)
                }
                if status != MI_SUCCESS {
                    logger.warning("libmilter refused to remove a header", metadata: ["header": "\(position.name)"])
                }
            }
            // Trace fields (Received-SPF, RFC 7208 §9.1; Authentication-Results, RFC 8601 §5) go
            // on top: inserting at 0 in reverse keeps them in the order given.
            for header in edits.add.reversed() {
                let status = header.name.withCString { n in
                    header.value.withCString { v in
                        smfi_insheader(ctx, 0, UnsafeMutablePointer(mutating: n), UnsafeMutablePointer(mutating: v))
                    }
                }
                if status != MI_SUCCESS {
                    logger.warning("libmilter refused to add a header", metadata: ["header": "\(header.name)"])
                }
            }
            return SMFIS_CONTINUE
        }
    }
}

/// Reads macros the MTA sent for the current stage.
enum Macros {
    static func read(_ ctx: OpaquePointer, _ names: [String]) -> [String: String] {
        var values: [String: String] = [:]
        for name in names {
            let value = name.withCString { smfi_getsymval(ctx, UnsafeMutablePointer(mutating: $0)) }
            guard let value else { continue }
            let key = name.hasPrefix("{") && name.hasSuffix("}") ? String(name.dropFirst().dropLast()) : name
            values[key] = CStrings.text(value)
        }
        return values
    }
}

/// Copies C strings from libmilter into Swift values at once: no C pointer outlives its callback.
enum CStrings {
    static func bytes(_ pointer: UnsafePointer<CChar>?) -> [UInt8] {
        guard let pointer else { return [] }
        let length = strlen(pointer)
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// Text for logs and matching: invalid UTF-8 and control bytes escaped, never a trap.
    static func text(_ pointer: UnsafePointer<CChar>?) -> String {
        LogSafe.escape(bytes(pointer))
    }

    /// A NULL-terminated argv, each argument as raw bytes.
    static func arguments(_ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [[UInt8]] {
        guard let argv else { return [] }
        var out: [[UInt8]] = []
        var index = 0
        while let arg = argv[index], index < 4096 {
            out.append(bytes(arg))
            index += 1
        }
        return out
    }
}
