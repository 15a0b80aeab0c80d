import PolicyCore

/// Builds the greylisting triplet from a transaction: the client's network, and the sender and
/// recipient reduced to what stays stable between a message and its retry.
public struct GreylistKey: Sendable, Equatable {
    /// Prefix lengths of the client network: /24 and /64 by default, as postgrey.
    public var ipv4Prefix: Int = 24
    public var ipv6Prefix: Int = 64

    public init(ipv4Prefix: Int = 24, ipv6Prefix: Int = 64) {
        self.ipv4Prefix = ipv4Prefix
        self.ipv6Prefix = ipv6Prefix
    }

    public func network(_ address: IPAddress) -> String {
        IPNetwork(address: address, prefixLength: address.isIPv4 ? ipv4Prefix : ipv6Prefix).description
    }

    public func triplet(client: IPAddress, sender: EnvelopeAddress, recipient: EnvelopeAddress) -> GreylistTriplet {
        GreylistTriplet(
            network: network(client), sender: GreylistKey.normalizedSender(sender),
            recipient: recipient.mailbox?.normalized ?? recipient.description.lowercased())
    }

    /// The sender as greylisting remembers it. Lower case; the null sender stays `<>`;
    /// BATV (`prvs=TAG=user@`), SRS (`SRS0=HASH=TT=domain=user@forwarder`, and SRS1) reduced
    /// to the original address; `+extension` dropped; digit runs of VERP addresses
    /// (`bounce-12345-678@`) folded to `#`, so each bounce address of a list is one sender.
    public static func normalizedSender(_ sender: EnvelopeAddress) -> String {
        guard let mailbox = sender.mailbox else { return sender.isNull ? "<>" : sender.description.lowercased() }
        var local = mailbox.localPart.lowercased()
        var domain = mailbox.domain

        if local.hasPrefix("srs0=") || local.hasPrefix("srs1=") {
            // SRS0=HHH=TT=orig-domain=orig-local ; SRS1=HHH=forwarder==HHH=TT=orig-domain=orig-local
            let fields = local.split(separator: "=", omittingEmptySubsequences: false)
            if fields.count >= 5, !fields[fields.count - 1].isEmpty, !fields[fields.count - 2].isEmpty {
                domain = String(fields[fields.count - 2])
                local = String(fields[fields.count - 1])
            }
        } else if let batv = ["prvs=", "msprvs1=", "btv1=="].first(where: { local.hasPrefix($0) }) {
            // prvs=KDDDSSSS=user (tag first), also the user=tag variant some senders use.
            let rest = local.dropFirst(batv.count)
            if let equals = rest.lastIndex(of: "=") { local = String(rest[rest.index(after: equals)...]) }
        }
        if let plus = local.firstIndex(of: "+"), plus != local.startIndex { local = String(local[..<plus]) }
        local = foldDigits(local)
        return "\(local)@\(domain)"
    }

    static func foldDigits(_ text: String) -> String {
        var out = ""
        var inDigits = false
        for character in text {
            if character.isASCII && character.isNumber {
                if !inDigits { out.append("#") }
                inDigits = true
            } else {
                out.append(character)
                inDigits = false
            }
        }
        return out
    }
}
