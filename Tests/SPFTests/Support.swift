import PolicyCore
import PolicyTesting
import SPF

/// Evaluates the MAIL FROM identity against a zone, with a documentation address by default.
func check(
    _ zone: FakeZone, ip: String = "192.0.2.1", sender: String = "user@example.com", helo: String = "mx.example.net",
    limits: SPFLimits = .rfc7208, receiver: String = "unknown", timestamp: Int64 = 0
) async -> SPFOutcome {
    await SPFEvaluator(resolver: zone, limits: limits).evaluateMailFrom(
        ip: IPAddress(ip)!, sender: sender, helo: helo, receiver: receiver, timestamp: timestamp)
}

/// A zone holding one SPF record at example.com (and whatever the test adds).
func zone(record: String, at name: String = "example.com") -> FakeZone {
    let zone = FakeZone()
    zone.set(name, .txt, record)
    return zone
}

extension SPFOutcome {
    /// The trace as text, one step a line, for failure messages.
    var traceText: String { trace.map(\.description).joined(separator: "\n") }
}

extension FakeZone {
    /// Like `set(_:_:_:)`, from an array: `zone.set("example.com", .mx, ["0 mx0.example.com", ...])`.
    func set(_ name: String, _ type: DNSRecordType, _ values: [String]) {
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
        self[DNSName(name)!, type] = .answer(records.isEmpty ? .noData : .records(records))
    }
}
