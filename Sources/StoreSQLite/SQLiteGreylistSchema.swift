import GRDB

/// The greylist schema, as forward-only named migrations. StorePostgres keeps a
/// `schema_migrations` table with the same identifiers (a test compares the two lists).
enum SQLiteGreylistSchema {
    /// Every migration this code knows, oldest first.
    static let identifiers = ["v1-greylist"]

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-greylist") { db in
            // WITHOUT ROWID: the rows are small and always found by their key, so the key is the table.
            // STRICT: a value of the wrong type is an error, not silently stored (SQLite >= 3.37).
            try db.execute(
                sql: """
                    CREATE TABLE greylist_triplets (
                        network    TEXT    NOT NULL,
                        sender     TEXT    NOT NULL,
                        recipient  TEXT    NOT NULL,
                        first_seen INTEGER NOT NULL,
                        last_seen  INTEGER NOT NULL,
                        attempts   INTEGER NOT NULL,
                        passed_at  INTEGER,
                        PRIMARY KEY (network, sender, recipient)
                    ) WITHOUT ROWID, STRICT;
                    -- purge: passed triplets and --older-than go by last_seen, open rounds by first_seen.
                    CREATE INDEX greylist_triplets_last_seen ON greylist_triplets (last_seen);
                    CREATE INDEX greylist_triplets_open_first_seen ON greylist_triplets (first_seen)
                        WHERE passed_at IS NULL;
                    CREATE TABLE greylist_networks (
                        network      TEXT    NOT NULL PRIMARY KEY,
                        passes       INTEGER NOT NULL,
                        last_counted INTEGER NOT NULL,
                        last_seen    INTEGER NOT NULL
                    ) WITHOUT ROWID, STRICT;
                    CREATE INDEX greylist_networks_last_seen ON greylist_networks (last_seen);
                    CREATE TABLE greylist_allow (
                        entry   TEXT    NOT NULL PRIMARY KEY,
                        created INTEGER NOT NULL
                    ) WITHOUT ROWID, STRICT;
                    """)
        }
        return migrator
    }
}
