import Logging
import PolicyCore
import PostgresNIO

/// The greylist schema as forward-only named migrations, recorded in `schema_migrations`. The
/// identifiers are StoreSQLite's (a test compares the two lists); the tables are the same, with
/// PostgreSQL's types (BIGINT unix seconds).
enum PostgresGreylistSchema {
    struct Migration: Sendable {
        let identifier: String
        let statements: [String]
    }

    /// Every migration this code knows, oldest first.
    static let migrations: [Migration] = [
        Migration(
            identifier: "v1-greylist",
            statements: [
                """
                CREATE TABLE greylist_triplets (
                    network    TEXT   NOT NULL,
                    sender     TEXT   NOT NULL,
                    recipient  TEXT   NOT NULL,
                    first_seen BIGINT NOT NULL,
                    last_seen  BIGINT NOT NULL,
                    attempts   BIGINT NOT NULL,
                    passed_at  BIGINT,
                    PRIMARY KEY (network, sender, recipient)
                )
                """,
                // purge: passed triplets and --older-than go by last_seen, open rounds by first_seen.
                "CREATE INDEX greylist_triplets_last_seen ON greylist_triplets (last_seen)",
                """
                CREATE INDEX greylist_triplets_open_first_seen ON greylist_triplets (first_seen)
                    WHERE passed_at IS NULL
                """,
                """
                CREATE TABLE greylist_networks (
                    network      TEXT   NOT NULL PRIMARY KEY,
                    passes       BIGINT NOT NULL,
                    last_counted BIGINT NOT NULL,
                    last_seen    BIGINT NOT NULL
                )
                """,
                "CREATE INDEX greylist_networks_last_seen ON greylist_networks (last_seen)",
                """
                CREATE TABLE greylist_allow (
                    entry   TEXT   NOT NULL PRIMARY KEY,
                    created BIGINT NOT NULL
                )
                """,
            ]),
    ]

    static var identifiers: [String] { migrations.map(\.identifier) }

    /// The advisory lock that serialises migrations between processes: "portcull" as a bigint.
    static let migrationLock: Int64 = 0x706F_7274_6375_6C6C

    /// Applies what is missing, in one transaction under the advisory lock, so that two daemons
    /// starting together neither race nor apply anything twice. Returns the identifiers applied.
    /// Throws `.corrupt` when the database has a migration this code does not know (a newer
    /// portcullis upgraded it), without changing anything.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await connection.query("BEGIN", logger: logger)
        do {
            // Held until COMMIT or ROLLBACK: the second starter waits here, then finds all applied.
            try await connection.query("SELECT pg_advisory_xact_lock(\(migrationLock))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (identifier TEXT NOT NULL PRIMARY KEY)", logger: logger)
            var applied: Set<String> = []
            for try await identifier in try await connection.query(
                "SELECT identifier FROM schema_migrations", logger: logger
            ).decode(String.self) {
                applied.insert(identifier)
            }
            let unknown = applied.subtracting(identifiers)
            guard unknown.isEmpty else {
                throw StoreError.corrupt(
                    "the database schema is newer than this portcullis (unknown migrations: "
                        + "\(unknown.sorted().joined(separator: ", "))); upgrade portcullis")
            }
            var done: [String] = []
            for migration in migrations where !applied.contains(migration.identifier) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (identifier) VALUES (\(migration.identifier))", logger: logger)
                done.append(migration.identifier)
            }
            try await connection.query("COMMIT", logger: logger)
            return done
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }
}
