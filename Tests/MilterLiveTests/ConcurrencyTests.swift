import Dispatch
import Foundation
import Synchronization
import Testing

/// Many MTA connections at once, each on its own thread, as Postfix's smtpd processes do.
@Suite("Live: concurrent connections", .serialized, .liveDaemon(LiveConfig.standard))
struct ConcurrencyTests {
    @Test("20 concurrent connections, 20 transactions each, all get the right answers and one log line per decision")
    func twentyConcurrentConnections() async throws {
        let daemon = try currentDaemon()
        let socketPath = daemon.socketPath
        let threads = 20
        let transactionsPerThread = 20
        let failures = Mutex<[String]>([])
        let completed = Mutex(0)
        let group = DispatchGroup()
        let offset = daemon.logOffset
        var expectedSenderDenials = 0
        var expectedClientDenials = 0
        for thread in 0..<threads {
            for round in 0..<transactionsPerThread {
                if thread % 4 == 0 { expectedClientDenials += 1 } else if (thread + round) % 2 == 1 { expectedSenderDenials += 1 }
            }
        }

        for thread in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    for round in 0..<transactionsPerThread {
                        // A new milter connection per SMTP session, as Postfix does.
                        let client = try MilterClient(socketPath: socketPath, readTimeout: .seconds(30))
                        defer { client.close() }
                        try client.negotiate()
                        // Odd rounds of odd threads use a deny-listed sender, every fourth thread a
                        // deny-listed client: the answers must not cross between connections.
                        var envelope = Envelope()
                        envelope.port = UInt16(30000 + thread * 10 + round)
                        envelope.queueID = "Q\(thread)X\(round)"
                        envelope.recipients = ["user\(thread)@example.com", "other\(round)@example.net"]
                        let deniedClient = thread % 4 == 0
                        let deniedSender = !deniedClient && (thread + round) % 2 == 1
                        if deniedClient { envelope.clientAddress = "192.0.2.66" }
                        if deniedSender { envelope.sender = "bad@example.com" }
                        let transcript = try client.runTransaction(envelope)
                        let ok: Bool
                        if deniedClient {
                            ok = transcript.finalStep == "rcpt user\(thread)@example.com"
                                && transcript.final == .replyCode(Expected.clientDenied("192.0.2.66"))
                        } else if deniedSender {
                            ok = transcript.finalStep == "mail" && transcript.final == .replyCode(Expected.senderDenied)
                        } else {
                            ok = transcript.passedEveryStep
                        }
                        if !ok {
                            failures.withLock { $0.append("thread \(thread) round \(round): \(transcript)") }
                        }
                        if transcript.final != .continue { client.abort() }
                        client.quit()
                        completed.withLock { $0 += 1 }
                    }
                } catch {
                    failures.withLock { $0.append("thread \(thread): \(error)") }
                }
            }.start()
        }

        // Wait without holding a cooperative thread (other suites run meanwhile).
        let finished = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            DispatchQueue.global().async { continuation.resume(returning: group.wait(timeout: .now() + 120) == .success) }
        }
        #expect(finished, "threads still running after 120 s; stderr tail:\n\(daemon.logTail())")
        let failed = failures.withLock { $0 }
        #expect(failed.isEmpty, "\(failed.count) failures:\n\(failed.prefix(10).joined(separator: "\n"))\nstderr tail:\n\(daemon.logTail())")
        #expect(completed.withLock { $0 } == threads * transactionsPerThread)
        #expect(daemon.isRunning)

        // One decision line per refused transaction, none lost or doubled under concurrency.
        func count(_ check: String) -> Int {
            daemon.logLines(after: offset).filter { $0.contains("decision") && $0.contains("check=\(check)") }.count
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while (count("sender_deny") < expectedSenderDenials || count("client_deny") < expectedClientDenials)
            && ContinuousClock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(count("sender_deny") == expectedSenderDenials)
        #expect(count("client_deny") == expectedClientDenials)
    }
}
