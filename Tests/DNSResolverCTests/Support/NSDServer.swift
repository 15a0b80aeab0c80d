import Foundation
import Testing

enum NSDError: Error, CustomStringConvertible {
    case missing(String)
    case notReady(String)

    var description: String {
        switch self {
        case .missing(let path): "NSD not found at \(path) (Debian package nsd; set NSD_BIN to override)"
        case .notReady(let why): "NSD did not start: \(why)"
        }
    }
}

/// A real NSD (`nsd -d`) on 127.0.0.1 and a free port, serving `zones` from a temporary
/// directory: the authoritative server the resolver forwards to. Stopped by PID with SIGTERM
/// (SIGKILL after 5 s) by `stop()`, which `withNSD` always calls; deinit is a safety net.
final class NSDServer: @unchecked Sendable {
    // @unchecked: `stopped` is guarded by `lock`; the rest is immutable.
    let port: UInt16
    let directory: String
    var forwarder: String { "127.0.0.1@\(port)" }

    private let process: ChildProcess
    private let lock = NSLock()
    private var stopped = false

    static var binary: String { ProcessInfo.processInfo.environment["NSD_BIN"] ?? "/usr/sbin/nsd" }

    /// Starts NSD (on `port`, else a free one) and waits until it answers an SOA query for the
    /// first zone.
    static func start(_ zones: [TestZone], port: UInt16? = nil) async throws -> NSDServer {
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw NSDError.missing(binary) }
        var lastError = "no attempt"
        // Another process may take the free port before NSD binds it: try again on a new one.
        for _ in 0..<3 {
            let server = try NSDServer(zones: zones, port: try port ?? LoopbackSocket.freePort())
            do {
                try await server.waitUntilReady(zone: zones[0].origin)
                return server
            } catch {
                lastError = "\(error)"
                server.stop()
            }
        }
        throw NSDError.notReady(lastError)
    }

    private init(zones: [TestZone], port: UInt16) throws {
        self.port = port
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("portcullis-nsd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var config = """
            server:
              ip-address: 127.0.0.1@\(port)
              port: \(port)
              username: ""
              chroot: ""
              zonesdir: "\(directory)"
              pidfile: "\(directory)/nsd.pid"
              xfrdfile: "\(directory)/xfrd.state"
              zonelistfile: "\(directory)/zone.list"
              database: ""
              logfile: "\(directory)/nsd.log"
              server-count: 1
              verbosity: 1
              hide-version: yes
            remote-control:
              control-enable: no

            """
        for zone in zones {
            let file = zone.origin.replacingOccurrences(of: "/", with: "_") + "zone"
            try zone.text.write(toFile: directory + "/" + file, atomically: true, encoding: .utf8)
            config += "zone:\n  name: \"\(zone.origin)\"\n  zonefile: \"\(file)\"\n"
        }
        try config.write(toFile: directory + "/nsd.conf", atomically: true, encoding: .utf8)

        process = try ChildProcess(NSDServer.binary, ["-d", "-c", directory + "/nsd.conf"], output: directory + "/stderr.log")
    }

    deinit { stop() }

    private func waitUntilReady(zone: String) async throws {
        let probe = try LoopbackSocket(type: Int32(SOCK_DGRAM.rawValue))
        defer { probe.close() }
        let deadline = ContinuousClock.now + .seconds(10)
        var id: UInt16 = 1
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw NSDError.notReady("exited: \(log())") }
            probe.send(DNSWire.query(id: id, name: zone, type: 6 /* SOA */), toPort: port)
            if let reply = probe.receive(milliseconds: 50), reply.bytes.count >= 4, reply.bytes[3] & 0x0F == 0 {
                return
            }
            id &+= 1
            try await Task.sleep(for: .milliseconds(20))
        }
        throw NSDError.notReady("no answer on port \(port) within 10 s: \(log())")
    }

    private func log() -> String {
        ["/nsd.log", "/stderr.log"].compactMap { try? String(contentsOfFile: directory + $0, encoding: .utf8) }
            .joined(separator: "\n")
    }

    /// SIGTERM, SIGKILL after 5 s, reap, remove the directory. Idempotent.
    func stop() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        process.terminate(grace: .seconds(5))
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs `body` with a started NSD and stops it afterwards, whether `body` returns or throws.
func withNSD<T>(_ zones: [TestZone] = TestZone.all, _ body: (NSDServer) async throws -> T) async throws -> T {
    let server = try await NSDServer.start(zones)
    defer { server.stop() }
    return try await body(server)
}
