import PolicyCore
import Synchronization

/// An in-memory DNS for tests: answers written inline, failures included.
///
///     var zone = FakeZone()
///     zone[DNSName("2.0.0.127.bl.example")!, .a] = .answer(.records([.address(IPAddress("127.0.0.2")!)]))
///     zone[DNSName("4.3.2.1.bl.example")!, .a] = .fail(.timeout(name: "4.3.2.1.bl.example", type: .a))
///
/// Names without an entry answer NXDOMAIN. Every query is counted.
public final class FakeZone: DNSResolver {
    public enum Entry: Sendable {
        case answer(DNSAnswer)
        case fail(DNSError)
        /// Answers after a delay (honours cancellation by throwing `.timeout`).
        case delayed(Duration, DNSAnswer)
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var queries: [Key] = []
        var aliases: [DNSName: DNSName] = [:]
    }

    private struct Key: Hashable {
        let name: DNSName
        let type: DNSRecordType
    }

    private let state = Mutex(State())

    public init() {}

    public subscript(name: DNSName, type: DNSRecordType) -> Entry? {
        get { state.withLock { $0.entries[Key(name: name, type: type)] } }
        set { state.withLock { $0.entries[Key(name: name, type: type)] = newValue } }
    }

    /// Convenience for tests: `zone.set("mx.example", .a, "192.0.2.1")`.
    public func set(_ name: String, _ type: DNSRecordType, _ values: String...) {
        guard let key = DNSName(name) else { preconditionFailure("bad test name \(name)") }
        let records: [DNSRecord] = values.map { value in
            switch type {
            case .a, .aaaa: return .address(IPAddress(value)!)
            case .txt: return .text(value)
            case .ptr: return .name(DNSName(value)!)
            case .mx:
                let parts = value.split(separator: " ")
                return .mx(MXRecord(preference: UInt16(parts[0])!, exchange: parts[1] == "." ? nil : DNSName(parts[1])!))
            }
        }
        self[key, type] = .answer(records.isEmpty ? .noData : .records(records))
    }

    public func fail(_ name: String, _ type: DNSRecordType, _ error: DNSError) {
        self[DNSName(name)!, type] = .fail(error)
    }

    /// Makes `name` an alias (CNAME) of `target`: queries for `name`, of any type, are answered
    /// with `target`'s records, as a recursive resolver that follows the chain does. A loop, or a
    /// chain longer than 8 aliases, answers SERVFAIL.
    public func alias(_ name: DNSName, to target: DNSName) {
        state.withLock { $0.aliases[name] = target }
    }

    /// Every query made, in order, as `name/TYPE`.
    public var queries: [String] { state.withLock { $0.queries.map { "\($0.name.text)/\($0.type)" } } }

    public func query(_ name: DNSName, _ type: DNSRecordType) async throws(DNSError) -> DNSAnswer {
        let found = state.withLock { s -> (DNSName, Entry?)? in
            s.queries.append(Key(name: name, type: type))
            var current = name
            var hops = 0
            while let target = s.aliases[current] {
                hops += 1
                if hops > 8 { return nil }
                current = target
            }
            return (current, s.entries[Key(name: current, type: type)])
        }
        guard let (owner, entry) = found else { throw .serverFailure(name: name.text, type: type) }
        switch entry {
        case nil:
            let nameExists = state.withLock { s in s.entries.keys.contains { $0.name == owner } }
            return nameExists ? .noData : .noSuchName
        case .answer(let answer)?:
            return answer
        case .fail(let error)?:
            throw error
        case .delayed(let delay, let answer)?:
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .timeout(name: name.text, type: type)
            }
            return answer
        }
    }
}
