import Foundation
import Glibc
import Logging
import PolicyEngine

/// Where log lines go: stderr in the foreground, syslog when daemonised.
public enum LogDestination: Sendable {
    case standardError
    case syslog
}

/// A swift-log handler that writes one `key=value` line per message:
/// `2026-11-24T23:55:00Z info decision queue_id=... check=... dry_run=false`.
/// Decision keys come first in a fixed order, so lines read the same every time.
public struct KeyValueLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let destination: LogDestination

    public init(level: Logger.Level, destination: LogDestination) {
        self.logLevel = level
        self.destination = destination
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let level = event.level
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        var line = "\(level) \(event.message)"
        let ordered = DecisionLog.keyOrder.filter { all[$0] != nil } + all.keys.filter { !DecisionLog.keyOrder.contains($0) }.sorted()
        for key in ordered {
            guard let value = all[key] else { continue }
            line += " \(key)=\(KeyValueLogHandler.quote("\(value)"))"
        }
        switch destination {
        case .standardError:
            let stamp = Date().formatted(.iso8601)
            let text = "\(stamp) \(line)\n"
            text.utf8CString.withUnsafeBufferPointer { buffer in
                _ = write(STDERR_FILENO, buffer.baseAddress, buffer.count - 1)
            }
        case .syslog:
            line.withCString { pointer in
                withVaList([pointer]) { vsyslog(KeyValueLogHandler.priority(level), "%s", $0) }
            }
        }
    }

    /// Quotes a value that holds a space, `"`, `=` or nothing; `"` and `\` are escaped inside.
    static func quote(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func priority(_ level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: return LOG_DEBUG
        case .info: return LOG_INFO
        case .notice: return LOG_NOTICE
        case .warning: return LOG_WARNING
        case .error: return LOG_ERR
        case .critical: return LOG_CRIT
        }
    }

    /// Opens syslog with the configured identity and facility. The identity string must stay
    /// allocated for as long as syslog is used: it is copied once and never freed.
    static func openSyslog(ident: String, facility: String) {
        let facilities: [String: Int32] = [
            "mail": LOG_MAIL, "daemon": LOG_DAEMON, "user": LOG_USER, "local0": LOG_LOCAL0, "local1": LOG_LOCAL1,
            "local2": LOG_LOCAL2, "local3": LOG_LOCAL3, "local4": LOG_LOCAL4, "local5": LOG_LOCAL5,
            "local6": LOG_LOCAL6, "local7": LOG_LOCAL7,
        ]
        openlog(strdup(ident), LOG_PID | LOG_NDELAY, facilities[facility] ?? LOG_MAIL)
    }
}
