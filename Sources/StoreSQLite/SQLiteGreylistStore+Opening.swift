import Foundation
import GRDB
import PolicyCore

extension SQLiteGreylistStore {
    /// Why opening failed: a damaged file (which may be moved aside) or anything else.
    enum OpenError: Error {
        case damaged(String)
        case other(StoreError)

        func storeError(_ path: String) -> StoreError {
            switch self {
            case .damaged(let why): return .corrupt("\(path) is not a usable SQLite database: \(why)")
            case .other(let error): return error
            }
        }
    }

    static func open(_ path: String, busyTimeout: Duration) throws(OpenError) -> DatabasePool {
        var configuration = Configuration()
        configuration.label = "portcullis.greylist"
        let (seconds, attoseconds) = busyTimeout.components
        configuration.busyMode = .timeout(TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18)
        // GRDB sets NORMAL for WAL already; said here because durability depends on it (see the type's doc).
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw classify(error, path: path)
        }
        do {
            let migrator = SQLiteGreylistSchema.migrator
            let unknown = try pool.read { db in
                try migrator.hasBeenSuperseded(db)
                    ? try migrator.appliedIdentifiers(db).subtracting(SQLiteGreylistSchema.identifiers) : []
            }
            if !unknown.isEmpty {
                try? pool.close()
                throw OpenError.other(
                    .corrupt(
                        "\(path) has a greylist schema newer than this Portcullis knows (migrations "
                            + "\(unknown.sorted().joined(separator: ", "))): run the newer Portcullis or use another file"))
            }
            try migrator.migrate(pool)
        } catch let error as OpenError {
            throw error
        } catch {
            try? pool.close()
            throw classify(error, path: path)
        }
        return pool
    }

    private static func classify(_ error: any Error, path: String) -> OpenError {
        if let error = error as? DatabaseError, isDamage(error.resultCode) {
            return .damaged(describe(error))
        }
        return .other(storeError(error, path: path))
    }

    private static func isDamage(_ code: ResultCode) -> Bool {
        code == .SQLITE_CORRUPT || code == .SQLITE_NOTADB || code == .SQLITE_FORMAT
    }

    /// SQLite's message and code, without the SQL or its arguments (addresses are personal data).
    private static func describe(_ error: DatabaseError) -> String {
        "\(error.message ?? "SQLite error") (SQLite code \(error.extendedResultCode.rawValue))"
    }

    /// BUSY, LOCKED, CANTOPEN, IOERR, READONLY, FULL and the rest: `.unavailable` (an operator or
    /// time can fix them); CORRUPT, NOTADB, FORMAT: `.corrupt`.
    static func storeError(_ error: any Error, path: String) -> StoreError {
        switch error {
        case let error as StoreError:
            return error
        case let error as DatabaseError:
            return isDamage(error.resultCode) ? .corrupt("\(path): \(describe(error))") : .unavailable("\(path): \(describe(error))")
        case is CancellationError:
            return .unavailable("\(path): cancelled while waiting for the database")
        default:
            return .unavailable("\(path): \(error)")
        }
    }

    static func createParentDirectory(of path: String) throws(StoreError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw .unavailable("cannot create \(path): \(directory) is not a directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .unavailable("cannot create the directory \(directory) for \(path): \(error.localizedDescription)")
        }
    }

    /// Renames the damaged file and its WAL and shared-memory files (a stale WAL must never be
    /// replayed into the fresh database) to `<path>.corrupt-<unix time>[-wal|-shm]`.
    static func moveAside(_ path: String) throws(StoreError) -> String {
        let aside = "\(path).corrupt-\(Int(Date().timeIntervalSince1970))"
        do {
            try FileManager.default.moveItem(atPath: path, toPath: aside)
            for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
            }
        } catch {
            throw .unavailable("\(path) is damaged and could not be moved to \(aside): \(error.localizedDescription)")
        }
        return aside
    }
}
