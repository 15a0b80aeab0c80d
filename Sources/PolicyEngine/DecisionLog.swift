import Logging
import PolicyCore

/// The one `info` line per decision, in `key=value` form, greppable by queue id:
/// `decision queue_id=4XyZ client_ip=192.0.2.1 helo=mx.example sender=<a@b> rcpt=<c@d>
/// check=sender_deny stage=mail action=reject code=553 enhanced=5.7.1 text="…" dry_run=false reason="…"`.
public enum DecisionLog {
    /// Metadata keys in the order the log handler prints them.
    public static let keyOrder = [
        "queue_id", "client_ip", "client_name", "helo", "sender", "rcpt", "check", "stage", "action", "code", "enhanced", "text",
        "dry_run", "reason",
    ]

    public static func log(_ entry: LoggedDecision, to logger: Logger) {
        logger.info("decision", metadata: metadata(entry))
    }

    public static func metadata(_ entry: LoggedDecision) -> Logger.Metadata {
        let d = entry.decision
        var m: Logger.Metadata = [
            "queue_id": "\(entry.queueID ?? "NOQUEUE")",
            "client_ip": "\(entry.client?.description ?? "unknown")",
            "helo": "\(LogSafe.escape(entry.helo ?? ""))",
            "sender": "\(LogSafe.escape(entry.sender?.description ?? ""))",
            "rcpt": "\(LogSafe.escape(entry.recipient?.description ?? ""))",
            "check": "\(d.check)",
            "stage": "\(d.stage)",
            "action": "\(d.action.rawValue)",
            "dry_run": "\(d.dryRun)",
            "reason": "\(LogSafe.escape(d.reason))",
        ]
        if let name = entry.clientName { m["client_name"] = "\(name)" }
        if let reply = d.reply {
            m["code"] = "\(reply.code)"
            m["enhanced"] = "\(reply.enhanced)"
            m["text"] = "\(reply.text)"
        }
        return m
    }
}
