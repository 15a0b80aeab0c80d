import Logging
import Synchronization

/// The last connection failure postgres-nio's pool reported, so that a timed-out lease can say why
/// ("connection refused") instead of only "no connection".
final class ConnectionFailureBox: Sendable {
    private let last = Mutex<String?>(nil)

    func record(_ why: String) { last.withLock { $0 = why } }
    func clear() { last.withLock { $0 = nil } }
    var lastFailure: String? { last.withLock { $0 } }
}

/// What postgres-nio logs goes through this handler to the daemon's: every message and metadata
/// value has the password scrubbed (STYLE §11.7), and the pool's "Connection creation failed"
/// lines are remembered in a ``ConnectionFailureBox`` (whatever the daemon's log level).
struct RedactingLogHandler: LogHandler {
    var base: any LogHandler
    let scrub: @Sendable (String) -> String
    let failures: ConnectionFailureBox

    var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }
    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }
    /// At most `info`, so that the pool's "Connection creation failed" (info) always reaches
    /// ``log(event:)`` for the failure box; only what the daemon's level lets through is forwarded.
    var logLevel: Logger.Level {
        get { min(base.logLevel, .info) }
        set { base.logLevel = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = "\(scrub(event.message.description))"
        event.metadata = event.metadata.map { $0.mapValues(scrubbed) }
        if event.message.description == "Connection creation failed" {
            if case .string(let why)? = event.metadata?["psql_error"] ?? event.metadata?["error"] {
                failures.record(why)
            }
        } else if event.message.description == "Connection established" {
            failures.clear()
        }
        guard event.level >= base.logLevel else { return }
        event.error = nil  // its description is not ours to scrub
        base.log(event: event)
    }

    private func scrubbed(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let s): return .string(scrub(s))
        case .stringConvertible(let c): return .string(scrub(c.description))
        case .array(let a): return .array(a.map(scrubbed))
        case .dictionary(let d): return .dictionary(d.mapValues(scrubbed))
        }
    }
}
