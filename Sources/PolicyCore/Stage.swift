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

/// Header changes at end of message: fields to add, and fields to remove, each named by its
/// name and its 1-based position among the fields of that name (as `smfi_chgheader` wants).
public struct HeaderEdits: Sendable, Hashable {
    public var add: [HeaderField]
    public var remove: [HeaderPosition]

    public init(add: [HeaderField] = [], remove: [HeaderPosition] = []) {
        self.add = add
        self.remove = remove
    }

    public var isEmpty: Bool { add.isEmpty && remove.isEmpty }
}

/// The `index`-th field called `name` (1-based, case-insensitive) in the message as received.
public struct HeaderPosition: Sendable, Hashable {
    public let name: String
    public let index: Int

    public init(name: String, index: Int) {
        self.name = name
        self.index = index
    }
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
