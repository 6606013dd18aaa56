import MTASTSCore
import Synchronization

/// The sender's policy cache and its refresh rules (RFC 8461 §3.3, §5.1, §10.2), with injected discovery,
/// store and clock.
///
/// - A lookup with a valid entry answers at once from memory (``cached(_:)``, no I/O, no suspension) and,
///   when the TXT id was last confirmed longer ago than `revalidateAfter`, revalidates in the background:
///   the mail never waits for revalidation.
/// - A changed id means a fetch; a new valid policy replaces the old one even if weaker; an invalid or
///   failed fetch never replaces a valid cached policy; a vanished TXT record does not remove it.
/// - After a failed fetch, the same (domain, id) is not fetched again for 5 minutes (§3.3).
/// - Domains without MTA-STS are remembered (negative cache) for the TXT answer's TTL, capped.
/// - Concurrent misses of one domain make one discovery (coalescing); the first lookup of an unknown
///   domain waits at most `firstLookupDeadline`, then answers "no policy" while the work goes on.
/// - ``maintain()`` refreshes recently used policies before they expire (fetching the live policy
///   whatever the TXT says, §10.2), evicts entries unused for `evictAfter`, writes usage times, and
///   picks up changes other processes made to the store.
public final class PolicyCache: Sendable {
    public struct Settings: Sendable {
        /// Re-check the TXT id in the background when it was confirmed longer ago than this (seconds; pmsr's
        /// `cache_grace`).
        public var revalidateAfter: Double = 60
        /// How long the first lookup of an unknown domain may wait for discovery.
        public var firstLookupDeadline: Duration = .seconds(10)
        /// Upper bound on how long "no MTA-STS" is remembered (the TXT TTL is used when shorter).
        public var negativeCacheMax: Double = 3600
        /// How long a DNS or fetch failure with no valid cached policy is remembered (mail is not slowed by
        /// every message re-trying a dead server).
        public var failureRetry: Double = 60
        /// No new fetch of a (domain, id) whose fetch failed, for this long (RFC 8461 §3.3: 5 minutes).
        public var fetchBackoff: Double = Double(STSLimits.fetchRetryBackoffSeconds)
        /// Refresh a used policy when it was fetched longer ago than this (daily, §10.2).
        public var refreshInterval: Double = 86_400
        /// Only policies used within this window are refreshed proactively.
        public var refreshWindow: Double = 30 * 86_400
        /// Entries unused for this long are removed.
        public var evictAfter: Double = 180 * 86_400
        /// Proactive refreshes running at once.
        public var refreshConcurrency = 8
        /// Background revalidations (TXT id checks started by lookups) running at once. A due one that finds them all
        /// busy is started by a later lookup: after a restart on a large cache, the first pass of lookups does not
        /// become as many concurrent DNS queries (each holds resolver state until answered).
        public var revalidationConcurrency = 64
        /// Discoveries (of any kind) in flight at once, beyond which a lookup of a domain memory knows nothing about
        /// answers "no policy" at once (``Event/discoveryCapped(_:)``). Each holds a task and, while its policy host
        /// is fetched, a socket: a flood of random subdomains whose policy hosts accept and never answer must not run
        /// the daemon out of descriptors (then Postfix, which fails closed on the map, defers all mail).
        public var maxDiscoveries = 256

        public init() {}
    }

    /// What the cache says about a domain.
    public enum Decision: Sendable, Equatable {
        /// Apply this policy (it may be of any mode; the caller maps modes to replies).
        case policy(CachedPolicy)
        /// No policy applies: no MTA-STS, or nothing valid could be had.
        case none
    }

    /// What happened in the cache, for logs and metrics.
    public enum Event: Sendable {
        case fetched(DomainName, id: String, mode: STSPolicy.Mode)
        case fetchFailed(DomainName, id: String, outcome: DiscoveryOutcome, reason: String)
        /// A refresh failed for a policy that is not mode `none`: alert the administrator (§3.3, §10.2).
        case refreshFailed(DomainName, reason: String, expired: Bool)
        case noPolicy(DomainName, outcome: DiscoveryOutcome, reason: String)
        /// A background revalidation (TXT id check started by a lookup) ended.
        case revalidated(DomainName)
        /// A first lookup found `maxDiscoveries` discoveries in flight and answered "no policy" without one.
        case discoveryCapped(DomainName)
        case storeError(String)
    }

