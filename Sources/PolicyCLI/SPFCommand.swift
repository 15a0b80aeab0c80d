import ArgumentParser
import Foundation
import Logging
import PolicyConfig
import PolicyCore
import SPF

/// `portcullis spf`: evaluates SPF for one client and sender, and prints every term and DNS
/// query on the way: a debugger for SPF records.
struct SPFCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spf",
        abstract: "Evaluate SPF (RFC 7208) for a client address and sender, with a trace of every term and DNS query.",
        discussion: "DNS is asked as the configuration's dns: section says.")

    @OptionGroup var options: ConfigOption

    @Option(help: "The client's IP address.")
    var ip: String

    @Option(help: "The MAIL FROM address; \"\" or <> for the null sender (then the HELO identity is checked).")
    var sender: String

    @Option(help: "The HELO/EHLO name.")
    var helo: String = ""

    @Option(help: "Output format.")
    var format: CheckCommand.Format = .text

    func validate() throws {
        guard IPAddress(ip) != nil else { throw ValidationError("--ip \(ip) is not an IP address") }
    }

    func run() async throws {
        let configuration = try options.load()
        let logger = Logger(label: "portcullis.spf") { _ in KeyValueLogHandler(level: .warning, destination: .standardError) }
        let resolver = try Resolvers.start(for: configuration, logger: logger, always: true)
        defer { resolver?.shutdown() }
        let evaluator = SPFEvaluator(resolver: configuration.resolver)
        let address = IPAddress(ip)!
        let mailFrom = sender == "<>" ? "" : sender.trimmingCharacters(in: CharacterSet(charactersIn: "<>"))
        let outcome = await evaluator.evaluateMailFrom(
            ip: address, sender: mailFrom, helo: helo, receiver: "portcullis",
            timestamp: Int64(Date().timeIntervalSince1970))
        switch format {
        case .text:
            print("result: \(outcome.result.rawValue)")
            print("domain: \(outcome.domain)")
            if let mechanism = outcome.mechanism { print("matched: \(mechanism)") }
            if let explanation = outcome.explanation { print("explanation: \(explanation)") }
            if let problem = outcome.problem { print("problem: \(problem)") }
            print("trace:")
            for step in outcome.trace {
                print(String(repeating: "  ", count: step.depth + 1) + step.text)
            }
        case .json:
            var object: [String: Any] = [
                "result": outcome.result.rawValue, "domain": outcome.domain,
                "trace": outcome.trace.map { ["depth": $0.depth, "text": $0.text] as [String: Any] },
            ]
            object["mechanism"] = outcome.mechanism ?? NSNull()
            object["explanation"] = outcome.explanation ?? NSNull()
            object["problem"] = outcome.problem ?? NSNull()
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
