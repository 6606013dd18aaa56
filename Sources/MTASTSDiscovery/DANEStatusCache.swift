import MTASTSCore

/// Each domain's ``DANEStatus``, kept in memory for the DNS TTL of the answers behind it, so a cache hit
/// reads it without I/O. A used entry is refreshed in the background shortly before it expires; an expired
/// one is still answered (at most `staleLimit` past its expiry, like a resolver's serve-stale, RFC 8767)
/// while its refresh runs, so a DNS outage or a restart never holds mail up — Postfix's own DANE then
/// checks the TLSA records itself whenever the answer is a DANE level. Concurrent misses of one domain make
/// one lookup. With a store, statuses are written through and loaded at start.
public final class DANEStatusCache: Sendable {
    public struct Settings: Sendable {
        /// Bounds on how long a status is kept, whatever the TTLs say.
        public var minimumLifetime: Double = 30
        public var maximumLifetime: Double = 3600
        /// How long a `deferred` status (lookup failures) is kept before DNS is asked again.
        public var deferredLifetime: Double = 15
        /// A used entry is refreshed in the background when less than this share of its lifetime is left.
        public var refreshShare: Double = 0.2
        /// How long past its expiry a status may still be answered while it is being refreshed.
        public var staleLimit: Double = 86_400
        /// Background refreshes (started by lookups of statuses about to expire) running at once; a due one that finds
        /// them all busy is started by a later lookup, so a pass over many stale statuses (after a restart) is not as
        /// many concurrent DNS lookups.
        public var refreshConcurrency = 32
        /// Bound on remembered domains (statuses exist only for domains with an enforced cached policy; a full table
        /// first drops the statuses past their stale limit).
        public var maxEntries = 1_000_000
        public init() {}
    }

    /// A status as memory keeps it: the summary's fields, laid out compactly (one per domain, so its size counts).
    struct Entry: RefreshMarked {
        let reason: String
        let mx: DANEStatus.MXState
        let regime: DANEStatus.Regime
        var refreshing = false
        let ttl: UInt32
        let storedAt: Double
        let expiresAt: Double

        init(_ status: DANEStatus, storedAt: Double, expiresAt: Double) {
            reason = status.reason
            mx = status.mx
            regime = status.regime
            ttl = status.ttl
            self.storedAt = storedAt
            self.expiresAt = expiresAt
        }

        var status: DANEStatus { DANEStatus(regime: regime, mx: mx, hosts: [], reason: reason, ttl: ttl) }
    }

    private let clock: any WallClock
    private let settings: Settings
    private let store: (any DANEStatusStore)?
    /// The entries and the machinery around them; the lookup and lifetimes are ``DANERules``.
    private let cache: RefreshingCache<DANERules>

    /// - Parameters:
    ///   - onStatus: called with every status looked up (for logs and metrics).
    ///   - onStoreError: called when the store cannot be written (the status stays in memory).
    public init(resolver: any DNSResolver, clock: any WallClock, store: (any DANEStatusStore)? = nil, settings: Settings = Settings(),
                onStatus: @escaping @Sendable (DomainName, DANEStatus) -> Void = { _, _ in },
                onStoreError: @escaping @Sendable (String) -> Void = { _ in }) {
        self.clock = clock
        self.store = store
        self.settings = settings
        let rules = DANERules(resolver: resolver, clock: clock, settings: settings, store: store, onStatus: onStatus,
                              onStoreError: onStoreError)
        cache = RefreshingCache(rules: rules, extra: (), refreshLimit: settings.refreshConcurrency, outage: .reportEach)
    }

    private static let loaded = DANEStatus.MXState.unavailable("loaded from the store")

    /// Reads the persisted statuses (at start), a batch at a time. Entries already looked up in this process win.
    /// `canonicalName` gives the copy of a name that memory already holds (the policy cache's), if any.
    public func load(canonicalName: @escaping @Sendable (DomainName) -> DomainName? = { _ in nil }) async throws {
        guard let store else { return }
        let now = clock.now()
        try await store.loadDANEStatuses(batchSize: storeLoadBatchSize) { [self] stored in
            // The names are looked up before this cache's lock is taken: never one lock inside the other.
            let rows = stored.filter { now < $0.expiresAt + settings.staleLimit }.map { (canonicalName($0.domain) ?? $0.domain, $0) }
            cache.withLock { s in
                for (domain, row) in rows where s.entries[domain] == nil {
                    let status = DANEStatus(regime: row.regime, mx: Self.loaded, hosts: [], reason: row.reason,
                                            ttl: UInt32(clamping: Int(max(0, row.expiresAt - row.storedAt))))
                    s.entries[domain] = Entry(status, storedAt: row.storedAt, expiresAt: row.expiresAt)
                }
            }
        }
    }