    /// What a hit looks like without copying the policy (the responder's hot path): which version of the
    /// domain's policy is cached, and its mode.
    public enum Glance: Sendable, Equatable {
        /// A valid policy; `generation` changes whenever the cached policy does (fetch, load, store change).
        case policy(generation: UInt64, mode: STSPolicy.Mode, hasMX: Bool)
        case none
    }

    /// A policy body as fetched and its parse, shared by every domain that serves the same bytes.
    private final class SharedPolicy: Sendable {
        let policy: STSPolicy
        let body: [UInt8]
        init(policy: STSPolicy, body: [UInt8]) {
            self.policy = policy
            self.body = body
        }
    }

    /// A cached policy as memory keeps it, per domain and compact: the shared body and this domain's id and times.
    /// The domain is the table's key, and a failed fetch is kept aside (``State/failures``): together they make the
    /// ``CachedPolicy`` again.
    private struct Stored {
        let shared: SharedPolicy
        let id: String
        let fetchedAt: Double
        let expiresAt: Double
        var lastChecked: Double
        var lastUsed: Double
    }

    private struct Entry {
        /// Set only through `State.put`, which gives it a new generation.
        private(set) var stored: Stored?
        private(set) var generation: UInt64 = 0
        /// "No policy" is the answer until then.
        var negativeUntil: Double?
        var revalidating = false
        var usageDirty = false

        enum Use { case policy(revalidate: Bool), none, unknown }

        /// A lookup at `now`, in place (no copy of the policy): a valid policy is marked used.
        mutating func use(at now: Double, revalidateAfter: Double) -> Use {
            if let expiresAt = stored?.expiresAt, now < expiresAt {
                stored!.lastUsed = now
                usageDirty = true
                return .policy(revalidate: !revalidating && now - stored!.lastChecked >= revalidateAfter)
            }
            if let until = negativeUntil, now < until { return .none }
            return .unknown
        }

        mutating func put(_ policy: Stored?, generation: UInt64) {
            stored = policy
            self.generation = generation
        }

        mutating func setLastChecked(_ time: Double) { stored?.lastChecked = time }
    }

    /// The last failed fetch of a domain: no new fetch of that id for 5 minutes (§3.3).
    private struct Failure {
        let id: String
        let at: Double
    }

    private struct State {
        var entries: [DomainName: Entry] = [:]
        /// Failed fetches, by domain (few: a successful fetch, a purge, or the maintenance pass after the backoff
        /// removes them).
        var failures: [DomainName: Failure] = [:]
        var inflight: [DomainName: Task<Decision, Never>] = [:]
        /// Background revalidations running.
        var revalidations = 0
        /// The store's change counter when memory last matched it; nil before the first successful load.
        var storeCounter: Int?
        /// The last store operation failed: until a sync succeeds, commits keep their entries in memory only (marked
        /// ``unsaved``) instead of waiting for a store that is not there.
        var storeDown = false
        /// Domains whose entry in memory the store may not have (a save failed or was skipped): written back by the
        /// next successful sync.
        var unsaved: Set<DomainName> = []
        private var generations: UInt64 = 0
        /// One copy of each distinct policy body in memory: domains of one provider share its policy.
        private var interned: [[UInt8]: SharedPolicy] = [:]

        /// Caches `policy` (or forgets it, with its failed fetch: a purge starts afresh) for `domain` under a new
        /// generation; its failed fetch, if any, is kept aside.
        mutating func put(_ policy: CachedPolicy?, for domain: DomainName) {
            generations += 1
            var stored: Stored?
            failures[domain] = nil
            if let policy {
                stored = Stored(shared: intern(policy), id: policy.id, fetchedAt: policy.fetchedAt, expiresAt: policy.expiresAt,
                                lastChecked: policy.lastChecked, lastUsed: policy.lastUsed)
                if let id = policy.failedID, let at = policy.failedAt { failures[domain] = Failure(id: id, at: at) }
            }
            entries[domain, default: Entry()].put(stored, generation: generations)
        }

        /// The cached policy of `domain` as a ``CachedPolicy`` (nil: none).
        func policy(_ domain: DomainName) -> CachedPolicy? {
            entries[domain]?.stored.map { policy($0, domain) }
        }

