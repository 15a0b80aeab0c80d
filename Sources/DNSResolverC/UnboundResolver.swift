// `DNSResolver` over libunbound (Debian `libunbound-dev`): its asynchronous API, its
// TTL-honouring cache, and a Swift deadline on every query.
//
// One dedicated thread per resolver drives the libunbound context (`ResolverLoop`); callers
// suspend on a continuation and never block a thread of the Swift cooperative pool. Create
// one resolver for the process and share it: the cache is per resolver.
import Logging
import PolicyCore

/// The production resolver: libunbound behind the `DNSResolver` protocol.
///
/// - Answers: NOERROR with records → `.records` (CNAME chains followed by unbound, the final
///   records returned), NOERROR without → `.noData`, NXDOMAIN → `.noSuchName`.
/// - Errors: no answer within `settings.timeout`, or the task cancelled → `.timeout` (the query
///   is `ub_cancel`led); SERVFAIL → `.serverFailure` (unbound also reports its own upstream
///   timeouts and upstream REFUSED that way); REFUSED/FORMERR/NOTIMP → `.refused`; rdata that does
///   not fit its type → `.malformedAnswer`; after `shutdown()` → `.unavailable`.
public final class UnboundResolver: DNSResolver, Sendable {
    private let loop: ResolverLoop
    public let settings: ResolverSettings

    /// Creates the libunbound context and starts its thread. Throws `.unavailable` for settings
    /// libunbound refuses (a forwarder that is not an address, an unreadable resolv.conf, a zone
    /// that is not a name, a timeout that is not positive). Sends no query.
    public convenience init(_ settings: ResolverSettings) throws(DNSError) {
        try self.init(settings, logger: Logger(label: "portcullis.dns"))
    }

    /// As `init(_:)`, logging to `logger` (errors of libunbound itself; timeouts at debug).
    public convenience init(_ settings: ResolverSettings, logger: Logger) throws(DNSError) {
        try self.init(settings, logger: logger, extraOptions: [])
    }

    /// `extraOptions` are added to `UnboundContext.options` (measurements only).
    init(_ settings: ResolverSettings, logger: Logger, extraOptions: [(name: String, value: String)]) throws(DNSError) {
        let context = try UnboundContext.make(settings, extraOptions: extraOptions)
        loop = try ResolverLoop.start(context: context, timeout: settings.timeout, logger: logger)
        self.settings = settings
        logger.debug(
            "DNS resolver started",
            metadata: [
                "dns.mode": "\(settings.mode)", "dns.timeout": "\(settings.timeout)",
                "dns.transparent_zones": "\(settings.transparentZones.joined(separator: " "))",
            ])
    }

    deinit {
        loop.shutdown()
    }

    public func query(_ name: DNSName, _ type: DNSRecordType) async throws(DNSError) -> DNSAnswer {
        try await loop.query(name, type).get()
    }

    /// Stops the resolver thread and frees the libunbound context. Queries still waiting fail
    /// with `.unavailable`, and so does every later query. Idempotent; also done on deinit.
    public func shutdown() {
        loop.shutdown()
    }

    /// Queries whose caller is still waiting (for tests: 0 once all have returned).
    var waitingCount: Int { loop.waitingCount }

    /// libunbound callback boxes never released, once shut down (for tests: 0).
    var callbackBoxesLeft: Int { loop.callbackBoxesLeft }
}
