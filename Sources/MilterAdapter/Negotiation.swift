internal import CMilter
import PolicyCore

/// What to ask of the MTA in `xxfi_negotiate`: only the events the enabled checks need, so
/// that the MTA makes no round trip we would ignore.
struct Negotiation: Equatable {
    var actions: UInt
    var protocolFlags: UInt

    /// The envelope events (connect, HELO, MAIL, RCPT) are always requested: every decision
    /// line names the client, HELO, sender and recipient.
    init(activeStages: Set<Stage>, needsHeaders: Bool = false, offeredActions: UInt, offeredProtocol: UInt) {
        var actions = UInt(SMFIF_ADDHDRS) | UInt(SMFIF_CHGHDRS)
        if offeredActions & UInt(SMFIF_SETSYMLIST) != 0 { actions |= UInt(SMFIF_SETSYMLIST) }
        var flags = UInt(SMFIP_NOUNKNOWN)
        let content = activeStages.contains(.endOfMessage)
        if !activeStages.contains(.data) { flags |= UInt(SMFIP_NODATA) }
        if !activeStages.contains(.endOfHeaders) && !content && !needsHeaders { flags |= UInt(SMFIP_NOHDRS) }
        if !activeStages.contains(.endOfHeaders) { flags |= UInt(SMFIP_NOEOH) }
        if !content { flags |= UInt(SMFIP_NOBODY) }
        self.actions = actions & offeredActions
        self.protocolFlags = flags & offeredProtocol
    }

    /// Macros per stage (smfi_setsymlist). Postfix sends no `{client_*}` macros unless asked.
    static let macros: [(stage: Int32, names: String)] = [
        (Int32(SMFIM_CONNECT), "j _ v {daemon_name} {client_addr} {client_port} {client_name} {client_ptr} {client_resolve}"),
        (Int32(SMFIM_HELO), "{tls_version} {cipher}"),
        (Int32(SMFIM_ENVFROM), "i {auth_type} {auth_authen} {mail_addr}"),
        (Int32(SMFIM_ENVRCPT), "i {rcpt_addr}"),
        (Int32(SMFIM_DATA), "i"),
        (Int32(SMFIM_EOH), "i"),
        (Int32(SMFIM_EOM), "i"),
    ]

    /// Names (with braces as libmilter wants them) read back at each callback.
    static let connectMacros = ["j", "v", "{daemon_name}", "{client_addr}", "{client_name}", "{client_ptr}", "{client_resolve}"]
    static let mailMacros = ["i", "{auth_type}", "{auth_authen}"]
    static let queueMacros = ["i"]
}
