/// The SQL of the SQLite greylist store, one constant per operation, all with named parameters.
///
/// In an upsert's `DO UPDATE SET`, every expression reads the row as it was before the update (as
/// in any UPDATE), so each CASE below sees the old `first_seen`, `attempts` and `passed_at`.
enum SQLiteGreylistSQL {
    /// ``PolicyCore/GreylistRecord/afterAttempt(_:triplet:at:timing:)`` as one statement.
    /// The round has expired when, not passed, it was not retried within `retryWindow` of its
    /// first attempt, or, passed, it has been unseen for longer than `lifetime`.
    static let recordAttempt = """
        INSERT INTO greylist_triplets (network, sender, recipient, first_seen, last_seen, attempts, passed_at)
        VALUES (:network, :sender, :recipient, :now, :now, 1, NULL)
        ON CONFLICT (network, sender, recipient) DO UPDATE SET
            first_seen = CASE WHEN \(expired) THEN :now ELSE first_seen END,
            last_seen = :now,
            attempts = CASE WHEN \(expired) THEN 1 ELSE attempts + 1 END,
            passed_at = CASE
                WHEN \(expired) THEN NULL
                WHEN passed_at IS NOT NULL THEN passed_at
                WHEN :now - first_seen >= :delay THEN :now
                ELSE NULL
            END
        RETURNING first_seen, last_seen, attempts, passed_at
        """

    private static let expired = """
        (CASE WHEN passed_at IS NULL THEN :now - first_seen > :retryWindow \
        ELSE :now - last_seen > :lifetime END)
        """

    /// ``PolicyCore/GreylistNetworkRecord/afterPass(_:network:at:countInterval:lifetime:)`` as one
    /// statement: a network unseen for longer than `lifetime` starts again from one pass; otherwise
    /// a pass counts when `countInterval` has gone by since the last counted one.
    static let recordPass = """
        INSERT INTO greylist_networks (network, passes, last_counted, last_seen)
        VALUES (:network, 1, :now, :now)
        ON CONFLICT (network) DO UPDATE SET
            passes = CASE
                WHEN :now - last_seen > :lifetime THEN 1
                WHEN :now - last_counted >= :countInterval THEN passes + 1
                ELSE passes
            END,
            last_counted = CASE
                WHEN :now - last_seen > :lifetime OR :now - last_counted >= :countInterval THEN :now
                ELSE last_counted
            END,
            last_seen = :now
        RETURNING passes, last_counted, last_seen
        """

    static let network = "SELECT passes, last_counted, last_seen FROM greylist_networks WHERE network = :network"

    static let allowEntries = "SELECT entry FROM greylist_allow ORDER BY entry"
    /// Adding an entry again refreshes its time, as the in-memory reference store does.
    static let addAllowEntry = """
        INSERT INTO greylist_allow (entry, created) VALUES (:entry, :now)
        ON CONFLICT (entry) DO UPDATE SET created = excluded.created
        """
    static let removeAllowEntry = "DELETE FROM greylist_allow WHERE entry = :entry"

    /// Nil filter parts match everything.
    private static let filter = """
        (:network IS NULL OR network = :network) AND (:sender IS NULL OR sender = :sender) \
        AND (:recipient IS NULL OR recipient = :recipient)
        """
    static let list = """
        SELECT network, sender, recipient, first_seen, last_seen, attempts, passed_at FROM greylist_triplets
        WHERE \(filter)
        ORDER BY first_seen, network, sender, recipient
        LIMIT :limit
        """
    static let delete = "DELETE FROM greylist_triplets WHERE \(filter)"

    static let tripletStats = "SELECT count(*), count(passed_at), min(first_seen) FROM greylist_triplets"
    static let autoAllowlistedNetworks = "SELECT count(*) FROM greylist_networks WHERE passes >= :threshold"
    static let manualAllowEntries = "SELECT count(*) FROM greylist_allow"

    /// Purge, three deletes in one transaction, each served by an index (one OR of all of them
    /// made SQLite scan the table, holding the write lock the whole time). The expiry test is
    /// `recordAttempt`'s: `:now - first_seen > :retryWindow` is `first_seen < :now - :retryWindow`
    /// for integers. A NULL `:olderThan` compares to nothing, so that term then deletes nothing.
    static let purgeOpenRounds = """
        DELETE FROM greylist_triplets
        WHERE (passed_at IS NULL AND first_seen < :now - :retryWindow) OR last_seen < :olderThan
        """
    static let purgePassedTriplets = """
        DELETE FROM greylist_triplets WHERE passed_at IS NOT NULL AND last_seen < :now - :lifetime
        """
    static let purgeNetworks = """
        DELETE FROM greylist_networks WHERE last_seen < :now - :lifetime OR last_seen < :olderThan
        """
    static let purge = [purgeOpenRounds, purgePassedTriplets, purgeNetworks]
}
