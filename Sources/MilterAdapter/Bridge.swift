internal import CMilter
import Glibc
import PolicyCore
import PolicyEngine

/// The entry points the C callbacks forward to. Each copies its C arguments into Swift values,
/// finds the session and drives it. Nothing here may trap: the worst answer is a tempfail.
enum Bridge {
    static func negotiate(
        _ ctx: OpaquePointer?, _ f0: UInt, _ f1: UInt, _ pf0: UnsafeMutablePointer<UInt>?,
        _ pf1: UnsafeMutablePointer<UInt>?, _ pf2: UnsafeMutablePointer<UInt>?, _ pf3: UnsafeMutablePointer<UInt>?
    ) -> sfsistat {
        guard let ctx, let pf0, let pf1 else { return SMFIS_ALL_OPTS }
        guard let runtime = Installed.runtime() else { return SMFIS_TEMPFAIL }
        let negotiation = Negotiation(
            activeStages: runtime.engine.activeStages, needsHeaders: SessionMachine.needsHeaders(runtime.engine),
            offeredActions: f0, offeredProtocol: f1)
        pf0.pointee = negotiation.actions
        pf1.pointee = negotiation.protocolFlags
        pf2?.pointee = 0
        pf3?.pointee = 0
        if negotiation.actions & UInt(SMFIF_SETSYMLIST) != 0 {
            for (stage, names) in Negotiation.macros {
                _ = names.withCString { smfi_setsymlist(ctx, stage, UnsafeMutablePointer(mutating: $0)) }
            }
        }
        return SMFIS_CONTINUE
    }

    static func connect(_ ctx: OpaquePointer?, _ hostname: UnsafeMutablePointer<CChar>?, _ address: UnsafeMutablePointer<sockaddr>?) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_TEMPFAIL }
        let macros = Macros.read(ctx, Negotiation.connectMacros)
        var client = SocketAddresses.client(address)
        let name = CStrings.text(hostname)
        client.hostname = macros["client_name"] ?? (name.isEmpty ? nil : name)
        if client.address == nil, let text = macros["client_addr"] { client.address = IPAddress(text) }
        return session.drive(ctx, macros: []) { $0.connected(client, macros: macros) }
    }

    static func helo(_ ctx: OpaquePointer?, _ name: UnsafeMutablePointer<CChar>?) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_TEMPFAIL }
        let helo = CStrings.text(name)
        return session.drive(ctx, macros: []) { $0.helo(helo) }
    }

    static func mailFrom(_ ctx: OpaquePointer?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_TEMPFAIL }
        let arguments = CStrings.arguments(argv)
        let path = EnvelopeAddress(raw: arguments.first ?? [])
        let parameters = arguments.dropFirst().map { LogSafe.escape($0) }
        return session.drive(ctx, macros: Negotiation.mailMacros) { $0.mailFrom(path, parameters: parameters) }
    }

    static func rcptTo(_ ctx: OpaquePointer?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_TEMPFAIL }
        let path = EnvelopeAddress(raw: CStrings.arguments(argv).first ?? [])
        return session.drive(ctx, macros: Negotiation.queueMacros) { $0.rcptTo(path) }
    }

    static func data(_ ctx: OpaquePointer?) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_TEMPFAIL }
        return session.drive(ctx, macros: Negotiation.queueMacros) { $0.data() }
    }

    static func header(_ ctx: OpaquePointer?, _ name: UnsafeMutablePointer<CChar>?, _ value: UnsafeMutablePointer<CChar>?) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_TEMPFAIL }
        let field = HeaderField(name: CStrings.text(name), value: CStrings.text(value))
        return session.drive(ctx, macros: []) { $0.header(field) }
    }

    static func endOfHeaders(_ ctx: OpaquePointer?) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_TEMPFAIL }
        return session.drive(ctx, macros: Negotiation.queueMacros) { $0.endOfHeaders() }
    }

    static func body(_ ctx: OpaquePointer?, _ bytes: UnsafeMutablePointer<UInt8>?, _ count: Int) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_TEMPFAIL }
        let chunk = bytes.map { Array(UnsafeBufferPointer(start: $0, count: max(count, 0))) } ?? []
        return session.drive(ctx, macros: []) { $0.body(chunk) }
    }

    static func endOfMessage(_ ctx: OpaquePointer?) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_TEMPFAIL }
        return session.drive(ctx, macros: Negotiation.queueMacros) { $0.endOfMessage() }
    }

    static func abort(_ ctx: OpaquePointer?) -> sfsistat {
        guard let ctx, let session = Session.current(ctx) else { return SMFIS_CONTINUE }
        return session.drive(ctx, macros: Negotiation.queueMacros) { machine in
            let flushed = machine.aborted()
            return flushed.isEmpty ? .proceed : .respond(SessionMachine.Outcome(response: .proceed, decisions: flushed))
        }
    }

    static func unknown(_ ctx: OpaquePointer?, _ command: UnsafePointer<CChar>?) -> sfsistat {
        SMFIS_CONTINUE
    }

    static func close(_ ctx: OpaquePointer?) -> sfsistat {
        if let ctx { Session.release(ctx) }
        return SMFIS_CONTINUE
    }
}

/// Reads the client address from xxfi_connect's sockaddr (NULL from Sendmail `-bs`).
enum SocketAddresses {
    static func client(_ address: UnsafeMutablePointer<sockaddr>?) -> ClientFacts {
        guard let address else { return ClientFacts() }
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                ClientFacts(
                    address: .v4(UInt32(bigEndian: sin.pointee.sin_addr.s_addr)),
                    port: Int(UInt16(bigEndian: sin.pointee.sin_port)))
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                var value: UInt128 = 0
                withUnsafeBytes(of: sin6.pointee.sin6_addr) { raw in
                    for byte in raw.prefix(16) { value = value << 8 | UInt128(byte) }
                }
                return ClientFacts(address: IPAddress(v6: value), port: Int(UInt16(bigEndian: sin6.pointee.sin6_port)))
            }
        default:
            return ClientFacts()
        }
    }
}
