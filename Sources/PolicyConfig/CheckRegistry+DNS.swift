import PolicyChecks
import PolicyCore
import PolicyEngine

extension CheckRegistry {
    static func fcrdns(_ c: CheckContext, _ r: inout ConfigReader) -> ConfiguredCheck? {
        common(c, &r) { r in
            let actions = FCrDNSCheck.Action.allCases.map { ($0.rawValue, $0) }
            let noPTR = r.oneOf(c.node["no_ptr"], actions)
            let unconfirmed = r.oneOf(c.node["unconfirmed"], actions)
            let generic = r.oneOf(c.node["generic"], actions)
            var patterns = PatternList()
            for (text, item) in r.scalarList(c.node["generic_patterns"]) ?? [] {
                do throws(ListEntryError) {
                    _ = try patterns.add("/\(text)/")
                } catch {
                    r.fail(item, error.description)
                }
            }
            let reply = r.reply(c.node["reply"])
            let rejectReply = r.reply(c.node["reject_reply"])
            if let reply, !reply.isTransient { r.fail(c.node["reply"]!, "reply is the tempfail reply: it needs a 4xx code") }
            if let rejectReply, rejectReply.isTransient {
                r.fail(c.node["reject_reply"]!, "reject_reply needs a 5xx code")
            }
            guard let noPTR, let unconfirmed, let generic, let reply, let rejectReply else { return nil }
            return FCrDNSCheck(
                resolver: c.resolver, noPTR: noPTR, unconfirmed: unconfirmed, generic: generic,
                genericPatterns: patterns, reply: reply, rejectReply: rejectReply)
        }
    }

    static func dnsList(_ c: CheckContext, _ r: inout ConfigReader, name: String, target: DNSListCheck.Target)
        -> ConfiguredCheck?
    {
        common(c, &r) { r in
            let zones = self.zones(c.node["zones"], &r)
            let threshold = r.int(c.node["threshold"], in: -1000...1000)
            let allow = r.int(c.node["allow_threshold"], in: -1000...1000)
            let permanent = r.bool(c.node["permanent"])
            let reply = r.reply(c.node["reply"])
            let permanentReply = r.reply(c.node["permanent_reply"])
            guard let zones, !zones.isEmpty, let threshold, let allow, let permanent, let reply, let permanentReply
            else { return nil }
            let warn = c.warn
            return DNSListCheck(
                name: name, target: target, zones: zones, threshold: threshold, allowThreshold: allow,
                permanent: permanent, reply: reply, permanentReply: permanentReply, resolver: c.resolver,
                warn: { warn("\(name): \($0)") })
        }
    }

    /// `zones:` items: `{zone, codes, bitmask, weight, action}`; only `zone` is required.
    static func zones(_ node: ConfigNode?, _ r: inout ConfigReader) -> [DNSListZone]? {
        guard let node else { return nil }
        guard case .sequence(let items) = node.value else {
            r.fail(node, "expected a list of zones, such as [{zone: zen.spamhaus.org}]")
            return nil
        }
        let known = ["zone", "codes", "bitmask", "weight", "action"]
        var zones: [DNSListZone] = []
        for item in items {
            // A bare name is a zone with the defaults.
            if case .scalar(let text, _) = item.value {
                if let zone = DNSName(text) { zones.append(DNSListZone(zone: zone)) } else {
                    r.fail(item, "not a DNS zone name: \"\(text)\"")
                }
                continue
            }
            guard case .mapping = item.value else {
                r.fail(item, "expected a zone name or {zone: NAME, ...}")
                continue
            }
            for key in item.keys where !known.contains(key) {
                r.fail(item[key]!, "unknown key \"\(key)\" (known here: \(known.joined(separator: ", ")))")
            }
            guard let zoneNode = item["zone"] else {
                r.fail(item, "a zone needs `zone: NAME`")
                continue
            }
            let zoneText = r.string(zoneNode) ?? ""
            let zone = DNSName(zoneText)
            if zone == nil { r.fail(zoneNode, "not a DNS zone name: \"\(zoneText)\"") }
            var filter = ReturnCodeFilter()
            for (text, codeNode) in r.scalarList(item["codes"]) ?? [] {
                if let range = ReturnCodeFilter.range(text) { filter.ranges.append(range) } else {
                    r.fail(codeNode, "expected an IPv4 answer such as 127.0.0.2 or a range 127.0.0.2-127.0.0.11")
                }
            }
            if let maskNode = item["bitmask"], let mask = r.int(maskNode, in: 0...255), mask > 0 {
                filter.bitmask = UInt32(mask)
            }
            let weight = item["weight"].flatMap { r.int($0, in: -1000...1000) } ?? 1
            let action =
                item["action"].flatMap { r.oneOf($0, DNSListZone.Action.allCases.map { ($0.rawValue, $0) }) } ?? .score
            if let zone { zones.append(DNSListZone(zone: zone, filter: filter, weight: weight, action: action)) }
        }
        return zones
    }

    static func heloOurs(_ c: CheckContext, _ r: inout ConfigReader) -> ConfiguredCheck? {
        common(c, &r) { r in
            var names = NameMatcher()
            var addresses = NetworkSet()
            var count = 0
            for (text, item) in r.scalarList(c.node["names"]) ?? [] {
                do throws(ListEntryError) {
                    try names.add(text)
                    count += 1
                } catch { r.fail(item, error.description) }
            }
            for (text, item) in r.scalarList(c.node["addresses"]) ?? [] {
                do throws(ListEntryError) {
                    try addresses.add(text)
                    count += 1
                } catch { r.fail(item, error.description) }
            }
            guard let reply = r.reply(c.node["reply"]), count > 0 else { return nil }
            return HeloOursCheck(names: names, addresses: addresses, reply: reply)
        }
    }
}
