import Foundation
import PolicyCore
import Synchronization
import Testing

// Time bounds here are liveness bounds, not speed targets: each is far below the alternative it
// rules out (a 15-20 s timeout, unbound's own 17 s give-up, 200 x 0.5 s in sequence) and far
// above what a loaded CI machine needs.

@testable import DNSResolverC

/// Dead, closed and refusing servers; deadlines, cancellation and shutdown.
@Suite struct FailureTests {
    static let name = DNSName("host.test")!

    static func resolver(_ forwarder: String, timeout: Duration) throws -> UnboundResolver {
        try UnboundResolver(
            ResolverSettings(mode: .forwarders([forwarder]), timeout: timeout, transparentZones: TestZone.transparent))
    }

    /// Runs `body`, returning its error (nil if it answered) and how long it took.
    static func timed(_ body: () async throws(DNSError) -> DNSAnswer) async -> (error: DNSError?, elapsed: Duration) {
        let start = ContinuousClock.now
        do throws(DNSError) {
            _ = try await body()
            return (nil, ContinuousClock.now - start)
        } catch {
            return (error, ContinuousClock.now - start)
        }
    }

    @Test func anUnresponsiveServerTimesOutOnTime() async throws {
        let blackhole = try LoopbackSocket(type: Int32(SOCK_DGRAM.rawValue))  // bound, never read
        defer { blackhole.close() }
        let resolver = try Self.resolver("127.0.0.1@\(blackhole.port)", timeout: .seconds(1))
        defer { resolver.shutdown() }
        let (error, elapsed) = await Self.timed { () async throws(DNSError) in try await resolver.query(Self.name, .a) }
        #expect(error == .timeout(name: "host.test", type: .a))
        #expect(elapsed >= .milliseconds(990) && elapsed < .seconds(6), "took \(elapsed)")
        #expect(resolver.waitingCount == 0)
    }

    @Test func aClosedPortTimesOutOnTime() async throws {
        let port = try LoopbackSocket.freePort()
        let resolver = try Self.resolver("127.0.0.1@\(port)", timeout: .seconds(1))
        defer { resolver.shutdown() }
        let (error, elapsed) = await Self.timed { () async throws(DNSError) in try await resolver.query(Self.name, .mx) }
        #expect(error == .timeout(name: "host.test", type: .mx))
        #expect(elapsed < .seconds(6), "took \(elapsed)")
    }

    @Test func aRefusingServerIsAServerFailure() async throws {
        let refusing = try FakeDNSServer { _ in .reply(rcode: 5) }
        defer { refusing.stop() }
        let resolver = try Self.resolver(refusing.forwarder, timeout: .seconds(15))
        defer { resolver.shutdown() }
        let (error, elapsed) = await Self.timed { () async throws(DNSError) in try await resolver.query(Self.name, .txt) }
        // Unbound does not pass an upstream REFUSED on: it tries elsewhere, then says SERVFAIL.
        #expect(error == .serverFailure(name: "host.test", type: .txt))
        #expect(elapsed < .seconds(6), "took \(elapsed)")
        #expect(refusing.received >= 1)
    }

    @Test func aServerFailureIsPassedOn() async throws {
        let failing = try FakeDNSServer { _ in .reply(rcode: 2) }
        defer { failing.stop() }
        let resolver = try Self.resolver(failing.forwarder, timeout: .seconds(2))
        defer { resolver.shutdown() }
        let (error, _) = await Self.timed { () async throws(DNSError) in try await resolver.query(Self.name, .a) }
        #expect(error == .serverFailure(name: "host.test", type: .a))
    }

