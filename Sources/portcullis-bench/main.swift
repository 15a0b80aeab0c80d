// Greylist store benchmark: decisions per second and latency percentiles at 50 concurrent
// sessions, for SQLite (and PostgreSQL when --postgres URL is given), and the database size per
// million triplets. Reports numbers; never fails on speed. `make bench` runs it.
import Foundation
import PolicyCore
import StorePostgres
import StoreSQLite

struct Options {
    var sessions = 50
    var decisions = 20_000
    var offeredRate = 1000.0
    var sizeTriplets = 100_000
    var postgres: String? = nil

    init(_ arguments: [String]) {
        var it = arguments.dropFirst().makeIterator()
        while let a = it.next() {
            switch a {
            case "--sessions": sessions = Int(it.next() ?? "") ?? sessions
            case "--decisions": decisions = Int(it.next() ?? "") ?? decisions
            case "--rate": offeredRate = Double(it.next() ?? "") ?? offeredRate
            case "--size-triplets": sizeTriplets = Int(it.next() ?? "") ?? sizeTriplets
            case "--postgres": postgres = it.next()
            default: FileHandle.standardError.write(Data("unknown option \(a)\n".utf8))
            }
        }
    }
}

func triplet(_ i: Int) -> GreylistTriplet {
    GreylistTriplet(
        network: "10.\(i >> 16 & 0xFF).\(i >> 8 & 0xFF).0/24", sender: "sender\(i % 997)@example.org",
        recipient: "user\(i)@example.test")
}

/// Runs `total` decisions from `sessions` concurrent tasks; with a rate, each session paces
/// itself so that together they offer `rate` decisions per second. Returns per-decision latency.
func run(_ store: any GreylistStore, sessions: Int, total: Int, rate: Double?) async -> (seconds: Double, latencies: [Double]) {
    let clock = ContinuousClock()
    let start = clock.now
    let timing = GreylistTiming()
    let latencies = await withTaskGroup(of: [Double].self) { group in
        for session in 0..<sessions {
            group.addTask {
                var mine: [Double] = []
                let count = total / sessions
                for n in 0..<count {
                    if let rate {
                        let due = start + .seconds(Double(n * sessions + session) / rate)
                        if due > clock.now { try? await Task.sleep(until: due, clock: clock) }
                    }
                    let t0 = clock.now
                    _ = try? await store.recordAttempt(triplet(session * count + n), at: 1_800_000_000, timing: timing)
                    mine.append((clock.now - t0).milliseconds)
                }
                return mine
            }
        }
        var all: [Double] = []
        for await part in group { all += part }
        return all
    }
    return ((clock.now - start).milliseconds / 1000, latencies)
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func report(_ name: String, _ result: (seconds: Double, latencies: [Double])) -> [String: Any] {
    let sorted = result.latencies.sorted()
    return [
        "backend": name, "decisions": sorted.count,
        "decisions_per_second": (Double(sorted.count) / result.seconds).rounded(),
        "p50_ms": (percentile(sorted, 0.5) * 1000).rounded() / 1000,
        "p99_ms": (percentile(sorted, 0.99) * 1000).rounded() / 1000,
        "max_ms": ((sorted.last ?? 0) * 1000).rounded() / 1000,
    ]
}

let options = Options(CommandLine.arguments)
let directory = NSTemporaryDirectory() + "portcullis-bench-\(getpid())"
try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

let done = DispatchSemaphore(value: 0)
Task.detached {
    var results: [[String: Any]] = []
    do {
        let sqlite = try SQLiteGreylistStore(path: directory + "/paced.sqlite")
        var paced = report("sqlite", await run(sqlite, sessions: options.sessions, total: options.decisions, rate: options.offeredRate))
        paced["offered_per_second"] = options.offeredRate
        paced["sessions"] = options.sessions
        results.append(paced)
        let saturated = try SQLiteGreylistStore(path: directory + "/saturated.sqlite")
        var full = report("sqlite", await run(saturated, sessions: options.sessions, total: options.decisions, rate: nil))
        full["offered_per_second"] = "saturation"
        full["sessions"] = options.sessions
        results.append(full)
        // Size: write N distinct triplets, checkpoint, measure, scale to a million.
        let sized = try SQLiteGreylistStore(path: directory + "/size.sqlite")
        _ = await run(sized, sessions: options.sessions, total: options.sizeTriplets, rate: nil)
        _ = try await sized.purge(at: 1_800_000_000, timing: GreylistTiming(), olderThan: nil)
        try sized.close()  // checkpoints the WAL into the database file
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("size.sqlite") }
        let bytes = files.reduce(0) { total, file in
            total + ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + file)[.size] as? Int) ?? 0)
        }
        results.append([
            "backend": "sqlite", "triplets": options.sizeTriplets,
            "megabytes_per_million_triplets": (Double(bytes) / Double(options.sizeTriplets) * 1_000_000 / 1_048_576).rounded(),
        ])
    } catch {
        results.append(["error": "\(error)"])
    }
    if let url = options.postgres {
        do {
            let postgres = try await PostgresGreylistStore(url: url, logger: nil)
            var paced = report(
                "postgresql", await run(postgres, sessions: options.sessions, total: options.decisions, rate: options.offeredRate))
            paced["offered_per_second"] = options.offeredRate
            paced["sessions"] = options.sessions
            results.append(paced)
            _ = try await postgres.delete(GreylistFilter(limit: Int.max))
            var full = report("postgresql", await run(postgres, sessions: options.sessions, total: options.decisions, rate: nil))
            full["offered_per_second"] = "saturation"
            full["sessions"] = options.sessions
            results.append(full)
            await postgres.shutdown()
        } catch {
            results.append(["backend": "postgresql", "error": "\(error)"])
        }
    }
    let data = try! JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    done.signal()
}
done.wait()
