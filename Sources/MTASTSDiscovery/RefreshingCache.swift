import MTASTSCore
import Synchronization

/// An entry a background refresh may be running for. The flag is the entry's own (a `Bool` in its padding), so the
/// per-domain records keep their layout (docs/architecture.md, item 6).
protocol RefreshMarked {
    var refreshing: Bool { get set }
}

/// A cache's own rules on top of ``RefreshingCache``: how one domain is loaded and what that does to memory
/// (``PolicyCache``: RFC 8461 discovery; ``DANEStatusCache``: the DANE lookup).
protocol RefreshingCacheRules: Sendable {
    associatedtype Entry: RefreshMarked & Sendable
    associatedtype Value: Sendable
    /// The cache's state beyond its entries, kept under the same lock.
    associatedtype Extra: Sendable
    /// Loads `domain` and puts the outcome in `cache`. `force`: a refresh that memory must not satisfy (a proactive
    /// policy refresh, RFC 8461 §10.2); background refreshes and lookups pass false.
    func load(_ domain: DomainName, force: Bool, in cache: RefreshingCache<Self>) async -> Value
    /// A background refresh of `domain` (started by ``RefreshingCache/look(_:_:)``) ended.
    func refreshed(_ domain: DomainName)
}

extension RefreshingCacheRules {
    func refreshed(_ domain: DomainName) {}
}

/// What a failed save means for the next ones.
enum StoreOutagePolicy: Sendable {
    /// The store is taken as down: later commits only mark their domains unsaved (no lookup waits for a store that
    /// is not there) until ``RefreshingCache/writeBack(row:save:)`` and ``RefreshingCache/storeAnswered()`` end it.
    /// For what a restart must not lose (policies).
    case degrade
    /// Every save is tried and a failure only reported: for values DNS rebuilds within their short lifetime (DANE
    /// statuses, whose saves nothing waits for).
    case reportEach
}

/// A value per domain kept in memory behind one lock, with what both caches need around it:
/// - the hot path (``look(_:_:)``) reads an entry in place under the lock: no copy, no allocation and, the class
///   being generic over the rules rather than holding them as an existential, no dynamic dispatch per hit;
/// - coalesced loads: concurrent misses of one domain wait for one load (``task(for:force:limit:)``), optionally
///   capped in number;
/// - bounded background refresh: a hit on an entry its rules call due starts a refresh, at most `refreshLimit` at
///   once; a due entry that finds them all busy is refreshed by a later hit;
/// - write-through to a store (``commit(_:row:save:put:)``) with the outage bookkeeping of ``StoreOutagePolicy``.
final class RefreshingCache<Rules: RefreshingCacheRules>: Sendable {
    typealias Entries = [DomainName: Rules.Entry]

    struct State: Sendable {
        var entries: Entries = [:]
        var extra: Rules.Extra
        /// The loads running, one per domain.
        fileprivate(set) var inflight: [DomainName: Task<Rules.Value, Never>] = [:]
        /// Background refreshes running.
        fileprivate(set) var refreshes = 0
        /// The last store operation failed (``StoreOutagePolicy/degrade`` only).
        fileprivate(set) var storeDown = false
        /// Domains whose entry in memory the store may not have (a save failed or was skipped).
        var unsaved: Set<DomainName> = []
    }

    let rules: Rules
    let refreshLimit: Int
    let outage: StoreOutagePolicy
    private let state: Mutex<State>

    init(rules: Rules, extra: Rules.Extra, refreshLimit: Int, outage: StoreOutagePolicy) {
        self.rules = rules
        self.refreshLimit = refreshLimit
        self.outage = outage
        state = Mutex(State(extra: extra))
    }

    func withLock<R: Sendable>(_ body: (inout State) -> R) -> R {
        state.withLock { body(&$0) }
    }

    // MARK: Lookups

    /// The hot path. `read` answers from `domain`'s entry (at the index) in place under the lock, and says whether
    /// it is due for a refresh; nil: memory cannot answer. A due entry with no load in flight is refreshed in the
    /// background when fewer than `refreshLimit` refreshes run.
    @inline(__always)
    func look<R: Sendable>(_ domain: DomainName, _ read: (inout State, Entries.Index) -> (answer: R, due: Bool)?) -> R? {
        var refresh = false
        let result: R? = state.withLock { s in
            guard let index = s.entries.index(forKey: domain), let found = read(&s, index) else { return nil }
            if found.due, !s.entries.values[index].refreshing, s.inflight[domain] == nil, s.refreshes < refreshLimit {
                s.entries.values[index].refreshing = true
                s.refreshes += 1
                refresh = true
            }
            return found.answer
        }
        if refresh { refreshInBackground(domain) }
        return result
    }

