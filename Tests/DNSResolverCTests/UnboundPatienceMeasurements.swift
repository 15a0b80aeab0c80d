import Foundation
import PolicyCore
import Synchronization
import Testing

@testable import DNSResolverC

/// Not a test: the measurements behind `UnboundContext.options`. About 8 minutes; run with
/// `PORTCULLIS_DNS_MEASURE=1 swift test --filter UnboundPatienceMeasurements`, or set the
/// variable to a part of a candidate's name to measure only the candidates that contain it.
///
/// For each candidate set of unbound options: how long unbound itself takes to give up on a
/// dead forwarder (the Swift deadline set far away), and, after a 10 s outage of NSD with
/// queries going on, how long until a new name resolves again once NSD is back.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["PORTCULLIS_DNS_MEASURE"] != nil))
struct UnboundPatienceMeasurements {
    struct Candidate: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let options: [(name: String, value: String)]
    }

    static let candidates: [Candidate] = [
        .init(testDescription: "defaults", options: []),
        .init(testDescription: "infra-cache-max-rtt 1000", options: [("infra-cache-max-rtt", "1000")]),
        .init(
            testDescription: "infra-cache-max-rtt 1000, infra-keep-probing",
            options: [("infra-cache-max-rtt", "1000"), ("infra-keep-probing", "yes")]),
        .init(testDescription: "infra-host-ttl 60", options: [("infra-host-ttl", "60")]),
        .init(testDescription: "infra-keep-probing", options: [("infra-keep-probing", "yes")]),
        .init(testDescription: "infra-host-ttl 5", options: [("infra-host-ttl", "5")]),
        .init(
            testDescription: "infra-cache-max-rtt 1000, infra-host-ttl 5",
            options: [("infra-cache-max-rtt", "1000"), ("infra-host-ttl", "5")]),
    ]

    static var selected: [Candidate] {
        let only = ProcessInfo.processInfo.environment["PORTCULLIS_DNS_MEASURE"] ?? "1"
        return only == "1" ? candidates : candidates.filter { $0.testDescription.contains(only) }
    }

    static func resolver(_ forwarder: String, _ candidate: Candidate, timeout: Duration) throws -> UnboundResolver {
        try UnboundResolver(
            ResolverSettings(mode: .forwarders([forwarder]), timeout: timeout, transparentZones: ["test."]),
            logger: .init(label: "measure"), extraOptions: candidate.options)
    }

    static func ask(_ resolver: UnboundResolver, _ name: String) async -> (String, Duration) {
        let start = ContinuousClock.now
        do throws(DNSError) {
            return ("\(try await resolver.query(DNSName(name)!, .a))", ContinuousClock.now - start)
        } catch {
            switch error {
            case .timeout: return ("timeout", ContinuousClock.now - start)
            case .serverFailure: return ("SERVFAIL", ContinuousClock.now - start)
            default: return ("\(error)", ContinuousClock.now - start)
            }
        }
    }

    @Test(arguments: selected)
    func measure(_ candidate: Candidate) async throws {
        // 1. Unbound's own patience with a dead forwarder (a closed port), Swift deadline 60 s.
        let closed = try LoopbackSocket.freePort()
        let patient = try Self.resolver("127.0.0.1@\(closed)", candidate, timeout: .seconds(60))
        let first = await Self.ask(patient, "first.dead.test")
        let second = await Self.ask(patient, "second.dead.test")
        patient.shutdown()

        // 2. A 10 s outage with a query every 250 ms (deadline 5 s), then recovery.
        var server = try await NSDServer.start(TestZone.all)
        let port = server.port
        let resolver = try Self.resolver(server.forwarder, candidate, timeout: .seconds(5))
        defer { resolver.shutdown() }
        _ = await Self.ask(resolver, "host.test")
        server.stop()
        let outage = Tally()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<40 {
                group.addTask {
                    let (outcome, elapsed) = await Self.ask(resolver, "o\(i).wild.test")
                    outage.add(elapsed < .milliseconds(100) ? "\(outcome) at once" : outcome)
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        server = try await NSDServer.start(TestZone.all, port: port)
        defer { server.stop() }
        let back = ContinuousClock.now
        let recovered = Earliest()
        await withTaskGroup(of: Void.self) { group in
            var i = 0
            while recovered.value.withLock({ $0 }) == nil, ContinuousClock.now - back < .seconds(150) {
                let issued = ContinuousClock.now - back
                let name = "r\(i).wild.test"
                group.addTask {
                    let (outcome, _) = await Self.ask(resolver, name)
                    if outcome == "192.0.2.99" { recovered.value.withLock { $0 = min($0 ?? issued, issued) } }
                }
                i += 1
                try? await Task.sleep(for: .milliseconds(250))
            }
            group.cancelAll()
        }
        let recovery = recovered.value.withLock { $0 }.map { "\($0)" } ?? "not within 150 s"
        print(
            """
            MEASURE [\(candidate.testDescription)] dead forwarder: first query \(first.0) after \(first.1), \
            second \(second.0) after \(second.1); outage: \(outage.counts.withLock { $0 }); \
            recovery after NSD returned: \(recovery)
            """)
    }
}

/// The earliest of several durations, set by concurrent tasks.
final class Earliest: Sendable {
    let value = Mutex<Duration?>(nil)
}
