/// The deadlines of the queries in flight, oldest first. Every query of a resolver gets the same
/// timeout and deadlines are taken under one lock from a monotonic clock, so they arrive in
/// order and a FIFO is enough (no heap). Entries of queries that have already finished stay
/// until they reach the front, where `dropFront(while:)` skips them.
struct DeadlineQueue {
    private var items: [(deadline: ContinuousClock.Instant, token: UInt64)] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }

    var first: (deadline: ContinuousClock.Instant, token: UInt64)? { isEmpty ? nil : items[head] }

    mutating func append(_ deadline: ContinuousClock.Instant, _ token: UInt64) {
        items.append((deadline, token))
    }

    mutating func removeFirst() {
        precondition(!isEmpty, "removeFirst on an empty DeadlineQueue")
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
    }

    /// Drops front entries while `predicate` holds.
    mutating func dropFront(while predicate: (ContinuousClock.Instant, UInt64) -> Bool) {
        while let front = first, predicate(front.deadline, front.token) { removeFirst() }
    }

    mutating func removeAll() {
        items.removeAll()
        head = 0
    }
}