        func policy(_ stored: Stored, _ domain: DomainName) -> CachedPolicy {
            var policy = CachedPolicy(domain: domain, id: stored.id, policy: stored.shared.policy, body: stored.shared.body,
                                      fetchedAt: stored.fetchedAt, lastUsed: stored.lastUsed)
            policy.expiresAt = stored.expiresAt
            policy.lastChecked = stored.lastChecked
            if let failure = failures[domain] {
                policy.failedID = failure.id
                policy.failedAt = failure.at
            }
            return policy
        }

        /// The shared body and parse of `policy`'s bytes.
        private mutating func intern(_ policy: CachedPolicy) -> SharedPolicy {
            if let known = interned[policy.body], known.policy == policy.policy { return known }
            let shared = SharedPolicy(policy: policy.policy, body: policy.body)
            interned[policy.body] = shared
            return shared
        }

        /// Drops interned policies no domain uses any more (`used`: those in use, gathered outside the lock; one
        /// interned since then may be dropped too, which only means its next user keeps its own copy).
        mutating func pruneInterned(keeping used: Set<ObjectIdentifier>) {
            interned = interned.filter { used.contains(ObjectIdentifier($0.value)) }
        }
    }

    public let settings: Settings
    private let discovery: PolicyDiscovery
    private let store: (any PolicyStore)?
    private let clock: any WallClock
    private let onEvent: @Sendable (Event) -> Void
    private let state = Mutex(State())

    public init(discovery: PolicyDiscovery, store: (any PolicyStore)?, clock: any WallClock, settings: Settings = .init(),
                onEvent: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.discovery = discovery
        self.store = store
        self.clock = clock
        self.settings = settings
        self.onEvent = onEvent
    }

    /// Loads every stored entry into memory; call before serving. When it throws (the store is unreachable), the
    /// cache works from memory and discovery, and ``syncStore()`` (which ``maintain()`` runs too) loads the store
    /// and writes back what memory learnt meanwhile once it is reachable.
    public func load() async throws {
        guard store != nil else { return }
        do { try await sync(full: true) } catch {
            state.withLock { $0.storeDown = true }
            throw error
        }
    }

    /// Whether the last store operation succeeded (true without a store).
    public var storeAvailable: Bool { state.withLock { !$0.storeDown } }

    /// Brings memory and the store together: writes back the entries the store missed while it was unreachable,
    /// writes usage times, and loads the store when it changed (or was never loaded). Returns whether the store
    /// answered; a failure is also reported as ``Event/storeError(_:)``.
    @discardableResult
    public func syncStore() async -> Bool {
        guard store != nil else { return true }
        do {
            try await sync(full: false)
            return true
        } catch {
            state.withLock { $0.storeDown = true }
            onEvent(.storeError("syncing with the store: \(error)"))
            return false
        }
    }

    private func sync(full: Bool) async throws {
        guard let store else { return }
        // Entries memory learnt while the store was unreachable: the store gets them before anything is loaded from
        // it, so the load below neither takes them for purged nor replaces them with older rows.
        let unsaved = state.withLock { s in s.unsaved.map { ($0, s.policy($0)) } }
        for (domain, entry) in unsaved {
            if let entry { try await store.save(entry) }
            state.withLock { _ = $0.unsaved.remove(domain) }
        }
        let dirty = state.withLock { s -> [(domain: DomainName, lastUsed: Double)] in
            var out: [(domain: DomainName, lastUsed: Double)] = []
            for (domain, entry) in s.entries where entry.usageDirty {
                if let stored = entry.stored { out.append((domain, stored.lastUsed)) }
                s.entries[domain]?.usageDirty = false
            }
            return out
        }
        if !dirty.isEmpty { try await store.saveUsage(dirty) }
        let counter = try await store.externalChangeCounter()
        let known = state.withLock { $0.storeCounter }
        if full || known == nil || counter != known {
            let stored = try await loadStore(store)
            state.withLock { s in
                s.storeCounter = counter
                // Purged by `mta-sts cache purge` (an entry committed since the write-back above is not).
                for (domain, entry) in s.entries where entry.stored != nil && !stored.contains(domain) && !s.unsaved.contains(domain) {
                    s.put(nil, for: domain)
                }
            }
        }
        state.withLock { $0.storeDown = false }
    }

