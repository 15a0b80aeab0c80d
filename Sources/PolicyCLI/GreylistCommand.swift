import ArgumentParser
import Foundation
import Logging
import PolicyConfig
import PolicyCore

/// `portcullis greylist`: look at and manage greylisting state, with the daemon's backend.
struct GreylistCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greylist",
        abstract: "Inspect and manage greylisting state (the store the configuration names).",
        subcommands: [List.self, Stats.self, Allow.self, Disallow.self, Delete.self, Purge.self])

    struct Filter: ParsableArguments {
        @Option(help: "Client address or network (as stored: the configured prefix, e.g. 192.0.2.0/24).")
        var client: String?
        @Option(help: "Sender, as normalised (lower case, <> for bounces).")
        var sender: String?
        @Option(help: "Recipient (lower case).")
        var recipient: String?

        func filter(_ configuration: Configuration, limit: Int = 1000) throws -> GreylistFilter {
            var network: String? = nil
            if let client {
                guard let parsed = IPNetwork(client) else { throw ValidationError("--client \(client) is not an address or network") }
                // A bare address names the network it belongs to under the configured prefix.
                if !client.contains("/") {
                    let prefix = parsed.address.isIPv4 ? configuration.greylist.ipv4Prefix : configuration.greylist.ipv6Prefix
                    network = IPNetwork(address: parsed.address, prefixLength: prefix).description
                } else {
                    network = parsed.description
                }
            }
            return GreylistFilter(network: network, sender: sender?.lowercased(), recipient: recipient?.lowercased(), limit: limit)
        }
    }

    static func withStore<T: Sendable>(
        _ options: ConfigOption, _ work: @escaping @Sendable (Configuration, any GreylistStore) async throws -> T
    ) throws -> T {
        let configuration = try options.load()
        let logger = Logger(label: "portcullis.greylist") { _ in KeyValueLogHandler(level: .warning, destination: .standardError) }
        let result = Blocking.run { () async -> Result<T, Error> in
            do {
                let opened = try await GreylistStores.open(configuration.greylist, logger: logger)
                defer { Task { await opened.close() } }
                return .success(try await work(configuration, opened.store))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let value): return value
        case .failure(let error as StoreError):
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(69)  // EX_UNAVAILABLE
        case .failure(let error): throw error
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    static func json(_ object: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func time(_ seconds: Int64?) -> String {
        guard let seconds else { return "-" }
        return Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List triplets.")
        @OptionGroup var options: ConfigOption
        @OptionGroup var selection: Filter
        @Option(help: "At most this many.") var limit = 1000
        @Option(help: "Output format.") var format: CheckCommand.Format = .text

        func run() throws {
            let selection = self.selection
            let limit = self.limit
            let records = try GreylistCommand.withStore(options) { configuration, store in
                try await store.list(try selection.filter(configuration, limit: limit))
            }
            switch format {
            case .json:
                print(
                    GreylistCommand.json(
                        records.map {
                            [
                                "network": $0.triplet.network, "sender": $0.triplet.sender,
                                "recipient": $0.triplet.recipient, "first_seen": $0.firstSeen,
                                "last_seen": $0.lastSeen, "attempts": $0.attempts,
                                "passed_at": $0.passedAt.map { $0 as Any } ?? NSNull(),
                            ] as [String: Any]
                        }))
            case .text:
                for r in records {
                    let state = r.passedAt == nil ? "waiting" : "passed \(GreylistCommand.time(r.passedAt))"
                    print("\(r.triplet.network) \(r.triplet.sender) -> \(r.triplet.recipient)  first \(GreylistCommand.time(r.firstSeen))  last \(GreylistCommand.time(r.lastSeen))  attempts \(r.attempts)  \(state)")
                }
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count triplets, passes and allow-listed networks.")
        @OptionGroup var options: ConfigOption
        @Option(help: "Output format.") var format: CheckCommand.Format = .text

        func run() throws {
            let stats = try GreylistCommand.withStore(options) { configuration, store in
                try await store.stats(autoAllowThreshold: configuration.greylist.autoAllowThreshold)
            }
            switch format {
            case .json:
                print(
                    GreylistCommand.json([
                        "triplets": stats.triplets, "passed": stats.passed,
                        "auto_allowlisted_networks": stats.autoAllowlistedNetworks,
                        "manual_allow_entries": stats.manualAllowEntries,
                        "oldest_first_seen": stats.oldestFirstSeen.map { $0 as Any } ?? NSNull(),
                    ]))
            case .text:
                print("triplets: \(stats.triplets)")
                print("passed: \(stats.passed)")
                print("auto-allowlisted networks: \(stats.autoAllowlistedNetworks)")
                print("manual allow entries: \(stats.manualAllowEntries)")
                print("oldest first seen: \(GreylistCommand.time(stats.oldestFirstSeen))")
            }
        }
    }

    struct Allow: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Never greylist a client address, network, or domain (sender domain or verified client name).")
        @OptionGroup var options: ConfigOption
        @Argument(help: "An IP address, a CIDR network or a domain.") var entry: String

        func validate() throws {
            guard IPNetwork(entry) != nil || DNSName(entry) != nil else {
                throw ValidationError("\(entry) is not an address, network or domain")
            }
        }

        func run() throws {
            let entry = IPNetwork(self.entry).map { self.entry.contains("/") ? $0.description : $0.address.description }
                ?? DNSName(self.entry)!.text
            try GreylistCommand.withStore(options) { _, store in try await store.addAllowEntry(entry, at: GreylistCommand.now()) }
            print("allowed: \(entry) (daemons pick it up within a minute)")
        }
    }

    struct Disallow: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "disallow", abstract: "Remove an allow entry.")
        @OptionGroup var options: ConfigOption
        @Argument(help: "The entry, as `allow` stored it.") var entry: String

        func run() throws {
            let entry = self.entry
            let removed = try GreylistCommand.withStore(options) { _, store in try await store.removeAllowEntry(entry) }
            print(removed ? "removed: \(entry)" : "no such entry: \(entry)")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete triplets (all that match the filter).")
        @OptionGroup var options: ConfigOption
        @OptionGroup var selection: Filter

        func validate() throws {
            guard selection.client != nil || selection.sender != nil || selection.recipient != nil else {
                throw ValidationError("name at least one of --client, --sender, --recipient")
            }
        }

        func run() throws {
            let selection = self.selection
            let count = try GreylistCommand.withStore(options) { configuration, store in
                try await store.delete(try selection.filter(configuration))
            }
            print("deleted: \(count)")
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete expired triplets and networks now.")
        @OptionGroup var options: ConfigOption
        @Option(name: .customLong("older-than"), help: "Also delete anything last seen longer ago than this (e.g. 30d).")
        var olderThan: String?

        func run() throws {
            var cutoff: Int64? = nil
            if let olderThan {
                guard let seconds = DurationText.seconds(olderThan) else {
                    throw ValidationError("--older-than \(olderThan) is not a duration such as 12h or 30d")
                }
                cutoff = GreylistCommand.now() - seconds
            }
            let limit = cutoff
            let count = try GreylistCommand.withStore(options) { configuration, store in
                try await store.purge(at: GreylistCommand.now(), timing: configuration.greylist.timing, olderThan: limit)
            }
            print("purged: \(count)")
        }
    }
}