    /// 200 queries to a dead server at once all end together at their deadline: none waits
    /// for a thread, so nothing is serialised behind a blocked one.
    @Test func manyQueriesToADeadServerTimeOutTogether() async throws {
        let blackhole = try LoopbackSocket(type: Int32(SOCK_DGRAM.rawValue))
        defer { blackhole.close() }
        let resolver = try Self.resolver("127.0.0.1@\(blackhole.port)", timeout: .milliseconds(500))
        defer { resolver.shutdown() }
        let start = ContinuousClock.now
        let timeouts = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<200 {
                group.addTask {
                    do throws(DNSError) {
                        _ = try await resolver.query(DNSName("n\(i).dead.test")!, .a)
                        return false
                    } catch {
                        return error == .timeout(name: "n\(i).dead.test", type: .a)
                    }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(timeouts == 200)
        #expect(ContinuousClock.now - start < .seconds(6))
        #expect(resolver.waitingCount == 0)
    }

    @Test func cancellingTheTaskEndsTheQuery() async throws {
        let blackhole = try LoopbackSocket(type: Int32(SOCK_DGRAM.rawValue))
        defer { blackhole.close() }
        let resolver = try Self.resolver("127.0.0.1@\(blackhole.port)", timeout: .seconds(20))
        defer { resolver.shutdown() }
        let task = Task { await Self.timed { () async throws(DNSError) in try await resolver.query(Self.name, .a) } }
        try await Task.sleep(for: .milliseconds(200))
        let cancelled = ContinuousClock.now
        task.cancel()
        let (error, _) = await task.value
        #expect(error == .timeout(name: "host.test", type: .a))
        #expect(ContinuousClock.now - cancelled < .seconds(6))
        #expect(resolver.waitingCount == 0)
    }

    @Test func aTaskCancelledBeforeAskingGetsATimeoutAtOnce() async throws {
        let blackhole = try LoopbackSocket(type: Int32(SOCK_DGRAM.rawValue))
        defer { blackhole.close() }
        let resolver = try Self.resolver("127.0.0.1@\(blackhole.port)", timeout: .seconds(20))
        defer { resolver.shutdown() }
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await Self.timed { () async throws(DNSError) in try await resolver.query(Self.name, .a) }
        }
        let (error, elapsed) = await task.value
        #expect(error == .timeout(name: "host.test", type: .a))
        #expect(elapsed < .seconds(6))
    }

    @Test func shutdownEndsWaitingQueriesAndRefusesNewOnes() async throws {
        let blackhole = try LoopbackSocket(type: Int32(SOCK_DGRAM.rawValue))
        defer { blackhole.close() }
        let resolver = try Self.resolver("127.0.0.1@\(blackhole.port)", timeout: .seconds(20))
        let task = Task { await Self.timed { () async throws(DNSError) in try await resolver.query(Self.name, .a) } }
        try await Task.sleep(for: .milliseconds(200))
        resolver.shutdown()
        let (error, elapsed) = await task.value
        guard case .unavailable = error else {
            Issue.record("expected .unavailable, got \(String(describing: error))")
            return
        }
        #expect(elapsed < .seconds(6))
        let (later, _) = await Self.timed { () async throws(DNSError) in try await resolver.query(Self.name, .a) }
        guard case .unavailable = later else {
            Issue.record("expected .unavailable after shutdown, got \(String(describing: later))")
            return
        }
        resolver.shutdown()  // idempotent
        #expect(resolver.waitingCount == 0)
        #expect(resolver.callbackBoxesLeft == 0)
    }

    struct SettingsCase: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let settings: ResolverSettings
    }

    static let invalidSettings: [SettingsCase] = [
        .init(testDescription: "no forwarders", settings: ResolverSettings(mode: .forwarders([]))),
        .init(testDescription: "a forwarder that is a host name", settings: ResolverSettings(mode: .forwarders(["dns.example"]))),
        .init(testDescription: "a forwarder with a bad port", settings: ResolverSettings(mode: .forwarders(["127.0.0.1@x"]))),
        .init(
            testDescription: "a transparent zone that is not a name",
            settings: ResolverSettings(mode: .forwarders(["127.0.0.1"]), transparentZones: ["a..b"])),
        .init(testDescription: "a zero timeout", settings: ResolverSettings(mode: .forwarders(["127.0.0.1"]), timeout: .zero)),
    ]

    @Test(arguments: invalidSettings)
    func invalidSettingsAreRefused(_ c: SettingsCase) {
        #expect {
            _ = try UnboundResolver(c.settings)
        } throws: { error in
            guard let error = error as? DNSError, case .unavailable = error else { return false }
            return true
        }
    }

    /// Creating a resolver sends nothing, so these are safe without a network.
    @Test(arguments: [ResolverSettings.Mode.system, .recursive, .forwarders(["127.0.0.1@53", "::1"])])
    func everyModeStarts(_ mode: ResolverSettings.Mode) throws {
        let resolver = try UnboundResolver(ResolverSettings(mode: mode))
        resolver.shutdown()
    }

    @Test func theDefaultsAreTheSystemServersAndFiveSeconds() {
        let settings = ResolverSettings()
        #expect(settings == ResolverSettings(mode: .system, timeout: .seconds(5), transparentZones: []))
    }
}
