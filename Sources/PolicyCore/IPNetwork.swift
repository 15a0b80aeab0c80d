/// A CIDR network such as `192.0.2.0/24` or `2001:db8::/32`. A bare address is a host network.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    /// Parses `ADDR` or `ADDR/LEN`. Host bits set below the prefix are cleared, as Postfix's
    /// cidr tables would warn about them; we normalise instead of refusing.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        var length = address.bitWidth
        if parts.count == 2 {
            guard parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                let parsed = Int(parts[1]), parsed <= address.bitWidth
            else { return nil }
            length = parsed
        }
        self.prefixLength = length
        self.address = IPNetwork.masked(address, length)
    }

    public init(address: IPAddress, prefixLength: Int) {
        self.prefixLength = min(max(prefixLength, 0), address.bitWidth)
        self.address = IPNetwork.masked(address, self.prefixLength)
    }

    public func contains(_ candidate: IPAddress) -> Bool {
        guard candidate.isIPv4 == address.isIPv4 else { return false }
        return IPNetwork.masked(candidate, prefixLength) == address
    }

    public var description: String { "\(address)/\(prefixLength)" }

    static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let v):
            return .v4(length == 0 ? 0 : v & (UInt32.max << UInt32(32 - length)))
        case .v6(let v):
            return .v6(length == 0 ? 0 : v & (UInt128.max << UInt128(128 - length)))
        }
    }
}
