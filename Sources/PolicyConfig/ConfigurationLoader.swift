import Foundation
import PolicyCore
import PolicyEngine
import Yams

/// Reads a YAML file, lays it over ``DefaultConfiguration``, and validates it into a
/// ``Configuration``, reporting every problem with its file, line and key path.
public enum ConfigurationLoader {
    public static func load(path: String) throws(ConfigurationErrors) -> Configuration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationErrors(errors: [
                ConfigurationError(
                    location: SourceLocation(file: path, line: 0), keyPath: "",
                    message: "cannot read the file (\(String(cString: strerror(errno))))")
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationErrors(errors: [
                ConfigurationError(location: SourceLocation(file: path, line: 0), keyPath: "", message: "not UTF-8 text")
            ])
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try load(yaml: text, file: path, baseDirectory: directory.isEmpty ? "." : directory)
    }

    /// The configuration with nothing overridden.
    public static func defaults() throws(ConfigurationErrors) -> Configuration {
        try load(yaml: "", file: "<defaults>", baseDirectory: ".")
    }

    public static func load(yaml: String, file: String, baseDirectory: String) throws(ConfigurationErrors) -> Configuration {
        var errors: [ConfigurationError] = []
        let defaults = parse(DefaultConfiguration.yaml, file: "<defaults>", errors: &errors)
        let user = parse(yaml, file: file, errors: &errors)
        guard errors.isEmpty, let defaults else { throw ConfigurationErrors(errors: errors) }
        let merged = user.map { ConfigNode.merge(defaults: defaults, user: $0, errors: &errors) } ?? defaults
        var reader = ConfigReader()
        reader.append(errors)
        let configuration = Validator(baseDirectory: baseDirectory).validate(merged, &reader)
        guard reader.errors.isEmpty, let configuration else {
            throw ConfigurationErrors(errors: reader.errors.sorted { ($0.location.line, $0.keyPath) < ($1.location.line, $1.keyPath) })
        }
        return configuration
    }

    private static func parse(_ text: String, file: String, errors: inout [ConfigurationError]) -> ConfigNode? {
        do {
            guard let node = try Yams.compose(yaml: text) else { return nil }
            return ConfigNode.from(node, file: file, path: "", errors: &errors)
        } catch let error as YamlError {
            errors.append(ConfigurationError(location: location(of: error, file: file), keyPath: "", message: "YAML syntax: \(problem(of: error))"))
        } catch {
            errors.append(ConfigurationError(location: SourceLocation(file: file, line: 0), keyPath: "", message: "\(error)"))
        }
        return nil
    }

    private static func location(of error: YamlError, file: String) -> SourceLocation {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _):
            return SourceLocation(file: file, line: mark.line)
        default:
            return SourceLocation(file: file, line: 0)
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _):
            return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
        default:
            return "\(error)"
        }
    }
}
