import Synchronization

/// Where checks send operational warnings (a DNS list refusing our queries). The composition
/// root installs a sink that logs; until then warnings are dropped. Checks stay free of any
/// logging back end.
public final class WarningSlot: Sendable {
    private let sink = Mutex<(@Sendable (String) -> Void)?>(nil)

    public init() {}

    public func install(_ handler: @escaping @Sendable (String) -> Void) { sink.withLock { $0 = handler } }

    public func callAsFunction(_ message: String) {
        if let handler = sink.withLock({ $0 }) { handler(message) }
    }
}
