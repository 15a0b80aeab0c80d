import PolicyCore
import PolicyEngine

/// Client IP allow or deny list: IPv4 and IPv6 addresses and CIDR networks.
///
/// - Stage: ``Stage/connect``
/// - Replies: deny: ``SMTPReply/clientDenied`` unless configured
/// - On error: cannot fail
/// - Docs: docs/checks/lists.md
public struct ClientListCheck: Check {
    public let name: String
    public let stage = Stage.connect
    public let kind: ListKind
    public let reply: SMTPReply
    private let networks: NetworkSet

    public init(name: String, kind: ListKind, networks: NetworkSet, reply: SMTPReply = .clientDenied) {
        self.name = name
        self.kind = kind
        self.networks = networks
        self.reply = reply
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let address = tx.client.address, let network = networks.firstMatch(address) else { return .dunno }
        let because = "client \(address) matches \(network)"
        return kind == .allow ? .accept(because: because) : .reject(reply, because: because)
    }
}

/// A set of networks matched in time proportional to the number of distinct prefix lengths
/// (at most 33 + 129), not to the number of entries.
public struct NetworkSet: ListMatcher {
    private var byPrefix: [Int: Set<IPAddress>] = [:]
    private var prefixes: [Int] = []

    public init() {}

    public init(_ networks: [IPNetwork]) {
        for network in networks { insert(network) }
    }

    public var isEmpty: Bool { byPrefix.isEmpty }

    public mutating func insert(_ network: IPNetwork) {
        let key = network.address.isIPv4 ? network.prefixLength : 1000 + network.prefixLength
        if byPrefix[key]?.insert(network.address) == nil {
            byPrefix[key] = [network.address]
            prefixes = byPrefix.keys.sorted(by: >)  // most specific first, for the log
        }
    }

    /// Parses and inserts one entry.
    public mutating func add(_ entry: String) throws(ListEntryError) {
        guard let network = IPNetwork(entry) else {
            throw ListEntryError(entry: entry, problem: "not an IPv4/IPv6 address or CIDR network")
        }
        insert(network)
    }

    public func firstMatch(_ address: IPAddress) -> IPNetwork? {
        for key in prefixes {
            let isV4 = key < 1000
            guard isV4 == address.isIPv4 else { continue }
            let length = isV4 ? key : key - 1000
            let candidate = IPNetwork(address: address, prefixLength: length)
            if byPrefix[key]?.contains(candidate.address) == true { return candidate }
        }
        return nil
    }
}
