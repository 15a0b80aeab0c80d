import Foundation
import PolicyChecks
import PolicyCore
import PolicyEngine

extension CheckRegistry {
    static func greylist(_ c: CheckContext, _ r: inout ConfigReader) -> ConfiguredCheck? {
        var decideAtData = false
        return common(c, &r) { r in
            var policy = GreylistCheck.Policy()
            decideAtData = r.oneOf(c.node["decide_at"], [("rcpt", false), ("data", true)]) ?? false
            let seconds = { (d: Duration) in d.components.seconds }
            if let delay = r.duration(c.node["delay"], in: .seconds(1)...(.seconds(86_400))) { policy.timing.delay = seconds(delay) }
            if let window = r.duration(c.node["retry_window"], in: .seconds(60)...(.seconds(30 * 86_400))) {
                policy.timing.retryWindow = seconds(window)
            }
            if let lifetime = r.duration(c.node["lifetime"], in: .seconds(60)...(.seconds(400 * 86_400))) {
                policy.timing.lifetime = seconds(lifetime)
            }
            if policy.timing.retryWindow <= policy.timing.delay, let node = c.node["retry_window"] {
                r.fail(node, "must be longer than delay, or no retry could ever pass")
            }
            policy.key.ipv4Prefix = r.int(c.node["ipv4_prefix"], in: 8...32) ?? 24
            policy.key.ipv6Prefix = r.int(c.node["ipv6_prefix"], in: 16...128) ?? 64
            let threshold = r.int(c.node["auto_allow_after"], in: 0...1000) ?? 5
            policy.autoAllowThreshold = threshold == 0 ? Int.max : threshold
            for (text, item) in r.scalarList(c.node["skip_networks"]) ?? [] {
                do throws(ListEntryError) { try policy.skipNetworks.add(text) } catch { r.fail(item, error.description) }
            }
            policy.skipAuthenticated = r.bool(c.node["skip_authenticated"]) ?? true
            for (text, item) in r.scalarList(c.node["skip_spf_pass_domains"]) ?? [] {
                if let name = DNSName(text) { policy.skipSPFPassDomains.append(name.text) } else {
                    r.fail(item, "not a domain name: \"\(text)\"")
                }
            }
            guard let reply = r.reply(c.node["reply"]) else { return nil }
            policy.reply = reply
            return GreylistCheck(
                store: c.greylistStore, policy: policy, decideAtData: decideAtData,
                now: { Int64(Date().timeIntervalSince1970) })
        }
    }
}
