internal import CResolver
import PolicyCore

/// Builds a configured `ub_ctx` from `ResolverSettings`.
enum UnboundContext {
    /// Unbound options set on every context, as `(name, value)` for `ub_ctx_set_option`: none.
    ///
    /// Unbound's patience with a dead server stays at its defaults on purpose; the bound callers
    /// see is the Swift deadline (`ResolverSettings.timeout`). Measured with libunbound 1.17.1
    /// against NSD (`UnboundPatienceMeasurements`: a closed port, then a 10 s outage with a query
    /// every 250 ms, then the time until a new name resolves once NSD is back):
    /// - defaults: unbound gives up after 17.3 s (12.0 s for the next name); during the outage
    ///   every query ends at the Swift deadline; the first query after the outage is answered.
    /// - `infra-cache-max-rtt: 1000` (with or without `infra-keep-probing: yes`): gives up after
    ///   2.3 s, then SERVFAIL at once, but still SERVFAIL at once 150 s after NSD came back: the
    ///   server stays marked dead for `infra-host-ttl` (900 s).
    /// - `infra-cache-max-rtt: 1000` + `infra-host-ttl: 5`: SERVFAIL at once during the outage and
    ///   recovery in 2 s, but no single try may then take over 1 s. Through a forwarder that
    ///   includes the forwarder's own recursion (a cold DNSBL lookup can take longer), so a slow
    ///   but healthy forwarder would be marked dead for every name; and recursion would forget the
    ///   RTT, EDNS and lameness of every server every 5 s.
    /// - `infra-host-ttl: 60`, `infra-host-ttl: 5`, `infra-keep-probing: yes` alone: no change
    ///   worth having (10–17 s, immediate recovery).
    /// The price of the defaults: during an outage each query costs the full Swift deadline,
    /// and a query given up by `ub_cancel` keeps its slot in unbound's worker until unbound
    /// gives up too (with threads, `ub_cancel` only suppresses the callback).
    static let options: [(name: String, value: String)] = []

    /// A context for `settings`, with threads for the async API (`ub_ctx_async(ctx, 1)`:
    /// without it libunbound forks a helper process). Throws `.unavailable` for settings
    /// libunbound refuses.
    static func make(_ settings: ResolverSettings, extraOptions: [(name: String, value: String)] = []) throws(DNSError)
        -> OpaquePointer
    {
        guard let context = ub_ctx_create() else { throw .unavailable("libunbound: cannot create a context") }
        do {
            try configure(context, settings, options + extraOptions)
        } catch {
            ub_ctx_delete(context)
            throw error
        }
        return context
    }

    private static func configure(
        _ context: OpaquePointer, _ settings: ResolverSettings, _ options: [(name: String, value: String)]
    ) throws(DNSError) {
        guard settings.timeout > .zero else {
            throw .unavailable("the DNS timeout must be positive, not \(settings.timeout)")
        }
        try check(ub_ctx_async(context, 1), "cannot enable threads")
        for option in options {
            try check(ub_ctx_set_option(context, option.name + ":", option.value), "option \(option.name): \(option.value)")
        }
        switch settings.mode {
        case .system:
            try check(ub_ctx_resolvconf(context, nil), "cannot read the name servers of /etc/resolv.conf")
        case .recursive:
            break  // no forwarders: unbound recurses from its built-in root hints
        case .forwarders(let servers):
            guard !servers.isEmpty else { throw .unavailable("no DNS forwarders given") }
            for server in servers {
                try check(ub_ctx_set_fwd(context, server), "invalid DNS forwarder \"\(server)\" (use 192.0.2.53 or 192.0.2.53@5353)")
            }
        }
        for zone in settings.transparentZones {
            guard let name = zone == "." ? nil : DNSName(zone) else {
                throw .unavailable("invalid transparent zone \"\(zone)\"")
            }
            // Measured: "<zone> nodefault" is accepted and ignored; "transparent" works.
            try check(ub_ctx_set_option(context, "local-zone:", "\(name.text). transparent"), "transparent zone \(zone)")
        }
    }

    private static func check(_ status: Int32, _ what: @autoclosure () -> String) throws(DNSError) {
        guard status != 0 else { return }
        throw .unavailable("libunbound: \(what()): \(String(cString: ub_strerror(status)))")
    }
}
