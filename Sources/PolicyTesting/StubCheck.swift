import PolicyCore
import PolicyEngine

/// A check whose behaviour a test chooses: a fixed verdict, an error, or never answering.
public struct StubCheck: Check {
    public enum Behaviour: Sendable {
        case verdict(Verdict)
        case fail(String)
        /// Never answers and ignores cancellation: the engine must not wait for it.
        case hang
        /// Decides by looking at the transaction.
        case decide(@Sendable (Transaction) -> Verdict)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let name: String
    public let stage: Stage
    public let behaviour: Behaviour

    public init(_ name: String, at stage: Stage, _ behaviour: Behaviour) {
        self.name = name
        self.stage = stage
        self.behaviour = behaviour
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        switch behaviour {
        case .verdict(let verdict): return verdict
        case .fail(let message): throw Failure(description: message)
        case .decide(let decide): return decide(tx)
        case .hang:
            await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }
            return .dunno
        }
    }
}
