/// How an `UnboundResolver` finds answers, and how long a query may take.
public struct ResolverSettings: Sendable, Equatable {
    /// Where queries go.
    public enum Mode: Sendable, Equatable {
        /// Forward to the name servers of `/etc/resolv.conf` (`ub_ctx_resolvconf`). The default.
        case system
        /// Full recursion in-process from the root servers. DNSBLs such as Spamhaus refuse
        /// queries that reach them through big public resolvers.
        case recursive
        /// Forward to these servers, tried in order as backups: `"192.0.2.53"`,
        /// `"127.0.0.1@5353"`, `"2001:db8::53@53"`.
        case forwarders([String])
    }

    public var mode: Mode
    /// Per query, from `query` being called until it throws `.timeout`. Unbound's own patience
    /// on a dead server is far longer (about 17 s), so this is the bound that callers see.
    public var timeout: Duration
    /// Zones whose built-in unbound local-zone answers are lifted, so that they are resolved
    /// like any other name: `"test."`, `"2.0.192.in-addr.arpa."`. Unbound answers `.test`,
    /// `invalid.`, `localhost.`, the RFC 1918/5737/3849 reverse zones and others itself with
    /// NXDOMAIN and never asks a server; a test or a private deployment serving such a zone
    /// lists it here (it becomes `local-zone: "<zone>" transparent`).
    public var transparentZones: [String]

    public static let defaultTimeout: Duration = .seconds(5)

    public init(mode: Mode = .system, timeout: Duration = defaultTimeout, transparentZones: [String] = []) {
        self.mode = mode
        self.timeout = timeout
        self.transparentZones = transparentZones
    }
}