    /// Puts every stored entry in memory, a batch at a time (the decoded rows of a large store never all exist at
    /// once), unless memory has a newer fetch of that domain; returns the domains the store has.
    private func loadStore(_ store: any PolicyStore) async throws -> Set<DomainName> {
        let seen = Mutex<Set<DomainName>>([])
        try await store.loadAll(batchSize: storeLoadBatchSize) { [self] batch in
            state.withLock { s in
                for entry in batch {
                    if let mine = s.entries[entry.domain]?.stored, mine.fetchedAt > entry.fetchedAt { continue }
                    s.put(entry, for: entry.domain)
                }
            }
            seen.withLock { for entry in batch { $0.insert(entry.domain) } }
        }
        return seen.withLock { $0 }
    }

    /// The name as the cache keeps it, when it has an entry for the domain: a caller that keeps a name per domain
    /// keeps this one, so memory holds one copy of each name (nil: no entry).
    public func canonicalName(_ domain: DomainName) -> DomainName? {
        state.withLock { s in s.entries.index(forKey: domain).map { s.entries.keys[$0] } }
    }

    /// The number of domains with a cached policy.
    public var count: Int { state.withLock { $0.entries.values.count { $0.stored != nil } } }

    /// Every cached policy (for `mta-sts cache list` and tests).
    public var entries: [CachedPolicy] {
        state.withLock { s in s.entries.compactMap { domain, entry in entry.stored.map { s.policy($0, domain) } } }
    }

    // MARK: Lookups

    /// The hot path: the answer when memory already has it, else nil (then call ``resolve(_:)``).
    /// No I/O and no suspension; a due revalidation is started in the background.
    public func cached(_ domain: DomainName) -> Decision? {
        look(domain, policy: { s, index in .policy(s.policy(s.entries.values[index].stored!, domain)) }, none: Decision.none)
    }

    /// ``cached(_:)`` without copying the policy: for a caller that keeps what it rendered from a policy and
    /// needs the policy itself only when the generation changed.
    public func glance(_ domain: DomainName) -> Glance? {
        look(domain, policy: { s, index in
            // Read in place: no copy of the entry (and no reference counting) on the hot path.
            .policy(generation: s.entries.values[index].generation, mode: s.entries.values[index].stored!.shared.policy.mode,
                    hasMX: !s.entries.values[index].stored!.shared.policy.mx.isEmpty)
        }, none: Glance.none)
    }

    /// ``cached(_:)`` with the generation of the policy returned, read together (nil generation: no policy).
    public func current(_ domain: DomainName) -> (Decision, UInt64?)? {
        look(domain, policy: { s, index in
            (Decision.policy(s.policy(s.entries.values[index].stored!, domain)), Optional(s.entries.values[index].generation))
        }, none: (Decision.none, nil))
    }

    /// `policy` reads the entry at the index (valid, just marked used) in place.
    private func look<R: Sendable>(_ domain: DomainName, policy: (State, Dictionary<DomainName, Entry>.Index) -> R, none: R) -> R? {
        let now = clock.now()
        var revalidate = false
        let result: R? = state.withLock { s in
            // Mutated in place: no copy of the entry on the hot path.
            guard let index = s.entries.index(forKey: domain) else { return nil }
            switch s.entries.values[index].use(at: now, revalidateAfter: settings.revalidateAfter) {
            case .unknown: return nil
            case .none: return none
            case .policy(let due):
                if due, s.inflight[domain] == nil, s.revalidations < settings.revalidationConcurrency {
                    s.entries.values[index].revalidating = true
                    s.revalidations += 1
                    revalidate = true
                }
                return policy(s, index)
            }
        }
        if revalidate {
            Task { [self] in
                _ = await self.coalesced(domain, forceFetch: false)
                self.state.withLock { s in
                    s.entries[domain]?.revalidating = false
                    s.revalidations -= 1
                }
                self.onEvent(.revalidated(domain))
            }
        }
        return result
    }

    /// A lookup that may need discovery: coalesced with concurrent lookups of the same domain and bounded by
    /// `deadline` (default `firstLookupDeadline`), after which it answers `.none` and the discovery finishes
    /// in the background for the next lookup.
    /// With `maxDiscoveries` in flight, a domain not among them answers `.none` at once: the same answer as a first
    /// lookup past its deadline, never a deferral (RFC 8461 §5: a failure to get a policy must not block mail unless a
    /// cached policy says so). Its next lookup tries again.
    public func resolve(_ domain: DomainName, deadline: Duration? = nil) async -> Decision {
        if let decision = cached(domain) { return decision }
        guard let task = task(for: domain, forceFetch: false, limit: settings.maxDiscoveries) else {
            onEvent(.discoveryCapped(domain))
            return .none
        }
        return await task.value(within: deadline ?? settings.firstLookupDeadline) ?? .none
    }

