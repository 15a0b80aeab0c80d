/// StoreSQLite: the default greylist store, one SQLite file shared by the daemon and the CLI.
///
/// GRDB `DatabasePool` in WAL mode: one writer and concurrent readers, so `portcullis greylist list`
/// never blocks a decision. Each decision is one `INSERT … ON CONFLICT … DO UPDATE … RETURNING`
/// statement (``SQLiteGreylistSQL``), the schema is versioned by named migrations
/// (``SQLiteGreylistSchema``), and every SQLite error becomes a ``PolicyCore/StoreError``.
import Foundation
import GRDB
import PolicyCore

/// A ``PolicyCore/GreylistStore`` in one SQLite file (default `/var/lib/portcullis/greylist.sqlite`).
///
/// Durability: WAL with `synchronous = NORMAL`. A transaction is in the WAL file (the OS's page
/// cache) when `write` returns, so a crash of the process, even `kill -9`, loses no committed
/// decision; only a power loss or kernel crash can lose the last transactions before a checkpoint
/// (never corrupting the file). `FULL` would fsync every decision: 3.5× slower here (STACK-NOTES).
public final class SQLiteGreylistStore: GreylistStore {
    /// The database file.
    public let path: String
    /// What opening did that an operator should hear about (a damaged file moved aside); log at `notice`.
    public let notes: [String]
    private let pool: DatabasePool

    /// The migration identifiers this code knows, oldest first (StorePostgres uses the same).
    public static var migrationIdentifiers: [String] { SQLiteGreylistSchema.identifiers }

    /// Opens (creating it and its directory when missing) and migrates the database at `path`.
    ///
    /// - Throws: `.corrupt` when the file is not a usable SQLite database or has a schema newer than
    ///   this code; `.unavailable` when it cannot be created or opened. With `moveAsideIfCorrupt`, a
    ///   damaged file is renamed `<path>.corrupt-<unix time>` (with its `-wal` and `-shm`), a fresh
    ///   database takes its place and ``notes`` says so. A newer schema is never moved aside: it is
    ///   not damage, and the newer Portcullis that wrote it still needs it.
    /// - Parameter busyTimeout: how long a statement waits for another process's write lock (the
    ///   CLI's purge, say) before failing with `.unavailable`. The engine's stage budget bounds a
    ///   decision's wait anyway.
    public init(path: String, moveAsideIfCorrupt: Bool = false, busyTimeout: Duration = .seconds(5)) throws(StoreError) {
        self.path = path
        var notes: [String] = []
        try Self.createParentDirectory(of: path)
        do {
            pool = try Self.open(path, busyTimeout: busyTimeout)
        } catch {
            guard case .damaged(let why) = error else { throw error.storeError(path) }
            guard moveAsideIfCorrupt else { throw .corrupt("\(path) is not a usable SQLite database: \(why)") }
            let aside = try Self.moveAside(path)
            notes.append("\(path) was not a usable SQLite database (\(why)); moved it to \(aside) and started empty")
            do {
                pool = try Self.open(path, busyTimeout: busyTimeout)
            } catch {
                throw error.storeError(path)
            }
        }
        self.notes = notes
    }

    /// Checkpoints the WAL into the database file and closes every connection. Optional: dropping
    /// the store closes it too, and a crash loses nothing committed.
    public func close() throws(StoreError) {
        do { try pool.close() } catch { throw Self.storeError(error, path: path) }
    }

    // MARK: - GreylistStore

    public func recordAttempt(_ triplet: GreylistTriplet, at now: Int64, timing: GreylistTiming) async throws(StoreError)
        -> GreylistRecord
    {
        let arguments: StatementArguments = [
            "network": triplet.network, "sender": triplet.sender, "recipient": triplet.recipient, "now": now,
            "delay": timing.delay, "retryWindow": timing.retryWindow, "lifetime": timing.lifetime,
        ]
        let record = try await write { db in
            try Row.fetchOne(db, sql: SQLiteGreylistSQL.recordAttempt, arguments: arguments).map {
                Self.tripletRecord(triplet, $0)
            }
        }
        guard let record else { throw .corrupt("\(path): the upsert of \(triplet) returned no row") }
        return record
    }

