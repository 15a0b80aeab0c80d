import PolicyCore

/// Durations written as in the configuration (`500ms`, `10s`, `5m`, `2h`, `1d`), for commands.
public enum DurationText {
    public static func seconds(_ text: String) -> Int64? {
        ConfigReader.parseDuration(text).map { $0.components.seconds }
    }
}

/// Typed access to a merged configuration tree that collects every problem instead of
/// stopping at the first.
struct ConfigReader {
    private(set) var errors: [ConfigurationError] = []

    mutating func fail(_ node: ConfigNode, _ message: String) {
        errors.append(ConfigurationError(location: node.location, keyPath: node.path, message: message))
    }

    mutating func fail(at location: SourceLocation, path: String, _ message: String) {
        errors.append(ConfigurationError(location: location, keyPath: path, message: message))
    }

    mutating func append(_ more: [ConfigurationError]) { errors += more }

    mutating func scalar(_ node: ConfigNode?) -> String? {
        guard let node else { return nil }
        guard case .scalar(let text, _) = node.value else {
            fail(node, "expected a single value")
            return nil
        }
        return text
    }

    mutating func string(_ node: ConfigNode?) -> String? {
        guard let node, let text = scalar(node) else { return nil }
        if case .scalar(_, let quoted) = node.value, !quoted, text == "~" || text == "null" { return "" }
        return text
    }

    mutating func bool(_ node: ConfigNode?) -> Bool? {
        guard let node, let text = scalar(node) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail(node, "expected true or false, got \"\(text)\"")
            return nil
        }
    }

    mutating func int(_ node: ConfigNode?, in range: ClosedRange<Int>) -> Int? {
        guard let node, let text = scalar(node) else { return nil }
        guard let value = Int(text) else {
            fail(node, "expected a whole number, got \"\(text)\"")
            return nil
        }
        guard range.contains(value) else {
            fail(node, "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return value
    }

    /// `500ms`, `10s`, `5m`, `2h`, `1d`.
    mutating func duration(_ node: ConfigNode?, in range: ClosedRange<Duration>) -> Duration? {
        guard let node, let text = scalar(node) else { return nil }
        guard let value = ConfigReader.parseDuration(text) else {
            fail(node, "expected a duration such as 500ms, 10s, 5m, 2h or 1d, got \"\(text)\"")
            return nil
        }
        guard range.contains(value) else {
            fail(node, "\(text) is out of range \(ConfigReader.format(range.lowerBound))...\(ConfigReader.format(range.upperBound))")
            return nil
        }
        return value
    }

    /// `10ms`, `25s`, `2h`: the form the configuration uses.
    static func format(_ duration: Duration) -> String {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        for (suffix, unit) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        where ms >= unit && ms % unit == 0 {
            return "\(ms / unit)\(suffix)"
        }
        return "\(ms)ms"
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, milliseconds) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(number),
                n <= 10_000_000_000
            else { return nil }
            return .milliseconds(n * milliseconds)
        }
        return nil
    }

    mutating func oneOf<T>(_ node: ConfigNode?, _ choices: [(String, T)]) -> T? {
        guard let node, let text = scalar(node) else { return nil }
        if let match = choices.first(where: { $0.0 == text }) { return match.1 }
        fail(node, "expected one of \(choices.map(\.0).joined(separator: ", ")), got \"\(text)\"")
        return nil
    }

    /// A list of scalars, each with its own node for error positions.
    mutating func scalarList(_ node: ConfigNode?) -> [(String, ConfigNode)]? {
        guard let node else { return nil }
        guard case .sequence(let items) = node.value else {
            fail(node, "expected a list, such as [a, b]")
            return nil
        }
        var out: [(String, ConfigNode)] = []
        for item in items {
            if let text = scalar(item) { out.append((text, item)) }
        }
        return out
    }

    /// `{code, enhanced, text}`; text is one line or a list of lines.
    mutating func reply(_ node: ConfigNode?) -> SMTPReply? {
        guard let node else { return nil }
        guard let codeNode = node["code"], let code = int(codeNode, in: 400...599) else {
            if node["code"] == nil { fail(node, "a reply needs code, enhanced and text") }
            return nil
        }
        guard let enhanced = string(node["enhanced"]) else { return nil }
        var lines: [String] = []
        if let textNode = node["text"] {
            if case .sequence = textNode.value {
                lines = (scalarList(textNode) ?? []).map(\.0)
            } else if let text = string(textNode) {
                lines = [text]
            }
        }
        do {
            return try SMTPReply(validating: code, enhanced: enhanced, lines: lines)
        } catch {
            fail(node, error.description)
            return nil
        }
    }
}
