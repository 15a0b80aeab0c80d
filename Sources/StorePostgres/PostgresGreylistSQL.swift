/// The SQL of the PostgreSQL greylist store, one constant per operation, with positional
/// parameters bound by postgres-nio (never interpolated into the text).
///
/// In an upsert's `DO UPDATE SET`, every expression reads the row as it was before the update (as
/// in any UPDATE), so each CASE below sees the old `first_seen`, `attempts` and `passed_at`.
enum PostgresGreylistSQL {
    /// ``PolicyCore/GreylistRecord/afterAttempt(_:triplet:at:timing:)`` as one statement.
    /// $1 network, $2 sender, $3 recipient, $4 now, $5 delay, $6 retryWindow, $7 lifetime.
    /// The round has expired when, not passed, it was not retried within `retryWindow` of its
    /// first attempt, or, passed, it has been unseen for longer than `lifetime`.
    static let recordAttempt = """
        INSERT INTO greylist_triplets AS t (network, sender, recipient, first_seen, last_seen, attempts, passed_at)
        VALUES ($1, $2, $3, $4, $4, 1, NULL)
        ON CONFLICT (network, sender, recipient) DO UPDATE SET
            first_seen = CASE WHEN \(expired) THEN $4 ELSE t.first_seen END,
            last_seen = $4,
            attempts = CASE WHEN \(expired) THEN 1 ELSE t.attempts + 1 END,
            passed_at = CASE
                WHEN \(expired) THEN NULL
                WHEN t.passed_at IS NOT NULL THEN t.passed_at
                WHEN $4 - t.first_seen >= $5 THEN $4
                ELSE NULL
            END
        RETURNING first_seen, last_seen, attempts, passed_at
        """

    private static let expired = """
        (CASE WHEN t.passed_at IS NULL THEN $4 - t.first_seen > $6 ELSE $4 - t.last_seen > $7 END)
        """

    /// ``PolicyCore/GreylistNetworkRecord/afterPass(_:network:at:countInterval:lifetime:)`` as one
    /// statement. $1 network, $2 now, $3 countInterval, $4 lifetime: a network unseen for longer
    /// than `lifetime` starts again from one pass; otherwise a pass counts when `countInterval`
    /// has gone by since the last counted one.
    static let recordPass = """
        INSERT INTO greylist_networks AS n (network, passes, last_counted, last_seen)
        VALUES ($1, 1, $2, $2)
        ON CONFLICT (network) DO UPDATE SET
            passes = CASE
                WHEN $2 - n.last_seen > $4 THEN 1
                WHEN $2 - n.last_counted >= $3 THEN n.passes + 1
                ELSE n.passes
            END,
            last_counted = CASE
                WHEN $2 - n.last_seen > $4 OR $2 - n.last_counted >= $3 THEN $2
                ELSE n.last_counted
            END,
            last_seen = $2
        RETURNING passes, last_counted, last_seen
        """

    /// $1 network.
    static let network = "SELECT passes, last_counted, last_seen FROM greylist_networks WHERE network = $1"

    static let allowEntries = #"SELECT entry FROM greylist_allow ORDER BY entry COLLATE "C""#
    /// $1 entry, $2 now. Adding an entry again refreshes its time, as the in-memory reference store does.
    static let addAllowEntry = """
        INSERT INTO greylist_allow (entry, created) VALUES ($1, $2)
        ON CONFLICT (entry) DO UPDATE SET created = EXCLUDED.created
        """
    /// $1 entry.
    static let removeAllowEntry = "DELETE FROM greylist_allow WHERE entry = $1 RETURNING entry"

    /// $1 network, $2 sender, $3 recipient; a NULL part matches everything.
    private static let filter = """
        ($1::text IS NULL OR network = $1) AND ($2::text IS NULL OR sender = $2) \
        AND ($3::text IS NULL OR recipient = $3)
        """
    /// Filter $1–$3, $4 limit.
    static let list = """
        SELECT network, sender, recipient, first_seen, last_seen, attempts, passed_at FROM greylist_triplets
        WHERE \(filter)
        ORDER BY first_seen, network COLLATE "C", sender COLLATE "C", recipient COLLATE "C"
        LIMIT $4
        """
    /// Filter $1–$3; one row, the count deleted.
    static let delete = """
        WITH gone AS (DELETE FROM greylist_triplets WHERE \(filter) RETURNING 1)
        SELECT count(*) FROM gone
        """

    /// $1 the auto-allowlist threshold. One snapshot, one round trip.
    static let stats = """
        SELECT
            (SELECT count(*) FROM greylist_triplets),
            (SELECT count(passed_at) FROM greylist_triplets),
            (SELECT count(*) FROM greylist_networks WHERE passes >= $1),
            (SELECT count(*) FROM greylist_allow),
            (SELECT min(first_seen) FROM greylist_triplets)
        """

    /// $1 now, $2 retryWindow, $3 lifetime, $4 olderThan (NULL: no such term). The expiry test of
    /// `recordAttempt`, written so that the indexes serve it (`now - first_seen > retryWindow` is
    /// `first_seen < now - retryWindow` for integers). Both tables in one statement, one count.
    static let purge = """
        WITH triplets AS (
            DELETE FROM greylist_triplets
            WHERE (passed_at IS NULL AND first_seen < $1 - $2)
                OR (passed_at IS NOT NULL AND last_seen < $1 - $3)
                OR last_seen < $4::bigint
            RETURNING 1
        ), networks AS (
            DELETE FROM greylist_networks WHERE last_seen < $1 - $3 OR last_seen < $4::bigint
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM triplets) + (SELECT count(*) FROM networks)
        """
}
