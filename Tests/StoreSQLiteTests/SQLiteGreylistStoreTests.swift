import Foundation
import GRDB
import PolicyCore
import PolicyTesting
import StoreSQLite
import Testing

/// Opening, migrations, damage and durability: what the contract cannot say about a file.
@Suite struct SQLiteGreylistStoreTests {
    let triplet = GreylistTriplet(network: "192.0.2.0/24", sender: "a@example.org", recipient: "b@example.test")
    let timing = GreylistTiming()
    let t0: Int64 = 1_800_000_000

    @Test func createsTheDirectoryAndSchemaAndKeepsDataAcrossAReopen() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("var/lib/portcullis/greylist.sqlite")
        do {
            let store = try SQLiteGreylistStore(path: path)
            #expect(store.notes.isEmpty)
            _ = try await store.recordAttempt(triplet, at: t0, timing: timing)
            _ = try await store.recordPass(network: triplet.network, at: t0, countInterval: 3600, lifetime: timing.lifetime)
            try await store.addAllowEntry("192.0.2.7", at: t0)
            try store.close()
        }
        let tables = try sqlite(path, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        #expect(tables == ["grdb_migrations", "greylist_allow", "greylist_networks", "greylist_triplets"])
        #expect(try sqlite(path, "SELECT identifier FROM grdb_migrations") == SQLiteGreylistStore.migrationIdentifiers)

        let reopened = try SQLiteGreylistStore(path: path)
        let again = try await reopened.recordAttempt(triplet, at: t0 + 10, timing: timing)
        #expect(again == GreylistRecord(triplet: triplet, firstSeen: t0, lastSeen: t0 + 10, attempts: 2, passedAt: nil))
        #expect(try await reopened.network(triplet.network)?.passes == 1)
        #expect(try await reopened.allowEntries() == ["192.0.2.7"])
    }

    @Test func refusesASchemaNewerThanTheCode() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("greylist.sqlite")
        try SQLiteGreylistStore(path: path).close()
        _ = try sqlite(path, "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')")
        for moveAside in [false, true] {
            let error = #expect(throws: StoreError.self) { try SQLiteGreylistStore(path: path, moveAsideIfCorrupt: moveAside) }
            guard case .corrupt(let why) = error else {
                Issue.record("expected .corrupt, got \(String(describing: error))")
                continue
            }
            #expect(why.contains("newer") && why.contains("v99-from-the-future"))
        }
        // Never moved aside: it is not damage.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains("corrupt") }.isEmpty)
    }

    @Test func aGarbageFileIsCorrupt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("greylist.sqlite")
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: StoreError.self) { try SQLiteGreylistStore(path: path) }
        guard case .corrupt(let why) = error else {
            Issue.record("expected .corrupt, got \(String(describing: error))")
            return
        }
        #expect(why.hasPrefix("\(path) is not a usable SQLite database: "))
        // Left alone.
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0x5A, count: 8192))
    }

    @Test func aGarbageFileIsMovedAsideWhenAsked() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("greylist.sqlite")
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        let store = try SQLiteGreylistStore(path: path, moveAsideIfCorrupt: true)
        #expect(store.notes.count == 1)
        let moved = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasPrefix("greylist.sqlite.corrupt-") }
        #expect(moved.count == 1)
        #expect(store.notes.first?.contains(moved.first ?? "?") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory.file(moved.first ?? "?"))) == Data(repeating: 0x5A, count: 8192))
        let record = try await store.recordAttempt(triplet, at: t0, timing: timing)
        #expect(record.attempts == 1)
    }

    @Test func aDamagedPageIsCorruptAtRunTime() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("greylist.sqlite")
        do {
            let store = try SQLiteGreylistStore(path: path)
            for i in 0..<2000 {
                let t = GreylistTriplet(network: "192.0.2.0/24", sender: "s\(i)@example.org", recipient: "r@example.test")
                _ = try await store.recordAttempt(t, at: t0, timing: timing)
            }
            try store.close()
        }
        // Overwrite every page but the first (header and schema) with garbage.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: Int(size) - 4096))
        try handle.close()
        do {
            let store = try SQLiteGreylistStore(path: path)
            let error = await #expect(throws: StoreError.self) { _ = try await store.recordAttempt(triplet, at: t0, timing: timing) }
            guard case .corrupt = error else {
                Issue.record("expected .corrupt, got \(String(describing: error))")
                return
            }
        } catch {
            // Also fine: the damage was seen while opening.
            guard case .corrupt = error else { throw error }
        }
    }

    @Test func aPathThatCannotBeCreatedIsUnavailable() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Root ignores permission bits, so use a parent that is a file.
        let file = directory.file("plain-file")
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let error = #expect(throws: StoreError.self) { try SQLiteGreylistStore(path: file + "/greylist.sqlite") }
        #expect(error == .unavailable("cannot create \(file)/greylist.sqlite: \(file) is not a directory"))
    }

    @Test func aDirectoryIsNotADatabase() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = #expect(throws: StoreError.self) { try SQLiteGreylistStore(path: directory.path) }
        guard case .unavailable(let why) = error else {
            Issue.record("expected .unavailable, got \(String(describing: error))")
            return
        }
        #expect(why.contains(directory.path))
    }

    @Test func aReadOnlyDirectoryIsUnavailable() throws {
        // /proc refuses new files even to root.
        let error = #expect(throws: StoreError.self) { try SQLiteGreylistStore(path: "/proc/greylist.sqlite") }
        guard case .unavailable(let why) = error else {
            Issue.record("expected .unavailable, got \(String(describing: error))")
            return
        }
        #expect(why.contains("/proc/greylist.sqlite"))
    }

    /// A crash leaves on disk exactly what the OS had when the process died: copy the database and
    /// its WAL while the store is still open (never closed, never checkpointed) and open the copy.
    /// SQLiteKillTests does it with a real SIGKILL of a writer process.
    @Test func committedDecisionsSurviveACrash() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("greylist.sqlite")
        let store = try SQLiteGreylistStore(path: path)
        var expected: [GreylistRecord] = []
        for i in 0..<200 {
            let t = GreylistTriplet(network: "198.51.100.0/24", sender: "s\(i)@example.org", recipient: "r@example.test")
            expected.append(try await store.recordAttempt(t, at: t0 + Int64(i), timing: timing))
        }
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        let crashed = directory.file("crashed.sqlite")
        try FileManager.default.copyItem(atPath: path, toPath: crashed)
        try FileManager.default.copyItem(atPath: path + "-wal", toPath: crashed + "-wal")
        let reopened = try SQLiteGreylistStore(path: crashed)
        let found = try await reopened.list(GreylistFilter(limit: 1000))
        #expect(found == expected)
        withExtendedLifetime(store) {}
    }
}

/// Runs one query on its own connection (not the store's) and returns the first column as text.
func sqlite(_ path: String, _ sql: String) throws -> [String] {
    let queue = try DatabaseQueue(path: path)
    defer { try? queue.close() }
    return try queue.write { db in try String.fetchAll(db, sql: sql) }
}