    public func recordPass(network: String, at now: Int64, countInterval: Int64, lifetime: Int64) async throws(StoreError)
        -> GreylistNetworkRecord
    {
        let arguments: StatementArguments = [
            "network": network, "now": now, "countInterval": countInterval, "lifetime": lifetime,
        ]
        let record = try await write { db in
            try Row.fetchOne(db, sql: SQLiteGreylistSQL.recordPass, arguments: arguments).map {
                Self.networkRecord(network, $0)
            }
        }
        guard let record else { throw .corrupt("\(path): the upsert of network \(network) returned no row") }
        return record
    }

    public func network(_ network: String) async throws(StoreError) -> GreylistNetworkRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: SQLiteGreylistSQL.network, arguments: ["network": network]).map {
                Self.networkRecord(network, $0)
            }
        }
    }

    public func allowEntries() async throws(StoreError) -> [String] {
        try await read { db in try String.fetchAll(db, sql: SQLiteGreylistSQL.allowEntries) }
    }

    public func addAllowEntry(_ entry: String, at now: Int64) async throws(StoreError) {
        try await write { db in
            try db.execute(sql: SQLiteGreylistSQL.addAllowEntry, arguments: ["entry": entry, "now": now])
        }
    }

    public func removeAllowEntry(_ entry: String) async throws(StoreError) -> Bool {
        try await write { db in
            try db.execute(sql: SQLiteGreylistSQL.removeAllowEntry, arguments: ["entry": entry])
            return db.changesCount > 0
        }
    }

    public func list(_ filter: GreylistFilter) async throws(StoreError) -> [GreylistRecord] {
        let arguments = Self.arguments(filter) + ["limit": max(0, filter.limit)]
        return try await read { db in
            try Row.fetchAll(db, sql: SQLiteGreylistSQL.list, arguments: arguments).map { row in
                Self.tripletRecord(
                    GreylistTriplet(network: row["network"], sender: row["sender"], recipient: row["recipient"]), row)
            }
        }
    }

    public func delete(_ filter: GreylistFilter) async throws(StoreError) -> Int {
        let arguments = Self.arguments(filter)
        return try await write { db in
            try db.execute(sql: SQLiteGreylistSQL.delete, arguments: arguments)
            return db.changesCount
        }
    }

    public func stats(autoAllowThreshold: Int) async throws(StoreError) -> GreylistStats {
        // One read transaction: the three counts come from the same snapshot.
        try await read { db in
            let triplets = try Row.fetchOne(db, sql: SQLiteGreylistSQL.tripletStats)
            let networks = try Int.fetchOne(
                db, sql: SQLiteGreylistSQL.autoAllowlistedNetworks, arguments: ["threshold": autoAllowThreshold])
            let allow = try Int.fetchOne(db, sql: SQLiteGreylistSQL.manualAllowEntries)
            return GreylistStats(
                triplets: triplets?[0] ?? 0, passed: triplets?[1] ?? 0, autoAllowlistedNetworks: networks ?? 0,
                manualAllowEntries: allow ?? 0, oldestFirstSeen: triplets?[2])
        }
    }

    public func purge(at now: Int64, timing: GreylistTiming, olderThan: Int64?) async throws(StoreError) -> Int {
        let arguments: StatementArguments = [
            "now": now, "retryWindow": timing.retryWindow, "lifetime": timing.lifetime, "olderThan": olderThan,
        ]
        // `write` is one transaction: every delete or none.
        return try await write { db in
            var deleted = 0
            for sql in SQLiteGreylistSQL.purge {
                try db.execute(sql: sql, arguments: arguments)
                deleted += db.changesCount
            }
            return deleted
        }
    }

    // MARK: - Helpers

    /// Always the async API: the sync one would block a thread of Swift's cooperative pool while
    /// waiting for the writer.
    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.write(body) } catch { throw Self.storeError(error, path: path) }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.read(body) } catch { throw Self.storeError(error, path: path) }
    }

    private static func tripletRecord(_ triplet: GreylistTriplet, _ row: Row) -> GreylistRecord {
        GreylistRecord(
            triplet: triplet, firstSeen: row["first_seen"], lastSeen: row["last_seen"], attempts: row["attempts"],
            passedAt: row["passed_at"])
    }

    private static func networkRecord(_ network: String, _ row: Row) -> GreylistNetworkRecord {
        GreylistNetworkRecord(
            network: network, passes: row["passes"], lastCounted: row["last_counted"], lastSeen: row["last_seen"])
    }

    private static func arguments(_ filter: GreylistFilter) -> StatementArguments {
        ["network": filter.network, "sender": filter.sender, "recipient": filter.recipient]
    }
}
