import Foundation
import PolicyChecks
import PolicyCore
import PolicyEngine

/// Turns the merged tree into a ``Configuration``.
struct Validator {
    let baseDirectory: String

    func validate(_ root: ConfigNode, _ r: inout ConfigReader) -> Configuration? {
        let mode = r.oneOf(root["mode"], CheckMode.allCases.map { ($0.rawValue, $0) })
        let milter = milterSettings(root["milter"], &r)
        let log = logSettings(root["log"], &r)

        let engineNode = root["engine"]
        let budget = r.duration(engineNode?["stage_budget"], in: .milliseconds(10)...(.seconds(25)))
        let delayReject = r.bool(engineNode?["delay_reject"])
        let internalError = r.reply(root["replies"]?["internal_error"])

        let dns = dnsSettings(root["dns"], &r)
        let authservID = r.string(root["headers"]?["authserv_id"])
        let removeForged = r.bool(root["headers"]?["remove_forged_authentication_results"])
        if let id = authservID, !id.isEmpty, !id.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != ";" }),
            let node = root["headers"]?["authserv_id"]
        {
            r.fail(node, "an authserv-id is one token: no spaces, no ;")
        }
        let resolver = ResolverSlot()
        let warnings = WarningSlot()
        let greylistStore = GreylistStoreSlot()
        let greylistBackend = greylistBackend(root["greylist"], &r)
        let purgeInterval = r.duration(root["greylist"]?["purge_interval"], in: .seconds(60)...(.seconds(7 * 86_400)))

        var checks: [(name: String, check: ConfiguredCheck)] = []
        if let checksNode = root["checks"] {
            for name in checksNode.keys {
                guard let node = checksNode[name], let definition = CheckRegistry.definitions[name] else { continue }
                let context = CheckContext(
                    node: node, internalError: internalError ?? .internalError,
                    files: ListFiles(baseDirectory: baseDirectory), resolver: resolver, warn: warnings,
                    authservID: authservID ?? "", greylistStore: greylistStore)
                if let configured = definition(context, &r) { checks.append((name, configured)) }
            }
        }
        let ordered = order(checks, engineNode?["order"], &r)

        if let dns, let budget, dns.timeout >= budget, let node = root["dns"]?["timeout"] {
            r.fail(node, "must be shorter than engine.stage_budget (\(ConfigReader.format(budget))), or no DNS check could ever answer in time")
        }
        guard let mode, let milter, let log, let budget, let delayReject, let dns, let authservID, let removeForged,
            let greylistBackend, let purgeInterval, internalError != nil
        else {
            return nil
        }
        // Incoming Authentication-Results only matter when we add our own.
        let addsAuthenticationResults = ordered.contains { ($0.check as? SPFCheck)?.policy.authenticationResults == true }
        return Configuration(
            mode: mode, milter: milter, log: log,
            engine: EngineSettings(
                mode: mode, stageBudget: budget, delayReject: delayReject, authservID: authservID,
                removeForgedAuthenticationResults: removeForged && addsAuthenticationResults),
            dns: dns, checks: ordered, resolver: resolver, greylistStore: greylistStore,
            greylist: greylistSettings(ordered, greylistBackend, purgeInterval), warnings: warnings,
            needsResolver: ordered.contains { CheckRegistry.usesDNS.contains($0.check.name) })
    }

    private func greylistBackend(_ node: ConfigNode?, _ r: inout ConfigReader) -> GreylistSettings.Backend? {
        let kind = r.oneOf(node?["store"], [("sqlite", 0), ("postgresql", 1)])
        let path = r.string(node?["sqlite_path"])
        let moveAside = r.bool(node?["move_aside_corrupt"])
        let url = r.string(node?["postgresql_url"])
        if kind == 1, let url, let urlNode = node?["postgresql_url"],
            !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://"))
        {
            r.fail(urlNode, "store postgresql needs postgresql_url: postgres://user:password@host:port/database")
        }
        if kind == 0, let path, !path.hasPrefix("/"), let pathNode = node?["sqlite_path"] {
            r.fail(pathNode, "sqlite_path must be an absolute path")
        }
        guard let kind, let path, let moveAside, let url else { return nil }
        return kind == 0 ? .sqlite(path: path, moveAsideCorrupt: moveAside) : .postgresql(url: url)
    }

    private func greylistSettings(
        _ checks: [ConfiguredCheck], _ backend: GreylistSettings.Backend, _ purgeInterval: Duration
    ) -> GreylistSettings {
        let check = checks.lazy.compactMap { $0.check as? GreylistCheck }.first
        return GreylistSettings(
            backend: backend, purgeInterval: purgeInterval, timing: check?.policy.timing ?? GreylistTiming(),
            autoAllowThreshold: check?.policy.autoAllowThreshold ?? 5, ipv4Prefix: check?.policy.key.ipv4Prefix ?? 24,
            ipv6Prefix: check?.policy.key.ipv6Prefix ?? 64, inUse: check != nil)
    }

    private func dnsSettings(_ node: ConfigNode?, _ r: inout ConfigReader) -> DNSSettings? {
        let mode = r.oneOf(node?["mode"], [("system", 0), ("recursive", 1), ("forwarders", 2)])
        var forwarders: [String] = []
        for (text, item) in r.scalarList(node?["forwarders"]) ?? [] {
            let parts = text.split(separator: "@", maxSplits: 1)
            let portOK = parts.count == 1 || Int(parts[1]).map { (1...65535).contains($0) } == true
            if IPAddress(parts.first ?? "") == nil || !portOK {
                r.fail(item, "expected an IP address, optionally with @port, got \"\(text)\"")
            } else {
                forwarders.append(text)
            }
        }
        let timeout = r.duration(node?["timeout"], in: .milliseconds(100)...(.seconds(30)))
        var zones: [String] = []
        for (text, item) in r.scalarList(node?["transparent_zones"]) ?? [] {
            if let name = DNSName(text) { zones.append(name.text + ".") } else { r.fail(item, "not a DNS name: \"\(text)\"") }
        }
        if mode == 2, forwarders.isEmpty, let modeNode = node?["mode"] {
            r.fail(modeNode, "mode forwarders needs at least one address in dns.forwarders")
        }
        guard let mode, let timeout else { return nil }
        let resolved: DNSSettings.Mode = mode == 0 ? .system : mode == 1 ? .recursive : .forwarders(forwarders)
        return DNSSettings(mode: resolved, timeout: timeout, transparentZones: zones)
    }

    private func order(
        _ checks: [(name: String, check: ConfiguredCheck)], _ node: ConfigNode?, _ r: inout ConfigReader
    ) -> [ConfiguredCheck] {
        var result: [ConfiguredCheck] = []
        var placed: Set<String> = []
        for (name, item) in r.scalarList(node) ?? [] {
            guard CheckRegistry.definitions[name] != nil else {
                r.fail(item, "unknown check \"\(name)\" (known: \(CheckRegistry.definitions.keys.sorted().joined(separator: ", ")))")
                continue
            }
            guard placed.insert(name).inserted else {
                r.fail(item, "check \"\(name)\" is listed twice")
                continue
            }
            if let found = checks.first(where: { $0.name == name }) { result.append(found.check) }
        }
        for (name, check) in checks where !placed.contains(name) { result.append(check) }
        return result
    }

    private func milterSettings(_ node: ConfigNode?, _ r: inout ConfigReader) -> MilterSettings? {
        var socket: SocketAddress? = nil
        if let socketNode = node?["socket"], let text = r.string(socketNode) {
            socket = SocketAddress(text)
            if socket == nil { r.fail(socketNode, "expected unix:/path, inet:PORT@HOST or inet6:PORT@HOST, got \"\(text)\"") }
        }
        var mode: UInt32? = nil
        if let modeNode = node?["socket_mode"], let text = r.string(modeNode) {
            mode = UInt32(text, radix: 8)
            if mode == nil || text.count < 3 || mode! > 0o777 {
                r.fail(modeNode, "expected an octal mode such as \"0660\" (quote it), got \"\(text)\"")
                mode = nil
            }
        }
        let group = r.string(node?["socket_group"])
        let user = r.string(node?["user"])
        let pidfile = r.string(node?["pidfile"])
        let timeout = r.duration(node?["timeout"], in: .seconds(1)...(.seconds(86_400)))
        let backlog = r.int(node?["backlog"], in: 1...65535)
        guard let socket, let mode, let group, let user, let pidfile, let timeout, let backlog else { return nil }
        return MilterSettings(
            socket: socket, socketMode: mode, socketGroup: group.isEmpty ? nil : group, user: user.isEmpty ? nil : user,
            pidfile: pidfile.isEmpty ? nil : pidfile, timeout: timeout, backlog: backlog)
    }

    private func logSettings(_ node: ConfigNode?, _ r: inout ConfigReader) -> LogSettings? {
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        let level = r.oneOf(node?["level"], levels.map { ($0, $0) })
        let ident = r.string(node?["syslog_ident"])
        let facilities = ["mail", "daemon", "user"] + (0...7).map { "local\($0)" }
        let facility = r.oneOf(node?["syslog_facility"], facilities.map { ($0, $0) })
        guard let level, let ident, let facility else { return nil }
        return LogSettings(level: level, syslogIdent: ident, syslogFacility: facility)
    }
}

/// What a check definition gets to build its check.
struct CheckContext {
    let node: ConfigNode
    let internalError: SMTPReply
    let files: ListFiles
    let resolver: ResolverSlot
    let warn: WarningSlot
    let authservID: String
    let greylistStore: GreylistStoreSlot
}

/// Reads list files: one entry a line, `#` starts a comment, blank lines ignored. Relative
/// paths are relative to the configuration file's directory.
struct ListFiles {
    let baseDirectory: String

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : "\(baseDirectory)/\(path)"
    }

    /// The entries with their own file and line, or nil (and an error) if the file is unreadable.
    func read(_ path: String, at node: ConfigNode, _ r: inout ConfigReader) -> [(String, SourceLocation)]? {
        let full = resolve(path)
        guard let data = FileManager.default.contents(atPath: full), let text = String(data: data, encoding: .utf8)
        else {
            r.fail(node, "cannot read list file \(full)")
            return nil
        }
        var entries: [(String, SourceLocation)] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let entry = line.trimmingCharacters(in: .whitespaces)
            if !entry.isEmpty { entries.append((entry, SourceLocation(file: full, line: index + 1))) }
        }
        return entries
    }
}