    /// The hot path: the status when memory has one (expired entries are answered while their refresh runs,
    /// up to `staleLimit`), else nil (then call ``resolve(_:deadline:)``). The status kept in memory is a
    /// summary: regime, reason and TTL, without the per-host TLSA details (``resolve(_:deadline:)`` returns
    /// them for a fresh lookup).
    public func cached(_ domain: DomainName) -> DANEStatus? { look(domain) { $0.status } }

    /// Only the regime of ``cached(_:)``: no copy of the status on the hot path.
    public func regime(_ domain: DomainName) -> DANEStatus.Regime? { look(domain) { $0.regime } }

    /// A status is answered up to `staleLimit` past its expiry, and due for a refresh when less than `refreshShare` of
    /// its lifetime is left.
    private func look<R: Sendable>(_ domain: DomainName, _ answer: (inout Entry) -> R) -> R? {
        let now = clock.now()
        return cache.look(domain) { s, index in
            let (expiresAt, storedAt) = (s.entries.values[index].expiresAt, s.entries.values[index].storedAt)
            guard now < expiresAt + settings.staleLimit else { return nil }
            let due = expiresAt - now < (expiresAt - storedAt) * settings.refreshShare
            return (answer(&s.entries.values[index]), due: due)  // in place: no copy of the entry
        }
    }

    /// The status, looked up when memory has none; nil when `deadline` passes first (the lookup then
    /// finishes in the background for the next request).
    public func resolve(_ domain: DomainName, deadline: Duration) async -> DANEStatus? {
        if let status = cached(domain) { return status }
        return await cache.task(for: domain)!.value(within: deadline)
    }

    /// Forgets a domain (after `mta-sts cache purge`, or in tests).
    public func forget(_ domain: DomainName) { cache.withLock { _ = $0.entries.removeValue(forKey: domain) } }

    /// The number of remembered domains.
    public var count: Int { cache.withLock { $0.entries.count } }
}

/// A DANE lookup and how long its status is kept.
struct DANERules: RefreshingCacheRules {
    typealias Entry = DANEStatusCache.Entry
    typealias Value = DANEStatus
    typealias Extra = Void

    let resolver: any DNSResolver
    let clock: any WallClock
    let settings: DANEStatusCache.Settings
    let store: (any DANEStatusStore)?
    let onStatus: @Sendable (DomainName, DANEStatus) -> Void
    let onStoreError: @Sendable (String) -> Void

    func load(_ domain: DomainName, force: Bool, in cache: RefreshingCache<DANERules>) async -> DANEStatus {
        let status = await DANEStatus.lookup(domain, resolver: resolver)
        keep(status, for: domain, in: cache)
        onStatus(domain, status)
        return status
    }

    /// Puts the status in memory for its lifetime and writes it through without waiting for the store.
    private func keep(_ status: DANEStatus, for domain: DomainName, in cache: RefreshingCache<DANERules>) {
        let now = clock.now()
        let lifetime = status.regime == .deferred
            ? settings.deferredLifetime
            : min(settings.maximumLifetime, max(settings.minimumLifetime, Double(status.ttl)))
        cache.withLock { s in
            if s.entries.count >= settings.maxEntries, s.entries[domain] == nil {
                s.entries = s.entries.filter { now < $0.value.expiresAt + settings.staleLimit }
                if s.entries.count >= settings.maxEntries { s.entries.removeAll(keepingCapacity: true) }
            }
            s.entries[domain] = DANEStatusCache.Entry(status, storedAt: now, expiresAt: now + lifetime)
        }
        guard let store else { return }
        let row = StoredDANEStatus(domain: domain, regime: status.regime, reason: status.reason, storedAt: now, expiresAt: now + lifetime)
        Task {
            if let error = await cache.writeThrough(domain, row: row, save: { try await store.saveDANEStatus($0) }) {
                onStoreError("saving the DANE status of \(domain): \(error)")
            }
        }
    }
}
