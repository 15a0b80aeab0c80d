import Dispatch
import Synchronization

/// The one sync→async bridge. libmilter calls us on its own threads and needs an answer
/// synchronously; the engine is async. Only libmilter threads may call this: a Swift task that
/// waited here would park a thread of the cooperative pool.
enum Deadline {
    /// Blocks the calling libmilter thread until `work` finishes or `budget` elapses (nil).
    static func wait<T: Sendable>(_ budget: Duration, _ work: @escaping @Sendable () async -> T) -> T? {
        let slot = Slot<T>()
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            slot.set(await work())
            done.signal()
        }
        let nanoseconds = budget.components.seconds * 1_000_000_000 + budget.components.attoseconds / 1_000_000_000
        guard done.wait(timeout: .now() + .nanoseconds(Int(clamping: nanoseconds))) == .success else {
            task.cancel()
            return nil
        }
        return slot.take()
    }

    private final class Slot<T: Sendable>: Sendable {
        private let value = Mutex<T?>(nil)
        func set(_ v: T) { value.withLock { $0 = v } }
        func take() -> T? { value.withLock { $0.take() } }
    }
}
