/// The SMTP events a milter sees, in protocol order. A check belongs to exactly one stage.
public enum Stage: String, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    case connect
    case helo
    case mail
    case rcpt
    case data
    case endOfHeaders = "eoh"
    case endOfMessage = "eom"

    public var description: String { rawValue }

    private var order: Int { Stage.allCases.firstIndex(of: self) ?? 0 }
    public static func < (lhs: Stage, rhs: Stage) -> Bool { lhs.order < rhs.order }

    /// Stages whose verdict concerns the whole connection rather than one message.
    public var isConnectionStage: Bool { self == .connect || self == .helo }
}

/// One header field as the MTA passed it (name and unfolded value).
public struct HeaderField: Sendable, Hashable {
    public let name: String
    public let value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
