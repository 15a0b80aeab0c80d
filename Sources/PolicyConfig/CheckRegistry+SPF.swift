import Foundation
import PolicyChecks
import PolicyCore
import PolicyEngine
import SPF

extension CheckRegistry {
    static func spf(_ c: CheckContext, _ r: inout ConfigReader) -> ConfiguredCheck? {
        common(c, &r) { r in
            var policy = SPFCheck.Policy()
            let actions = SPFCheck.Action.allCases.map { ($0.rawValue, $0) }
            for result in SPFResult.allCases where result != .pass {
                if let action = r.oneOf(c.node[result.rawValue], actions) { policy.actions[result] = action }
            }
            policy.heloFirst = r.bool(c.node["helo_first"]) ?? false
            for (text, item) in r.scalarList(c.node["trusted_networks"]) ?? [] {
                do throws(ListEntryError) { try policy.trusted.add(text) } catch { r.fail(item, error.description) }
            }
            policy.appendExplanation = r.bool(c.node["explanation"]) ?? false
            policy.receivedSPF = r.bool(c.node["received_spf"]) ?? true
            policy.authenticationResults = r.bool(c.node["authentication_results"]) ?? true
            policy.authservID = c.authservID
            let replies = ["reject_reply", "tempfail_reply", "temperror_reply", "permerror_reply"].map {
                (key: $0, reply: r.reply(c.node[$0]))
            }
            for (key, reply) in replies {
                guard let reply, let node = c.node[key] else { continue }
                let wantsTemporary = key == "tempfail_reply" || key == "temperror_reply"
                if reply.isTransient != wantsTemporary {
                    r.fail(node, wantsTemporary ? "needs a 4xx code" : "needs a 5xx code")
                }
            }
            guard let reject = replies[0].reply, let tempfail = replies[1].reply, let temperror = replies[2].reply,
                let permerror = replies[3].reply
            else { return nil }
            policy.rejectReply = reject
            policy.tempfailReply = tempfail
            policy.temperrorReply = temperror
            policy.permerrorReply = permerror
            return SPFCheck(
                evaluator: SPFEvaluator(resolver: c.resolver), policy: policy,
                now: { Int64(Date().timeIntervalSince1970) })
        }
    }
}
