import Synchronization

/// One DNS query as `portcullis check` shows it: name, type, answer or error, time.
public struct QueryRecord: Sendable, Equatable {
    public let name: String
    public let type: DNSRecordType
    public let outcome: String
    public let milliseconds: Double

    public init(name: String, type: DNSRecordType, outcome: String, milliseconds: Double) {
        self.name = name
        self.type = type
        self.outcome = outcome
        self.milliseconds = milliseconds
    }
}

/// Collects the queries of one check's evaluation. The engine binds one to the task-local
/// ``current`` while a check runs (only when tracing is on); ``TracingResolver`` appends to it.
public final class QueryTrace: Sendable {
    @TaskLocal public static var current: QueryTrace?

    private let records = Mutex<[QueryRecord]>([])

    public init() {}

    public func append(_ record: QueryRecord) { records.withLock { $0.append(record) } }

    public var all: [QueryRecord] { records.withLock { $0 } }
}

/// Wraps a resolver and records every query into ``QueryTrace/current`` when one is bound.
/// Costs one task-local read per query otherwise.
public struct TracingResolver: DNSResolver {
    public let base: any DNSResolver

    public init(_ base: any DNSResolver) { self.base = base }

    public func query(_ name: DNSName, _ type: DNSRecordType) async throws(DNSError) -> DNSAnswer {
        guard let trace = QueryTrace.current else { return try await base.query(name, type) }
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let answer = try await base.query(name, type)
            trace.append(QueryRecord(name: name.text, type: type, outcome: answer.description, milliseconds: (clock.now - start).milliseconds))
            return answer
        } catch {
            trace.append(QueryRecord(name: name.text, type: type, outcome: "error: \(error)", milliseconds: (clock.now - start).milliseconds))
            throw error
        }
    }
}

extension Duration {
    /// Milliseconds as a fraction, for traces and logs.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}

/// A resolver installed after construction: the configuration builds checks that hold this
/// slot, and the daemon (or `portcullis check`) installs the real resolver once it has started
/// one. `configtest` never starts a resolver. Until one is installed, queries fail as unavailable.
public final class ResolverSlot: DNSResolver {
    private let installed = Mutex<(any DNSResolver)?>(nil)

    public init() {}

    public func install(_ resolver: any DNSResolver) { installed.withLock { $0 = resolver } }

    public func query(_ name: DNSName, _ type: DNSRecordType) async throws(DNSError) -> DNSAnswer {
        guard let resolver = installed.withLock({ $0 }) else { throw .unavailable("no resolver configured") }
        return try await resolver.query(name, type)
    }
}
