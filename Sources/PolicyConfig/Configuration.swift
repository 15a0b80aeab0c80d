import PolicyCore
import PolicyEngine

/// A validated configuration: no optionals-meaning-default, typed values, checks in order.
public struct Configuration: Sendable {
    public var mode: CheckMode
    public var milter: MilterSettings
    public var log: LogSettings
    public var engine: EngineSettings
    public var dns: DNSSettings
    /// The checks, enabled and in configured order.
    public var checks: [ConfiguredCheck]
    /// The DNS checks hold this slot; the daemon installs its resolver in it once started.
    public let resolver: ResolverSlot
    /// The greylist check holds this slot; the daemon installs the opened store in it.
    public let greylistStore: GreylistStoreSlot
    public var greylist: GreylistSettings
    /// Where checks send operational warnings; the daemon installs a logging sink.
    public let warnings: WarningSlot
    /// True when an enabled check asks the DNS: only then is a resolver started.
    public var needsResolver: Bool

    /// Builds the engine this configuration describes.
    public func makeEngine() -> Engine { Engine(settings: engine, checks: checks) }
}

/// Where the milter listens.
public enum SocketAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case inet(port: Int, host: String)
    case inet6(port: Int, host: String)

    /// Parses libmilter's forms: `unix:/path` (also `local:/path` or a bare `/path`),
    /// `inet:PORT@HOST`, `inet6:PORT@HOST`.
    public init?(_ text: String) {
        if text.hasPrefix("/") {
            self = .unix(path: text)
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let scheme = text[..<colon]
        let rest = String(text[text.index(after: colon)...])
        switch scheme {
        case "unix", "local":
            guard rest.hasPrefix("/"), rest.count > 1 else { return nil }
            self = .unix(path: rest)
        case "inet", "inet6":
            let parts = rest.split(separator: "@", maxSplits: 1)
            guard let port = Int(parts.first ?? ""), (1...65535).contains(port) else { return nil }
            let host = parts.count == 2 ? String(parts[1]) : (scheme == "inet" ? "127.0.0.1" : "::1")
            self = scheme == "inet" ? .inet(port: port, host: host) : .inet6(port: port, host: host)
        default:
            return nil
        }
    }

    /// The string `smfi_setconn` takes.
    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .inet(let port, let host): return "inet:\(port)@\(host)"
        case .inet6(let port, let host): return "inet6:\(port)@\(host)"
        }
    }
}

/// `milter:` settings.
public struct MilterSettings: Sendable, Equatable {
    public var socket: SocketAddress
    /// Permission bits of a unix socket.
    public var socketMode: UInt32
    /// Group of a unix socket; nil leaves it as created.
    public var socketGroup: String?
    /// User to switch to after binding; nil stays.
    public var user: String?
    public var pidfile: String?
    public var timeout: Duration
    public var backlog: Int
}

/// `dns:` settings.
public struct DNSSettings: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        case system
        case recursive
        case forwarders([String])
    }

    public var mode: Mode
    public var timeout: Duration
    public var transparentZones: [String]
}

/// `greylist:` settings: where the state lives.
public struct GreylistSettings: Sendable, Equatable {
    public enum Backend: Sendable, Equatable {
        case sqlite(path: String, moveAsideCorrupt: Bool)
        case postgresql(url: String)
    }

    public var backend: Backend
    public var purgeInterval: Duration
    /// The greylist check's timing and auto-allow threshold, for `purge` and `stats`.
    public var timing: GreylistTiming
    public var autoAllowThreshold: Int
    /// The network prefixes triplets are stored under (`greylist list --client 192.0.2.7`).
    public var ipv4Prefix: Int
    public var ipv6Prefix: Int
    /// True when the greylist check is enabled: only then is a store opened by the daemon.
    public var inUse: Bool
}

/// `log:` settings.
public struct LogSettings: Sendable, Equatable {
    /// One of swift-log's level names: trace, debug, info, notice, warning, error, critical.
    public var level: String
    public var syslogIdent: String
    /// A syslog facility name: mail, daemon, local0 ... local7.
    public var syslogFacility: String
}
