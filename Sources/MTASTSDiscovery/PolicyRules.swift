import MTASTSCore

// What ``PolicyCache`` keeps per domain, and the RFC 8461 rules that decide what a discovery does to it. The
// machinery around them (the lock, coalescing, background revalidation, write-through) is ``RefreshingCache``.

extension PolicyCache {
    /// A policy body as fetched and its parse, shared by every domain that serves the same bytes.
    final class SharedPolicy: Sendable {
        let policy: STSPolicy
        let body: [UInt8]
        init(policy: STSPolicy, body: [UInt8]) {
            self.policy = policy
            self.body = body
        }
    }

    /// A cached policy as memory keeps it, per domain and compact: the shared body and this domain's id and times.
    /// The domain is the table's key, and a failed fetch is kept aside (``Memory/failures``): together they make the
    /// ``CachedPolicy`` again.
    struct Stored {
        let shared: SharedPolicy
        let id: String
        let fetchedAt: Double
        let expiresAt: Double
        var lastChecked: Double
        var lastUsed: Double
    }

    struct Entry: RefreshMarked {
        /// Set only through `State.put`, which gives it a new generation.
        fileprivate(set) var stored: Stored?
        fileprivate(set) var generation: UInt64 = 0
        /// "No policy" is the answer until then.
        var negativeUntil: Double?
        /// A background revalidation runs.
        var refreshing = false
        var usageDirty = false

        enum Use { case policy(revalidate: Bool), none, unknown }

        /// A lookup at `now`, in place (no copy of the policy): a valid policy is marked used.
        mutating func use(at now: Double, revalidateAfter: Double) -> Use {
            if let expiresAt = stored?.expiresAt, now < expiresAt {
                stored!.lastUsed = now
                usageDirty = true
                return .policy(revalidate: now - stored!.lastChecked >= revalidateAfter)
            }
            if let until = negativeUntil, now < until { return .none }
            return .unknown
        }

        fileprivate mutating func put(_ policy: Stored?, generation: UInt64) {
            stored = policy
            self.generation = generation
        }

        mutating func setLastChecked(_ time: Double) { stored?.lastChecked = time }
    }

    /// The last failed fetch of a domain: no new fetch of that id for 5 minutes (§3.3).
    struct Failure {
        let id: String
        let at: Double
    }

    /// The cache's state beside its entries.
    struct Memory {
        /// Failed fetches, by domain (few: a successful fetch, a purge, or the maintenance pass after the backoff
        /// removes them).
        var failures: [DomainName: Failure] = [:]
        /// The store's change counter when memory last matched it; nil before the first successful load.
        var storeCounter: Int?
        fileprivate var generations: UInt64 = 0
        /// One copy of each distinct policy body in memory: domains of one provider share its policy.
        fileprivate var interned: [[UInt8]: SharedPolicy] = [:]
    }
}

extension RefreshingCache.State where Rules == PolicyRules {
    /// Caches `policy` (or forgets it, with its failed fetch: a purge starts afresh) for `domain` under a new
    /// generation; its failed fetch, if any, is kept aside.
    mutating func put(_ policy: CachedPolicy?, for domain: DomainName) {
        extra.generations += 1
        var stored: PolicyCache.Stored?
        extra.failures[domain] = nil
        if let policy {
            stored = PolicyCache.Stored(shared: intern(policy), id: policy.id, fetchedAt: policy.fetchedAt,
                                        expiresAt: policy.expiresAt, lastChecked: policy.lastChecked, lastUsed: policy.lastUsed)
            if let id = policy.failedID, let at = policy.failedAt { extra.failures[domain] = PolicyCache.Failure(id: id, at: at) }
        }
        entries[domain, default: PolicyCache.Entry()].put(stored, generation: extra.generations)
    }

    /// The cached policy of `domain` as a ``CachedPolicy`` (nil: none).
    func policy(_ domain: DomainName) -> CachedPolicy? {
        entries[domain]?.stored.map { policy($0, domain) }
    }

    func policy(_ stored: PolicyCache.Stored, _ domain: DomainName) -> CachedPolicy {
        var policy = CachedPolicy(domain: domain, id: stored.id, policy: stored.shared.policy, body: stored.shared.body,
                                  fetchedAt: stored.fetchedAt, lastUsed: stored.lastUsed)
        policy.expiresAt = stored.expiresAt
        policy.lastChecked = stored.lastChecked
        if let failure = extra.failures[domain] {
            policy.failedID = failure.id
            policy.failedAt = failure.at
        }
        return policy
    }

    /// The shared body and parse of `policy`'s bytes.
    private mutating func intern(_ policy: CachedPolicy) -> PolicyCache.SharedPolicy {
        if let known = extra.interned[policy.body], known.policy == policy.policy { return known }
        let shared = PolicyCache.SharedPolicy(policy: policy.policy, body: policy.body)
        extra.interned[policy.body] = shared
        return shared
    }

    /// Drops interned policies no domain uses any more (`used`: those in use, gathered outside the lock; one
    /// interned since then may be dropped too, which only means its next user keeps its own copy).
    mutating func pruneInterned(keeping used: Set<ObjectIdentifier>) {
        extra.interned = extra.interned.filter { used.contains(ObjectIdentifier($0.value)) }
    }
}

/// What one discovery does to the policy cache (RFC 8461 §3.3, §5.1, §10.2).
struct PolicyRules: RefreshingCacheRules {
    typealias Cache = RefreshingCache<PolicyRules>
    typealias Decision = PolicyCache.Decision
    typealias Entry = PolicyCache.Entry
    typealias Value = Decision
    typealias Extra = PolicyCache.Memory

