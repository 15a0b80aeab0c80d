#if os(Linux)
import Foundation
import PolicyCore
import StoreSQLite
import Testing

/// `kill -9` right after decisions returned loses none of them. The test process runs itself a
/// second time as the writer (the ``SQLiteKillChild`` test, which does nothing unless
/// `PORTCULLIS_SQLITE_KILL_CHILD` names a database), reads "committed N" lines from it, kills it
/// with SIGKILL and reopens the file. The daemon's end-to-end version lives in tests/e2e.
@Suite struct SQLiteKillTests {
    static let childVariable = "PORTCULLIS_SQLITE_KILL_CHILD"

    @Test func committedDecisionsSurviveSIGKILL() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("greylist.sqlite")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        child.arguments = ["--testing-library", "swift-testing", "--filter", "SQLiteKillChild/writeUntilKilled"]
        child.environment = ProcessInfo.processInfo.environment.merging([Self.childVariable: path]) { $1 }
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()
        // Every complete line was written after its decision returned.
        let pid = child.processIdentifier
        let fd = output.fileHandleForReading.fileDescriptor
        let committed = await withCheckedContinuation { (done: CheckedContinuation<[Int], Never>) in
            Thread { done.resume(returning: Self.readCommitted(from: fd, killing: pid, after: 300)) }.start()
        }
        child.waitUntilExit()
        #expect(child.terminationReason == .uncaughtSignal && child.terminationStatus == SIGKILL)
        #expect(committed.count >= 300)
        #expect(committed == Array(0..<committed.count))

        let reopened = try SQLiteGreylistStore(path: path)
        let stored = try await reopened.list(GreylistFilter(limit: 1_000_000))
        let senders = Set(stored.map(\.triplet.sender))
        let lost = committed.filter { !senders.contains(SQLiteKillChild.sender($0)) }
        #expect(lost.isEmpty, "\(lost.count) of \(committed.count) committed decisions lost")
        // At most the one in flight when the signal came was committed but not reported.
        #expect(stored.count - committed.count <= 1)
    }
}

extension SQLiteKillTests {
    /// Reads "committed N" lines from `fd` until EOF, sending SIGKILL to `pid` once `count` have
    /// come (or when nothing came for 60 s, to fail rather than hang). Blocking: runs on its own thread.
    static func readCommitted(from fd: Int32, killing pid: Int32, after count: Int) -> [Int] {
        var buffer: [UInt8] = []
        var committed: [Int] = []
        var killed = false
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 60_000) == 0 {
                kill(pid, SIGKILL)
                break
            }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                if line.hasPrefix("committed "), let n = Int(line.dropFirst("committed ".count)) { committed.append(n) }
            }
            if !killed && committed.count >= count {
                kill(pid, SIGKILL)
                killed = true
            }
        }
        return committed
    }
}

/// The child side of ``SQLiteKillTests``: writes decisions, reporting each after it returned, until killed.
@Suite struct SQLiteKillChild {
    static func sender(_ n: Int) -> String { "s\(n)@example.org" }

    @Test(.enabled(if: ProcessInfo.processInfo.environment[SQLiteKillTests.childVariable] != nil))
    func writeUntilKilled() async throws {
        let path = try #require(ProcessInfo.processInfo.environment[SQLiteKillTests.childVariable])
        let store = try SQLiteGreylistStore(path: path)
        let started = ContinuousClock.now
        var n = 0
        // Bounded: the parent kills it long before.
        while ContinuousClock.now - started < .seconds(60) {
            let triplet = GreylistTriplet(network: "192.0.2.0/24", sender: Self.sender(n), recipient: "b@example.test")
            _ = try await store.recordAttempt(triplet, at: 1_800_000_000 + Int64(n), timing: GreylistTiming())
            FileHandle.standardOutput.write(Data("committed \(n)\n".utf8))
            n += 1
        }
    }
}
#endif
