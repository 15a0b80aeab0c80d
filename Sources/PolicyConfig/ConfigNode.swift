import Yams

/// Where a configuration value came from: `file:line`, or the built-in defaults.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public var description: String { "\(file):\(line)" }

    static let defaults = SourceLocation(file: "<defaults>", line: 0)
}

/// One problem in a configuration: file, line, key path and what is wrong.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let location: SourceLocation
    public let keyPath: String
    public let message: String

    public var description: String {
        keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}

/// Every problem found in a configuration, reported together.
public struct ConfigurationErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [ConfigurationError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A YAML node with its origin and key path, our own tree so that validation can name the file,
/// line and key of every problem (Codable would lose all three).
final class ConfigNode: Sendable {
    enum Value: Sendable {
        case scalar(String, quoted: Bool)
        case sequence([ConfigNode])
        case mapping([(key: String, node: ConfigNode)])
    }

    let value: Value
    let location: SourceLocation
    let path: String

    init(_ value: Value, location: SourceLocation, path: String) {
        self.value = value
        self.location = location
        self.path = path
    }

    /// Converts a Yams node, reporting duplicate and non-scalar keys.
    static func from(_ node: Node, file: String, path: String, errors: inout [ConfigurationError]) -> ConfigNode {
        let location = SourceLocation(file: file, line: node.mark?.line ?? 0)
        switch node {
        case .scalar(let scalar):
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
            return ConfigNode(.scalar(scalar.string, quoted: quoted), location: location, path: path)
        case .sequence(let sequence):
            let items = sequence.enumerated().map { index, item in
                from(item, file: file, path: "\(path)[\(index)]", errors: &errors)
            }
            return ConfigNode(.sequence(items), location: location, path: path)
        case .mapping(let mapping):
            var pairs: [(key: String, node: ConfigNode)] = []
            var seen: Set<String> = []
            for (keyNode, valueNode) in mapping {
                let keyLocation = SourceLocation(file: file, line: keyNode.mark?.line ?? location.line)
                guard case .scalar(let keyScalar) = keyNode else {
                    errors.append(ConfigurationError(location: keyLocation, keyPath: path, message: "keys must be plain names"))
                    continue
                }
                let key = keyScalar.string
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                guard seen.insert(key).inserted else {
                    errors.append(ConfigurationError(location: keyLocation, keyPath: childPath, message: "duplicate key"))
                    continue
                }
                pairs.append((key, from(valueNode, file: file, path: childPath, errors: &errors)))
            }
            return ConfigNode(.mapping(pairs), location: location, path: path)
        }
    }

    /// Lays `user` over `defaults`: mappings merge key by key, anything else is replaced. A key
    /// that the defaults do not have is unknown, and a mapping replaced by a scalar is an error.
    static func merge(defaults: ConfigNode, user: ConfigNode, errors: inout [ConfigurationError]) -> ConfigNode {
        guard case .mapping(let base) = defaults.value else { return user }
        if case .scalar(let text, let quoted) = user.value, text.isEmpty || text == "~" || text == "null", !quoted {
            return defaults  // `key:` with nothing: keep the defaults
        }
        guard case .mapping(let overlay) = user.value else {
            errors.append(ConfigurationError(location: user.location, keyPath: user.path, message: "expected a mapping"))
            return defaults
        }
        var result: [(key: String, node: ConfigNode)] = []
        for (key, node) in base {
            if let mine = overlay.first(where: { $0.key == key })?.node {
                result.append((key, merge(defaults: node, user: mine, errors: &errors)))
            } else {
                result.append((key, node))
            }
        }
        for (key, node) in overlay where !base.contains(where: { $0.key == key }) {
            let known = base.map(\.key).sorted().joined(separator: ", ")
            errors.append(
                ConfigurationError(
                    location: node.location, keyPath: node.path, message: "unknown key \"\(key)\" (known here: \(known))"))
        }
        return ConfigNode(.mapping(result), location: user.location, path: user.path)
    }

    subscript(key: String) -> ConfigNode? {
        guard case .mapping(let pairs) = value else { return nil }
        return pairs.first(where: { $0.key == key })?.node
    }

    var keys: [String] {
        guard case .mapping(let pairs) = value else { return [] }
        return pairs.map(\.key)
    }
}