    let discovery: PolicyDiscovery
    let store: (any PolicyStore)?
    let clock: any WallClock
    let settings: PolicyCache.Settings
    let onEvent: @Sendable (PolicyCache.Event) -> Void

    func refreshed(_ domain: DomainName) { onEvent(.revalidated(domain)) }

    /// One discovery step for `domain` and what it does to the cache (RFC 8461 §3.3, §5.1). `force`: fetch the live
    /// policy whatever the TXT says (§10.2).
    func load(_ domain: DomainName, force forceFetch: Bool, in cache: Cache) async -> Decision {
        let lookup = await discovery.lookupRecord(domain)
        let now = clock.now()
        let current = cache.withLock { $0.policy(domain) }
        let failure = cache.withLock { $0.extra.failures[domain].map { (id: $0.id, at: $0.at) } }
        let valid = current.flatMap { $0.isValid(at: now) ? $0 : nil }

        switch lookup.outcome {
        case .valid:
            let id = lookup.record!.id
            if let keep = valid, keep.id == id, !forceFetch {
                // Same id: nothing to fetch. This does not extend max_age (only a fetch does, §3.2).
                return .policy(checked(keep, at: now, in: cache))
            }
            if !forceFetch, let failure, failure.id == id, now - failure.at < settings.fetchBackoff {
                return valid.map(Decision.policy) ?? remember(domain, none: now + settings.failureRetry, in: cache)
            }
            return await fetch(domain, id: id, current: current, now: now, in: cache)
        case .noRecord, .multipleRecords, .recordInvalid:
            if forceFetch, let current {
                // A proactive refresh fetches the live policy whatever the TXT says (§10.2).
                return await fetch(domain, id: current.id, current: current, now: now, in: cache)
            }
            if let keep = valid {
                // A vanished or broken TXT record does not remove a valid cached policy (§3.1, §5.1).
                return .policy(checked(keep, at: now, in: cache))
            }
            onEvent(.noPolicy(domain, outcome: lookup.outcome, reason: lookup.error?.message ?? lookup.outcome.rawValue))
            let ttl = Double(lookup.ttl ?? 0)
            return remember(domain, none: now + min(ttl, settings.negativeCacheMax), in: cache)
        default:  // .dnsError
            if forceFetch, let current {
                return await fetch(domain, id: current.id, current: current, now: now, in: cache)
            }
            if let keep = valid { return .policy(keep) }  // §3.3: a DNS failure leaves a valid policy in force
            onEvent(.noPolicy(domain, outcome: lookup.outcome, reason: lookup.error?.message ?? "DNS failure"))
            return remember(domain, none: now + settings.failureRetry, in: cache)
        }
    }

    /// Fetches the policy for `id`; replaces the cache only with a valid policy.
    private func fetch(_ domain: DomainName, id: String, current: CachedPolicy?, now: Double, in cache: Cache) async -> Decision {
        let fetched = await discovery.fetchPolicy(domain)
        let done = clock.now()
        if let policy = fetched.policy, let body = fetched.body {
            // A new valid policy replaces the old one, even a weaker one (§5.1, §8.3).
            var entry = CachedPolicy(domain: domain, id: id, policy: policy, body: body, fetchedAt: done,
                                     lastUsed: current?.lastUsed ?? done)
            entry.lastChecked = done
            cache.withLock { $0.entries[domain, default: PolicyCache.Entry()].negativeUntil = nil }
            await commit(entry, in: cache)  // without a failure: it is removed
            onEvent(.fetched(domain, id: id, mode: policy.mode))
            // max_age 0: valid for this decision only; the next lookup fetches again.
            return .policy(entry)
        }
        let reason = fetched.error?.message ?? fetched.outcome.rawValue
        onEvent(.fetchFailed(domain, id: id, outcome: fetched.outcome, reason: reason))
        if var keep = current {
            keep.failedID = id
            keep.failedAt = done
            await commit(keep, in: cache)
            if keep.policy.mode != .none {
                onEvent(.refreshFailed(domain, reason: reason, expired: !keep.isValid(at: done)))
            }
            if keep.isValid(at: done) { return .policy(keep) }  // an invalid or failed fetch never replaces it
        } else {
            cache.withLock { $0.extra.failures[domain] = PolicyCache.Failure(id: id, at: done) }
        }
        return remember(domain, none: done + settings.failureRetry, in: cache)
    }

    /// Notes in memory that the TXT record was checked (no store write: a restart merely re-checks sooner, and a
    /// shared store is not written by every host every minute).
    private func checked(_ entry: CachedPolicy, at now: Double, in cache: Cache) -> CachedPolicy {
        cache.withLock { $0.entries[entry.domain]?.setLastChecked(now) }
        var copy = entry
        copy.lastChecked = now
        return copy
    }

    private func remember(_ domain: DomainName, none until: Double, in cache: Cache) -> Decision {
        cache.withLock { $0.entries[domain, default: PolicyCache.Entry()].negativeUntil = until }
        return .none
    }

    /// Puts an entry in memory and writes it through to the store; while the store is down, only marks it unsaved
    /// (a lookup does not wait for a store that is not there; ``PolicyCache/syncStore()`` writes it back).
    private func commit(_ entry: CachedPolicy, in cache: Cache) async {
        let error = await cache.commit(entry.domain, row: entry, save: { try await store?.save($0) }) { s in
            s.put(entry, for: entry.domain)
            s.entries[entry.domain]?.usageDirty = false
        }
        if let error { onEvent(.storeError("saving \(entry.domain): \(error)")) }
    }
}
