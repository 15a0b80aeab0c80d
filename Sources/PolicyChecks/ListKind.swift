import PolicyCore

/// Whether a list lets matches through or refuses them.
public enum ListKind: String, Sendable {
    case allow
    case deny
}

/// Why a list entry cannot be used; PolicyConfig adds the file and line.
public struct ListEntryError: Error, Sendable, Equatable, CustomStringConvertible {
    public let entry: String
    public let problem: String
    public var description: String { "\"\(entry)\": \(problem)" }
}

/// A list's matcher, built one entry at a time.
public protocol ListMatcher: Sendable {
    mutating func add(_ entry: String) throws(ListEntryError)
}

/// Case-insensitive regular expressions written `/pattern/` in lists (as Postfix regexp tables,
/// which are case-insensitive by default).
public struct PatternList: @unchecked Sendable {
    // Regex<AnyRegexOutput> is an immutable value; matching does not mutate it, so sharing it
    // across tasks is safe even though the type is not declared Sendable.
    private var patterns: [(source: String, regex: Regex<AnyRegexOutput>)] = []

    public init() {}

    public var isEmpty: Bool { patterns.isEmpty }

    /// Accepts `/pattern/`; returns false if the entry is not in that form.
    public mutating func add(_ entry: String) throws(ListEntryError) -> Bool {
        guard entry.count >= 2, entry.hasPrefix("/"), entry.hasSuffix("/") else { return false }
        let source = String(entry.dropFirst().dropLast())
        guard !source.isEmpty else { throw ListEntryError(entry: entry, problem: "empty regular expression") }
        do {
            patterns.append((source, try Regex(source).ignoresCase()))
        } catch {
            throw ListEntryError(entry: entry, problem: "not a valid regular expression: \(error)")
        }
        return true
    }

    /// The first pattern that matches anywhere in `text`.
    public func firstMatch(in text: String) -> String? {
        for (source, regex) in patterns where (try? regex.firstMatch(in: text)) != nil { return "/\(source)/" }
        return nil
    }
}
