import PolicyCore
import PolicyEngine

/// HELO/EHLO name deny (or allow) list: exact names, `.domain` suffixes, `/regex/`.
///
/// - Stage: ``Stage/helo``
/// - Replies: deny: ``SMTPReply/heloDenied`` unless configured
/// - On error: cannot fail
/// - Docs: docs/checks/lists.md
public struct HeloListCheck: Check {
    public let name: String
    public let stage = Stage.helo
    public let kind: ListKind
    public let reply: SMTPReply
    private let names: NameMatcher

    public init(name: String, kind: ListKind, names: NameMatcher, reply: SMTPReply = .heloDenied) {
        self.name = name
        self.kind = kind
        self.names = names
        self.reply = reply
    }

    public func evaluate(_ tx: Transaction) async throws -> Verdict {
        guard let helo = tx.helo, let entry = names.firstMatch(helo) else { return .dunno }
        let because = "HELO \(LogSafe.escape(helo)) matches \(entry)"
        return kind == .allow ? .accept(because: because) : .reject(reply, because: because)
    }
}

/// Host-name matching: `mail.example.com` exactly, `.example.com` for any name below it,
/// `/regex/` anywhere in the name. Case-insensitive; a trailing dot is ignored.
public struct NameMatcher: ListMatcher {
    private var exact: Set<String> = []
    private var suffixes: Set<String> = []
    private var patterns = PatternList()

    public init() {}

    public var isEmpty: Bool { exact.isEmpty && suffixes.isEmpty && patterns.isEmpty }

    public mutating func add(_ entry: String) throws(ListEntryError) {
        if try patterns.add(entry) { return }
        let name = NameMatcher.normalize(entry)
        if name.hasPrefix(".") {
            guard DomainName.isValid(name.dropFirst()) else {
                throw ListEntryError(entry: entry, problem: "not a domain name after the leading dot")
            }
            suffixes.insert(String(name.dropFirst()))
        } else {
            guard DomainName.isValid(name) || DomainName.isAddressLiteral(name) else {
                throw ListEntryError(entry: entry, problem: "not a host name, .domain suffix or /regex/")
            }
            exact.insert(name)
        }
    }

    public func firstMatch(_ candidate: String) -> String? {
        let name = NameMatcher.normalize(candidate)
        if exact.contains(name) { return name }
        if !suffixes.isEmpty {
            var rest = Substring(name)
            while let dot = rest.firstIndex(of: ".") {
                rest = rest[rest.index(after: dot)...]
                if suffixes.contains(String(rest)) { return "." + rest }
            }
        }
        return patterns.firstMatch(in: name)
    }

    static func normalize(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasSuffix(".") && lower.count > 1 ? String(lower.dropLast()) : lower
    }
}
