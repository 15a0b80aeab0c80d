import Foundation
import Synchronization

/// A UDP DNS server on 127.0.0.1 that answers each question as `respond` says: drop it, or
/// reply with an RCODE (and A records) now or after a delay. Runs on its own thread.
final class FakeDNSServer: Sendable {
    enum Action: Sendable {
        case drop
        case reply(rcode: UInt8, addresses: [[UInt8]] = [], after: Duration = .zero)
    }

    let port: UInt16
    var forwarder: String { "127.0.0.1@\(port)" }
    /// Questions received so far.
    var received: Int { receivedCount.load(ordering: .relaxed) }

    private let socket: LoopbackSocket
    private let stopping = Atomic<Bool>(false)
    private let receivedCount = Atomic<Int>(0)
    private let finished = DispatchSemaphore(value: 0)

    init(_ respond: @escaping @Sendable (DNSWire.Question) -> Action) throws {
        socket = try LoopbackSocket(type: Int32(SOCK_DGRAM.rawValue))
        port = socket.port
        let thread = Thread { [self] in
            serve(respond)
            finished.signal()
        }
        thread.start()
    }

    /// Stops the thread and closes the socket. Call once.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        finished.wait()
        socket.close()
    }

    private func serve(_ respond: (DNSWire.Question) -> Action) {
        var pending: [(due: ContinuousClock.Instant, bytes: [UInt8], to: sockaddr_in)] = []
        while !stopping.load(ordering: .relaxed) {
            let now = ContinuousClock.now
            pending.sort { $0.due < $1.due }
            while let first = pending.first, first.due <= now {
                socket.send(first.bytes, to: first.to)
                pending.removeFirst()
            }
            var wait: Int32 = 20
            if let first = pending.first {
                let (seconds, attoseconds) = (first.due - now).components
                wait = min(wait, Int32(seconds * 1000 + attoseconds / 1_000_000_000_000_000))
            }
            guard let (packet, from) = socket.receive(milliseconds: max(wait, 0)),
                let question = DNSWire.question(of: packet)
            else { continue }
            receivedCount.add(1, ordering: .relaxed)
            switch respond(question) {
            case .drop:
                break
            case .reply(let rcode, let addresses, let delay):
                pending.append((ContinuousClock.now + delay, DNSWire.reply(to: question, rcode: rcode, addresses: addresses), from))
            }
        }
    }
}
