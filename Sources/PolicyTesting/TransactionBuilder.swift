import PolicyCore

/// Builds transactions fluently: `.client("192.0.2.1").helo("mx.example").from("a@example.org")`.
public struct TransactionBuilder: Sendable {
    public private(set) var transaction = Transaction()

    public init() {}

    public func client(_ ip: String, name: String? = nil) -> TransactionBuilder {
        var copy = self
        copy.transaction.client = ClientFacts(address: IPAddress(ip), hostname: name)
        return copy
    }

    public func helo(_ name: String) -> TransactionBuilder {
        var copy = self
        copy.transaction.helo = name
        return copy
    }

    public func from(_ sender: String) -> TransactionBuilder {
        var copy = self
        copy.transaction.sender = EnvelopeAddress(sender)
        return copy
    }

    public func rcpt(_ recipient: String) -> TransactionBuilder {
        var copy = self
        copy.transaction.currentRecipient = EnvelopeAddress(recipient)
        return copy
    }

    public func build() -> Transaction { transaction }
}
