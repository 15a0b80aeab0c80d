import Logging
import PolicyEngine
import Synchronization

/// What a new connection starts with: the engine in force and the logger.
public struct Runtime: Sendable {
    public let engine: Engine
    public let logger: Logger
    /// The bridge's safety net: a little more than the engine's own stage budget.
    public var bridgeBudget: Duration { engine.settings.stageBudget + .seconds(2) }

    public init(engine: Engine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }
}

/// The runtime currently in force. A reload swaps it; open connections keep theirs.
public enum Installed {
    private static let slot = Mutex<Runtime?>(nil)

    public static func runtime() -> Runtime? { slot.withLock { $0 } }

    public static func install(_ runtime: Runtime) { slot.withLock { $0 = runtime } }
}
