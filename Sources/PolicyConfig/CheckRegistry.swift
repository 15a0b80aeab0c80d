import PolicyChecks
import PolicyCore
import PolicyEngine

/// Every check kind the configuration knows, by its section name under `checks:`. Adding a
/// check: one entry here, its keys in DefaultConfiguration, its type in PolicyChecks.
enum CheckRegistry {
    typealias Definition = @Sendable (CheckContext, inout ConfigReader) -> ConfiguredCheck?

    static let definitions: [String: Definition] = [
        "client_allow": { c, r in clientList(c, &r, name: "client_allow", kind: .allow) },
        "client_deny": { c, r in clientList(c, &r, name: "client_deny", kind: .deny) },
        "helo_allow": { c, r in heloList(c, &r, name: "helo_allow", kind: .allow) },
        "helo_deny": { c, r in heloList(c, &r, name: "helo_deny", kind: .deny) },
        "helo_syntax": { c, r in
            common(c, &r) { r in r.reply(c.node["reply"]).map { HeloSyntaxCheck(name: "helo_syntax", reply: $0) } }
        },
        "sender_allow": { c, r in addressList(c, &r, name: "sender_allow", role: .sender, kind: .allow) },
        "sender_deny": { c, r in addressList(c, &r, name: "sender_deny", role: .sender, kind: .deny) },
        "sender_syntax": { c, r in
            common(c, &r) { r in
                r.reply(c.node["reply"]).map { AddressSyntaxCheck(name: "sender_syntax", role: .sender, reply: $0) }
            }
        },
        "recipient_allow": { c, r in addressList(c, &r, name: "recipient_allow", role: .recipient, kind: .allow) },
        "recipient_deny": { c, r in addressList(c, &r, name: "recipient_deny", role: .recipient, kind: .deny) },
        "recipient_syntax": { c, r in
            common(c, &r) { r in
                r.reply(c.node["reply"]).map {
                    AddressSyntaxCheck(name: "recipient_syntax", role: .recipient, reply: $0)
                }
            }
        },
        "fcrdns": { c, r in fcrdns(c, &r) },
        "spf": { c, r in spf(c, &r) },
        "greylist": { c, r in greylist(c, &r) },
        "dnsbl": { c, r in dnsList(c, &r, name: "dnsbl", target: .client) },
        "rhsbl_sender": { c, r in dnsList(c, &r, name: "rhsbl_sender", target: .senderDomain) },
        "rhsbl_helo": { c, r in dnsList(c, &r, name: "rhsbl_helo", target: .heloName) },
        "helo_ours": { c, r in heloOurs(c, &r) },
        "helo_literal": { c, r in common(c, &r) { r in r.reply(c.node["reply"]).map { HeloLiteralCheck(reply: $0) } } },
        "helo_fqdn": { c, r in common(c, &r) { r in r.reply(c.node["reply"]).map { HeloFQDNCheck(reply: $0) } } },
        "helo_address": { c, r in
            common(c, &r) { r in r.reply(c.node["reply"]).map { HeloAddressCheck(resolver: c.resolver, reply: $0) } }
        },
        "sender_domain": { c, r in
            common(c, &r) { r in
                let reply = r.reply(c.node["reply"])
                let nullMX = r.reply(c.node["null_mx_reply"])
                guard let reply, let nullMX else { return nil }
                return SenderDomainCheck(resolver: c.resolver, reply: reply, nullMXReply: nullMX)
            }
        },
    ]

    /// Checks that ask the DNS: a resolver is started only when one of them is enabled.
    static let usesDNS: Set<String> = ["spf", "fcrdns", "dnsbl", "rhsbl_sender", "rhsbl_helo", "helo_address", "sender_domain"]

    /// Reads `enabled`, `mode` and `on_error`, then builds the check. Returns nil when disabled
    /// or invalid (the reader holds the errors).
    static func common(
        _ c: CheckContext, _ r: inout ConfigReader, build: (inout ConfigReader) -> (any Check)?
    ) -> ConfiguredCheck? {
        let enabled = r.bool(c.node["enabled"])
        let mode = r.oneOf(c.node["mode"], CheckMode.allCases.map { ($0.rawValue, $0) })
        let onError = r.oneOf(
            c.node["on_error"], [("continue", ErrorPolicy.continue), ("tempfail", .tempfail(c.internalError))])
        let check = build(&r)
        guard enabled == true, let mode, let onError, let check else { return nil }
        return ConfiguredCheck(check, mode: mode, onError: onError)
    }

    /// Collects `entries` and `files` into one matcher, each bad entry reported where it stands.
    /// Returns nil when the list is empty: an empty list is not worth a round trip to the MTA.
    static func entries<M: ListMatcher>(_ c: CheckContext, _ r: inout ConfigReader, into matcher: M) -> M? {
        var matcher = matcher
        var count = 0
        for (text, node) in r.scalarList(c.node["entries"]) ?? [] {
            do throws(ListEntryError) {
                try matcher.add(text)
                count += 1
            } catch {
                r.fail(node, error.description)
            }
        }
        for (path, node) in r.scalarList(c.node["files"]) ?? [] {
            for (text, location) in c.files.read(path, at: node, &r) ?? [] {
                do throws(ListEntryError) {
                    try matcher.add(text)
                    count += 1
                } catch {
                    r.fail(at: location, path: node.path, error.description)
                }
            }
        }
        return count > 0 ? matcher : nil
    }

    static func clientList(_ c: CheckContext, _ r: inout ConfigReader, name: String, kind: ListKind) -> ConfiguredCheck? {
        common(c, &r) { r in
            let reply = kind == .deny ? r.reply(c.node["reply"]) : .clientDenied
            guard let networks = entries(c, &r, into: NetworkSet()), let reply else { return nil }
            return ClientListCheck(name: name, kind: kind, networks: networks, reply: reply)
        }
    }

    static func heloList(_ c: CheckContext, _ r: inout ConfigReader, name: String, kind: ListKind) -> ConfiguredCheck? {
        common(c, &r) { r in
            let reply = kind == .deny ? r.reply(c.node["reply"]) : .heloDenied
            guard let names = entries(c, &r, into: NameMatcher()), let reply else { return nil }
            return HeloListCheck(name: name, kind: kind, names: names, reply: reply)
        }
    }

    static func addressList(
        _ c: CheckContext, _ r: inout ConfigReader, name: String, role: AddressListCheck.Role, kind: ListKind
    ) -> ConfiguredCheck? {
        common(c, &r) { r in
            let reply = kind == .deny ? r.reply(c.node["reply"]) : nil
            guard let addresses = entries(c, &r, into: AddressMatcher()),
                kind == .allow || reply != nil
            else { return nil }
            return AddressListCheck(name: name, role: role, kind: kind, addresses: addresses, reply: reply)
        }
    }
}
