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

    public let settings: Settings
    private let store: (any PolicyStore)?
    private let clock: any WallClock
    private let onEvent: @Sendable (Event) -> Void
    /// The entries and the machinery around them; the RFC rules are ``PolicyRules``.
    private let cache: RefreshingCache<PolicyRules>

    public init(discovery: PolicyDiscovery, store: (any PolicyStore)?, clock: any WallClock, settings: Settings = .init(),
                onEvent: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.store = store
        self.clock = clock
        self.settings = settings
        self.onEvent = onEvent
        let rules = PolicyRules(discovery: discovery, store: store, clock: clock, settings: settings, onEvent: onEvent)
        cache = RefreshingCache(rules: rules, extra: Memory(), refreshLimit: settings.revalidationConcurrency, outage: .degrade)
    }

    /// Loads every stored entry into memory; call before serving. When it throws (the store is unreachable), the
    /// cache works from memory and discovery, and ``syncStore()`` (which ``maintain()`` runs too) loads the store
    /// and writes back what memory learnt meanwhile once it is reachable.
    public func load() async throws {
        guard store != nil else { return }
        do { try await sync() } catch {
            cache.storeFailed()
            throw error
        }
    }

    /// Whether the last store operation succeeded (true without a store).
    public var storeAvailable: Bool { cache.storeAvailable }

    /// Brings memory and the store together: writes back the entries the store missed while it was unreachable,
    /// writes usage times, and loads the store when it changed (or was never loaded). Returns whether the store
    /// answered; a failure is also reported as ``Event/storeError(_:)``.
    @discardableResult
    public func syncStore() async -> Bool {
        guard store != nil else { return true }
        do {
            try await sync()
            return true
        } catch {
            cache.storeFailed()
            onEvent(.storeError("syncing with the store: \(error)"))
            return false
        }
    }

    /// ``load()`` and ``syncStore()``: the store is loaded when memory never matched it (no load succeeded yet) or
    /// another process changed it since, so a first load needs no flag of its own.
    private func sync() async throws {
        guard let store else { return }
        // Entries memory learnt while the store was unreachable, before anything is loaded.
        try await cache.writeBack(row: { s, domain in s.policy(domain) }, save: { try await store.save($0) })
        let dirty = cache.withLock { s -> [(domain: DomainName, lastUsed: Double)] in
            var out: [(domain: DomainName, lastUsed: Double)] = []
            for (domain, entry) in s.entries where entry.usageDirty {
                if let stored = entry.stored { out.append((domain, stored.lastUsed)) }
                s.entries[domain]?.usageDirty = false
            }
            return out
        }
        if !dirty.isEmpty { try await store.saveUsage(dirty) }
        let counter = try await store.externalChangeCounter()
        let known = cache.withLock { $0.extra.storeCounter }
        if known == nil || counter != known {
            let stored = try await loadStore(store)
            cache.withLock { s in
                s.extra.storeCounter = counter
                // Purged by `mta-sts cache purge` (an entry committed since the write-back above is not).
                for (domain, entry) in s.entries where entry.stored != nil && !stored.contains(domain) && !s.unsaved.contains(domain) {
                    s.put(nil, for: domain)
                }
            }
        }
        cache.storeAnswered()
    }

    /// Puts every stored entry in memory, a batch at a time (the decoded rows of a large store never all exist at
    /// once), unless memory has a newer fetch of that domain; returns the domains the store has.
    private func loadStore(_ store: any PolicyStore) async throws -> Set<DomainName> {
        let seen = Mutex<Set<DomainName>>([])
        try await store.loadAll(batchSize: storeLoadBatchSize) { [self] batch in
            cache.withLock { s in
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
        cache.withLock { s in s.entries.index(forKey: domain).map { s.entries.keys[$0] } }
    }

    /// The number of domains with a cached policy.
    public var count: Int { cache.withLock { $0.entries.values.count { $0.stored != nil } } }

    /// Every cached policy (for `mta-sts cache list` and tests).
    public var entries: [CachedPolicy] {
        cache.withLock { s in s.entries.compactMap { domain, entry in entry.stored.map { s.policy($0, domain) } } }
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

    /// `policy` reads the entry at the index (valid, just marked used) in place; a revalidation is due when the TXT id
    /// was confirmed longer ago than `revalidateAfter`.
    private func look<R: Sendable>(_ domain: DomainName, policy: (Table, RefreshingCache<PolicyRules>.Entries.Index) -> R, none: R) -> R? {
        let now = clock.now()
        return cache.look(domain) { s, index in
            switch s.entries.values[index].use(at: now, revalidateAfter: settings.revalidateAfter) {
            case .unknown: return nil
            case .none: return (none, due: false)
            case .policy(let due): return (policy(s, index), due: due)
            }
        }
    }

    /// A lookup that may need discovery: coalesced with concurrent lookups of the same domain and bounded by
    /// `deadline` (default `firstLookupDeadline`), after which it answers `.none` and the discovery finishes
    /// in the background for the next lookup.
    /// With `maxDiscoveries` in flight, a domain not among them answers `.none` at once: the same answer as a first
    /// lookup past its deadline, never a deferral (RFC 8461 §5: a failure to get a policy must not block mail unless a
    /// cached policy says so). Its next lookup tries again.
    public func resolve(_ domain: DomainName, deadline: Duration? = nil) async -> Decision {
        if let decision = cached(domain) { return decision }
        guard let task = cache.task(for: domain, limit: settings.maxDiscoveries) else {
            onEvent(.discoveryCapped(domain))
            return .none
        }
        return await task.value(within: deadline ?? settings.firstLookupDeadline) ?? .none
    }

    /// Fetches the live policy now (proactive refresh, `mta-sts cache refresh`), whatever the TXT says.
    @discardableResult
    public func refresh(_ domain: DomainName) async -> Decision {
        await cache.load(domain, force: true)
    }

    /// Re-checks the TXT id now, as a due background revalidation does (fetching only if the id changed).
    public func revalidate(_ domain: DomainName) async -> Decision {
        await cache.load(domain, force: false)
    }

    private typealias Table = RefreshingCache<PolicyRules>.State

    // MARK: Maintenance

    /// One maintenance pass: write usage times, pick up external store changes, evict, refresh due policies
    /// in random order. Returns the domains refreshed. Run it periodically (a minute apart is fine; refreshes
    /// happen only when due).
    @discardableResult
    public func maintain(maxRefreshes: Int = .max) async -> [DomainName] {
        await syncStore()
        let now = clock.now()
        let (evicted, due) = cache.withLock { s -> ([DomainName], [DomainName]) in
            var evicted: [DomainName] = []
            var due: [DomainName] = []
            for (domain, entry) in s.entries {
                let failure = s.extra.failures[domain]
                guard let cached = entry.stored else {
                    // Nothing cached: forget the domain once its negative time and fetch backoff are over.
                    let negativeOver = entry.negativeUntil.map { $0 < now } ?? true
                    let backoffOver = failure.map { now - $0.at >= settings.fetchBackoff } ?? true
                    if negativeOver, backoffOver, s.inflight[domain] == nil {
                        s.entries[domain] = nil
                        s.extra.failures[domain] = nil
                    }
                    continue
                }
                let backingOff = failure.map { now - $0.at < settings.fetchBackoff } ?? false
                if failure != nil, !backingOff { s.extra.failures[domain] = nil }  // over: it no longer stops a fetch
                if now - cached.lastUsed > settings.evictAfter {
                    evicted.append(domain)
                } else if now - cached.lastUsed <= settings.refreshWindow, now - cached.fetchedAt >= settings.refreshInterval,
                          !backingOff {
                    due.append(domain)
                }
            }
            for d in evicted {
                s.entries[d] = nil
                s.extra.failures[d] = nil
            }
            return (evicted, due)
        }
        // The set is built outside the lock that every lookup takes.
        let used = Set(cache.withLock { $0.entries.values.compactMap { $0.stored.map { ObjectIdentifier($0.shared) } } })
        cache.withLock { $0.pruneInterned(keeping: used) }
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
