import Synchronization

/// While no connection can be had, callers fail at once instead of each waiting the whole
/// operation timeout (a milter would otherwise stall every transaction while the database is
/// down); one caller per `probeInterval` still goes through and waits as usual, so the store
/// notices the server's return (the pool only connects when asked).
final class ConnectionBreaker: Sendable {
    enum Admission: Equatable {
        case proceed(probe: Bool)
        /// Why, and for how long the database has been unreachable.
        case refuse(String, Duration)
    }

    private struct State {
        var down: (since: ContinuousClock.Instant, why: String)?
        var probing = false
        var lastProbe: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    let probeInterval: Duration

    init(probeInterval: Duration) {
        self.probeInterval = probeInterval
    }

    func admit(now: ContinuousClock.Instant = .now) -> Admission {
        state.withLock { s in
            guard let down = s.down else { return .proceed(probe: false) }
            if s.probing || s.lastProbe.map({ now - $0 < probeInterval }) == true {
                return .refuse(down.why, now - down.since)
            }
            s.probing = true
            s.lastProbe = now
            return .proceed(probe: true)
        }
    }

    /// A connection was leased: the database is reachable.
    func connected() {
        state.withLock { $0.down = nil }
    }

    /// No connection could be had within the operation timeout, or connecting failed.
    func failedToConnect(_ why: String, now: ContinuousClock.Instant = .now) {
        state.withLock { s in
            if s.down == nil { s.down = (now, why) } else { s.down!.why = why }
            if s.lastProbe == nil { s.lastProbe = now }
        }
    }

    func probeEnded() {
        state.withLock { $0.probing = false }
    }
}