    private func refreshInBackground(_ domain: DomainName) {
        let running = task(for: domain)!
        Task { [self] in
            _ = await running.value
            state.withLock { s in
                s.entries[domain]?.refreshing = false
                s.refreshes -= 1
            }
            rules.refreshed(domain)
        }
    }

    /// The load of `domain` in flight, or a new one; nil when a new one would make more than `limit` in flight.
    func task(for domain: DomainName, force: Bool = false, limit: Int = .max) -> Task<Rules.Value, Never>? {
        state.withLock { s in
            if let running = s.inflight[domain] { return running }
            guard s.inflight.count < limit else { return nil }
            let task = Task { [self] in
                let value = await rules.load(domain, force: force, in: self)
                state.withLock { _ = $0.inflight.removeValue(forKey: domain) }
                return value
            }
            s.inflight[domain] = task
            return task
        }
    }

    /// Loads `domain` now, or waits for the load in flight.
    func load(_ domain: DomainName, force: Bool) async -> Rules.Value {
        await task(for: domain, force: force)!.value
    }

    // MARK: Write-through

    /// Whether the last store operation succeeded.
    var storeAvailable: Bool { state.withLock { !$0.storeDown } }

    /// Puts a domain's new entry in memory (`put`, under the lock) and writes `row` through with `save`. While the
    /// store is down (``StoreOutagePolicy/degrade``), only marks the domain unsaved, in the same lock as the put, so a
    /// concurrent ``writeBack(row:save:)`` and load never take the entry for purged. Returns the save's error (the
    /// entry stays in memory).
    func commit<Row: Sendable>(_ domain: DomainName, row: Row, save: (Row) async throws -> Void,
                               put: (inout State) -> Void) async -> (any Error)? {
        let down = state.withLock { s in
            put(&s)
            if s.storeDown { s.unsaved.insert(domain) }
            return s.storeDown
        }
        return down ? nil : await write(domain, row, save)
    }

    /// ``commit(_:row:save:put:)`` for an entry already in memory.
    func writeThrough<Row: Sendable>(_ domain: DomainName, row: Row, save: (Row) async throws -> Void) async -> (any Error)? {
        let down = state.withLock { s in
            if s.storeDown { s.unsaved.insert(domain) }
            return s.storeDown
        }
        return down ? nil : await write(domain, row, save)
    }

    private func write<Row: Sendable>(_ domain: DomainName, _ row: Row, _ save: (Row) async throws -> Void) async -> (any Error)? {
        do {
            try await save(row)
            return nil
        } catch {
            if outage == .degrade { storeFailed(unsaved: domain) }
            return error
        }
    }

    /// A store operation failed: with ``StoreOutagePolicy/degrade``, later commits stay in memory (marked unsaved).
    func storeFailed(unsaved domain: DomainName? = nil) {
        state.withLock { s in
            s.storeDown = true
            if let domain { s.unsaved.insert(domain) }
        }
    }

    /// A sync with the store succeeded: commits write through again.
    func storeAnswered() { state.withLock { $0.storeDown = false } }

    /// Writes the unsaved entries back, before anything is loaded from the store (so the load neither takes them
    /// for purged nor replaces them with older rows). `row`: the domain's entry as the store keeps it (nil: memory no
    /// longer has one). Throws the first failed save; what was written is no longer unsaved.
    func writeBack<Row: Sendable>(row: (State, DomainName) -> Row?, save: (Row) async throws -> Void) async throws {
        let unsaved = state.withLock { s in s.unsaved.map { ($0, row(s, $0)) } }
        for (domain, row) in unsaved {
            if let row { try await save(row) }
            state.withLock { _ = $0.unsaved.remove(domain) }
        }
    }
}

extension Task where Failure == Never {
    /// The task's value, or nil when `deadline` passes first; the task itself goes on (its result serves the next
    /// lookup). A race resumed exactly once: a task group would wait for both children, and awaiting a Task's
    /// value ignores cancellation, so the deadline would never cut the wait short.
    func value(within deadline: Duration) async -> Success? {
        await withCheckedContinuation { continuation in
            let once = ResumeOnce<Success?>(continuation)
            let timer = Task<Void, Never> {
                try? await Task<Never, Never>.sleep(for: deadline)
                once.resume(returning: nil)
            }
            Task<Void, Never> {
                let value = await self.value
                // Resumed before the timer is cancelled: a cancelled timer wakes at once and would otherwise win the
                // race with a nil (a first lookup answered as if its deadline had passed, seen under load).
                once.resume(returning: value)
                timer.cancel()
            }
        }
    }
}

/// A continuation that the first of several racers resumes; the others find it gone.
final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>
    init(_ continuation: CheckedContinuation<T, Never>) { self.continuation = Mutex(continuation) }
    func resume(returning value: T) { continuation.withLock { $0.take() }?.resume(returning: value) }
}
