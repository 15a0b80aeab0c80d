import PolicyCore
import Synchronization
import Testing

@testable import DNSResolverC

/// Every query ends exactly once, whatever comes first: the answer, the deadline, or the
/// task's cancellation. A second resume of a continuation traps (CheckedContinuation), a
/// missing one hangs the task group; the token table must be empty at the end.
@Suite struct StressTests {
    @Test func answersDeadlinesAndCancellationsRaceWithoutDoubleOrMissingResumes() async throws {
        // Replies come after 0-12 ms, some never; the deadline is 6 ms; a third of the tasks
        // are cancelled after 0-12 ms. So all three outcomes happen, often in the same instant.
        let server = try FakeDNSServer { question in
            var generator = SystemRandomNumberGenerator()
            if UInt8.random(in: 0..<10, using: &generator) == 0 { return .drop }
            let rcode: UInt8 = question.name.hasPrefix("nx") ? 3 : 0
            return .reply(rcode: rcode, addresses: rcode == 0 ? [[192, 0, 2, 1]] : [], after: .microseconds(Int.random(in: 0...5_000)))
        }
        defer { server.stop() }
        let resolver = try UnboundResolver(
            ResolverSettings(mode: .forwarders([server.forwarder]), timeout: .milliseconds(10), transparentZones: ["test."]))
        defer { resolver.shutdown() }

        let total = 3000
        let outcomes = Tally()
        let start = ContinuousClock.now
        for batch in stride(from: 0, to: total, by: 20) {
            await withTaskGroup(of: Void.self) { group in
                for i in batch..<batch + 20 {
                    // Unique names: nothing comes from the cache. Every seventh repeats one, which does.
                    let label = i % 7 == 0 ? "repeat\(i % 3)" : (i % 5 == 0 ? "nx\(i)" : "q\(i)")
                    let name = DNSName("\(label).stress.test")!
                    let task = Task {
                        let outcome: String
                        do throws(DNSError) {
                            outcome = "\(try await resolver.query(name, .a))"
                        } catch {
                            switch error {
                            case .timeout: outcome = "timeout"
                            case .serverFailure: outcome = "SERVFAIL"
                            default: outcome = "\(error)"
                            }
                        }
                        outcomes.add(outcome)
                    }
                    group.addTask {
                        if i % 3 == 0 {
                            try? await Task.sleep(for: .microseconds(Int.random(in: 0...10_000)))
                            task.cancel()
                        }
                        await task.value
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        let counts = outcomes.counts.withLock { $0 }
        print("stress outcomes: \(counts) in \(elapsed)")
        #expect(counts.values.reduce(0, +) == total, "\(counts)")
        #expect(Set(counts.keys).isSubset(of: ["192.0.2.1", "NXDOMAIN", "timeout", "SERVFAIL"]), "\(counts)")
        #expect(counts["timeout", default: 0] > 0, "\(counts)")
        #expect(counts["192.0.2.1", default: 0] > 0, "\(counts)")
        #expect(resolver.waitingCount == 0)
        resolver.shutdown()
        #expect(resolver.callbackBoxesLeft == 0)
        #expect(elapsed < .seconds(10), "took \(elapsed)")
    }
}

/// Outcome counts, shared by the tasks.
final class Tally: Sendable {
    let counts = Mutex([String: Int]())

    func add(_ outcome: String) { counts.withLock { $0[outcome, default: 0] += 1 } }
}