    /// Fetches the live policy now (proactive refresh, `mta-sts cache refresh`), whatever the TXT says.
    @discardableResult
    public func refresh(_ domain: DomainName) async -> Decision {
        await coalesced(domain, forceFetch: true)
    }

    /// Re-checks the TXT id now, as a due background revalidation does (fetching only if the id changed).
    public func revalidate(_ domain: DomainName) async -> Decision {
        await coalesced(domain, forceFetch: false)
    }

    private func coalesced(_ domain: DomainName, forceFetch: Bool) async -> Decision {
        await task(for: domain, forceFetch: forceFetch)!.value
    }

    /// The discovery of `domain` in flight, or a new one; nil when a new one would exceed `limit` in flight.
    private func task(for domain: DomainName, forceFetch: Bool, limit: Int = .max) -> Task<Decision, Never>? {
        state.withLock { s in
            if let running = s.inflight[domain] { return running }
            guard s.inflight.count < limit else { return nil }
            let task = Task { [self] in
                let decision = await self.update(domain, forceFetch: forceFetch)
                self.state.withLock { _ = $0.inflight.removeValue(forKey: domain) }
                return decision
            }
            s.inflight[domain] = task
            return task
        }
    }

    // MARK: The rules

    /// One discovery step for `domain` and what it does to the cache (RFC 8461 §3.3, §5.1).
    private func update(_ domain: DomainName, forceFetch: Bool) async -> Decision {
        let lookup = await discovery.lookupRecord(domain)
        let now = clock.now()
        let current = state.withLock { $0.policy(domain) }
        let failure = state.withLock { $0.failures[domain] }
        let valid = current.flatMap { $0.isValid(at: now) ? $0 : nil }

        switch lookup.outcome {
        case .valid:
            let id = lookup.record!.id
            if let keep = valid, keep.id == id, !forceFetch {
                // Same id: nothing to fetch. This does not extend max_age (only a fetch does, §3.2).
                return .policy(checked(keep, at: now))
            }
            if !forceFetch, let failure, failure.id == id, now - failure.at < settings.fetchBackoff {
                return valid.map(Decision.policy) ?? remember(domain, none: now + settings.failureRetry)
            }
            return await fetch(domain, id: id, current: current, now: now)
        case .noRecord, .multipleRecords, .recordInvalid:
            if forceFetch, let current {
                // A proactive refresh fetches the live policy whatever the TXT says (§10.2).
                return await fetch(domain, id: current.id, current: current, now: now)
            }
            if let keep = valid {
                // A vanished or broken TXT record does not remove a valid cached policy (§3.1, §5.1).
                return .policy(checked(keep, at: now))
            }
            onEvent(.noPolicy(domain, outcome: lookup.outcome, reason: lookup.error?.message ?? lookup.outcome.rawValue))
            let ttl = Double(lookup.ttl ?? 0)
            return remember(domain, none: now + min(ttl, settings.negativeCacheMax))
        default:  // .dnsError
            if forceFetch, let current {
                return await fetch(domain, id: current.id, current: current, now: now)
            }
            if let keep = valid { return .policy(keep) }  // §3.3: a DNS failure leaves a valid policy in force
            onEvent(.noPolicy(domain, outcome: lookup.outcome, reason: lookup.error?.message ?? "DNS failure"))
            return remember(domain, none: now + settings.failureRetry)
        }
    }

    /// Fetches the policy for `id`; replaces the cache only with a valid policy.
    private func fetch(_ domain: DomainName, id: String, current: CachedPolicy?, now: Double) async -> Decision {
        let fetched = await discovery.fetchPolicy(domain)
        let done = clock.now()
        if let policy = fetched.policy, let body = fetched.body {
            // A new valid policy replaces the old one, even a weaker one (§5.1, §8.3).
            var entry = CachedPolicy(domain: domain, id: id, policy: policy, body: body, fetchedAt: done,
                                     lastUsed: current?.lastUsed ?? done)
            entry.lastChecked = done
            state.withLock { $0.entries[domain, default: Entry()].negativeUntil = nil }
            await commit(entry)  // without a failure: it is removed
            onEvent(.fetched(domain, id: id, mode: policy.mode))
            // max_age 0: valid for this decision only; the next lookup fetches again.
            return .policy(entry)
        }
        let reason = fetched.error?.message ?? fetched.outcome.rawValue
        onEvent(.fetchFailed(domain, id: id, outcome: fetched.outcome, reason: reason))
        if var keep = current {
            keep.failedID = id
            keep.failedAt = done
            await commit(keep)
            if keep.policy.mode != .none {
                onEvent(.refreshFailed(domain, reason: reason, expired: !keep.isValid(at: done)))
            }
            if keep.isValid(at: done) { return .policy(keep) }  // an invalid or failed fetch never replaces it
        } else {
            state.withLock { $0.failures[domain] = Failure(id: id, at: done) }
        }
        return remember(domain, none: done + settings.failureRetry)
    }

