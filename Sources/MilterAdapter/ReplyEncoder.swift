internal import CMilter
import Glibc
import Logging
import PolicyCore

/// Turns a reply into libmilter calls and a milter status.
enum ReplyEncoder {
    /// The status always comes from the reply code: libmilter silently drops a 4xx reply paired
    /// with SMFIS_REJECT and a 5xx paired with SMFIS_TEMPFAIL (smfi_setreply(3)).
    static func status(for reply: SMTPReply) -> sfsistat {
        reply.isTransient ? SMFIS_TEMPFAIL : SMFIS_REJECT
    }

    /// Sendmail uses the text as a format string and Postfix turns `%%` back into `%`, so every
    /// `%` is doubled. CR, LF and NUL cannot reach here (SMTPReply), but are dropped again in
    /// case a future caller builds a reply differently.
    static func escape(_ line: String) -> String {
        var out = ""
        for scalar in line.unicodeScalars {
            switch scalar {
            case "%": out += "%%"
            case "\r", "\n", "\0": out += " "
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Sets the reply text; returns the status to answer. If libmilter refuses the reply, a plain
    /// tempfail goes back (the MTA then uses its own 451 text) and the log says why.
    static func apply(_ reply: SMTPReply, to ctx: OpaquePointer, logger: Logger) -> sfsistat {
        let code = String(reply.code)
        let lines = reply.lines.prefix(SMTPReply.maxLines).map(escape)
        let result: Int32
        if lines.count <= 1 {
            result = code.withCString { c in
                reply.enhanced.withCString { e in
                    (lines.first ?? "").withCString { t in
                        smfi_setreply(ctx, UnsafeMutablePointer(mutating: c), UnsafeMutablePointer(mutating: e),
                            UnsafeMutablePointer(mutating: t))
                    }
                }
            }
        } else {
            var pointers = [UnsafePointer<CChar>?](repeating: nil, count: SMTPReply.maxLines)
            let copies = lines.map { strdup($0) }
            defer { copies.forEach { free($0) } }
            for (index, copy) in copies.enumerated() { pointers[index] = UnsafePointer(copy) }
            result = code.withCString { c in
                reply.enhanced.withCString { e in cmilter_setmlreply(ctx, c, e, pointers) }
            }
        }
        guard result == MI_SUCCESS else {
            logger.warning("libmilter refused the reply; answering a plain tempfail", metadata: ["reply": "\(reply)"])
            return SMFIS_TEMPFAIL
        }
        return status(for: reply)
    }
}
