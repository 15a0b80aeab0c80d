internal import CMilter

/// The libmilter callback table. C function pointers cannot capture, so each entry is a
/// non-capturing closure that forwards to ``Bridge``; no logic lives here.
enum Callbacks {
    static func descriptor(name: UnsafeMutablePointer<CChar>, flags: UInt) -> smfiDesc {
        var d = smfiDesc()
        d.xxfi_name = name
        d.xxfi_version = SMFI_VERSION
        d.xxfi_flags = flags
        d.xxfi_connect = { ctx, host, addr in Bridge.connect(ctx, host, addr) }
        d.xxfi_helo = { ctx, name in Bridge.helo(ctx, name) }
        d.xxfi_envfrom = { ctx, argv in Bridge.mailFrom(ctx, argv) }
        d.xxfi_envrcpt = { ctx, argv in Bridge.rcptTo(ctx, argv) }
        d.xxfi_header = { ctx, name, value in Bridge.header(ctx, name, value) }
        d.xxfi_eoh = { ctx in Bridge.endOfHeaders(ctx) }
        d.xxfi_body = { ctx, bytes, count in Bridge.body(ctx, bytes, Int(clamping: count)) }
        d.xxfi_eom = { ctx in Bridge.endOfMessage(ctx) }
        d.xxfi_abort = { ctx in Bridge.abort(ctx) }
        d.xxfi_close = { ctx in Bridge.close(ctx) }
        d.xxfi_unknown = { ctx, command in Bridge.unknown(ctx, command) }
        d.xxfi_data = { ctx in Bridge.data(ctx) }
        d.xxfi_negotiate = { ctx, f0, f1, _, _, pf0, pf1, pf2, pf3 in Bridge.negotiate(ctx, f0, f1, pf0, pf1, pf2, pf3) }
        return d
    }
}