    /// Notes in memory that the TXT record was checked (no store write: a restart merely re-checks sooner, and a
    /// shared store is not written by every host every minute).
    private func checked(_ entry: CachedPolicy, at now: Double) -> CachedPolicy {
        state.withLock { $0.entries[entry.domain]?.setLastChecked(now) }
        var copy = entry
        copy.lastChecked = now
        return copy
    }

    private func remember(_ domain: DomainName, none until: Double) -> Decision {
        state.withLock { $0.entries[domain, default: Entry()].negativeUntil = until }
        return .none
    }

    /// Puts an entry in memory and writes it through to the store; while the store is down, only marks it unsaved
    /// (a lookup does not wait for a store that is not there; ``syncStore()`` writes it back).
    private func commit(_ entry: CachedPolicy) async {
        let down = state.withLock { s in
            s.put(entry, for: entry.domain)
            s.entries[entry.domain]?.usageDirty = false
            if s.storeDown { s.unsaved.insert(entry.domain) }
            return s.storeDown
        }
        guard let store, !down else { return }
        do { try await store.save(entry) } catch {
            state.withLock { s in
                s.storeDown = true
                s.unsaved.insert(entry.domain)
            }
            onEvent(.storeError("saving \(entry.domain): \(error)"))
        }
    }

    // MARK: Maintenance

    /// One maintenance pass: write usage times, pick up external store changes, evict, refresh due policies
    /// in random order. Returns the domains refreshed. Run it periodically (a minute apart is fine; refreshes
    /// happen only when due).
    @discardableResult
    public func maintain(maxRefreshes: Int = .max) async -> [DomainName] {
        await syncStore()
        let now = clock.now()
        let (evicted, due) = state.withLock { s -> ([DomainName], [DomainName]) in
            var evicted: [DomainName] = []
            var due: [DomainName] = []
            for (domain, entry) in s.entries {
                let failure = s.failures[domain]
                guard let cached = entry.stored else {
                    // Nothing cached: forget the domain once its negative time and fetch backoff are over.
                    let negativeOver = entry.negativeUntil.map { $0 < now } ?? true
                    let backoffOver = failure.map { now - $0.at >= settings.fetchBackoff } ?? true
                    if negativeOver, backoffOver, s.inflight[domain] == nil {
                        s.entries[domain] = nil
                        s.failures[domain] = nil
                    }
                    continue
                }
                let backingOff = failure.map { now - $0.at < settings.fetchBackoff } ?? false
                if failure != nil, !backingOff { s.failures[domain] = nil }  // over: it no longer stops a fetch
                if now - cached.lastUsed > settings.evictAfter {
                    evicted.append(domain)
                } else if now - cached.lastUsed <= settings.refreshWindow, now - cached.fetchedAt >= settings.refreshInterval,
                          !backingOff {
                    due.append(domain)
                }
            }
            for d in evicted {
                s.entries[d] = nil
                s.failures[d] = nil
            }
            return (evicted, due)
        }
        // The set is built outside the lock that every lookup takes.
        let used = Set(state.withLock { $0.entries.values.compactMap { $0.stored.map { ObjectIdentifier($0.shared) } } })
        state.withLock { $0.pruneInterned(keeping: used) }
        if let store {
            for d in evicted {
                do { try await store.delete(d) } catch { onEvent(.storeError("evicting \(d): \(error)")) }
            }
        }
        let chosen = Array(due.shuffled().prefix(maxRefreshes))
        // A few at a time, so one hanging policy host does not hold up the others (or the next pass).
        await withTaskGroup(of: Void.self) { group in
            var started = 0
            for domain in chosen {
                if started >= settings.refreshConcurrency { await group.next() } else { started += 1 }
                group.addTask { await self.refresh(domain) }
            }
        }
        return chosen
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
