import MTASTSCore
import Synchronization

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
    private struct Entry {
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

    private struct State {
        var entries: [DomainName: Entry] = [:]
        var inflight: [DomainName: Task<DANEStatus, Never>] = [:]
        /// Background refreshes running.
        var refreshes = 0
    }

    private let resolver: any DNSResolver
    private let clock: any WallClock
    private let settings: Settings
    private let state = Mutex(State())
    private let store: (any DANEStatusStore)?
    private let onStatus: @Sendable (DomainName, DANEStatus) -> Void
    private let onStoreError: @Sendable (String) -> Void

    /// - Parameters:
    ///   - onStatus: called with every status looked up (for logs and metrics).
    ///   - onStoreError: called when the store cannot be written (the status stays in memory).
    public init(resolver: any DNSResolver, clock: any WallClock, store: (any DANEStatusStore)? = nil, settings: Settings = Settings(),
                onStatus: @escaping @Sendable (DomainName, DANEStatus) -> Void = { _, _ in },
                onStoreError: @escaping @Sendable (String) -> Void = { _ in }) {
        self.resolver = resolver
        self.clock = clock
        self.store = store
        self.settings = settings
        self.onStatus = onStatus
        self.onStoreError = onStoreError
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
            state.withLock { s in
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

    private func look<R: Sendable>(_ domain: DomainName, _ answer: (inout Entry) -> R) -> R? {
        let now = clock.now()
        var refresh = false
        let result: R? = state.withLock { s in
            guard let index = s.entries.index(forKey: domain) else { return nil }
            let (expiresAt, storedAt) = (s.entries.values[index].expiresAt, s.entries.values[index].storedAt)
            guard now < expiresAt + settings.staleLimit else { return nil }
            if !s.entries.values[index].refreshing, s.inflight[domain] == nil, s.refreshes < settings.refreshConcurrency,
               expiresAt - now < (expiresAt - storedAt) * settings.refreshShare {
                s.entries.values[index].refreshing = true
                s.refreshes += 1
                refresh = true
            }
            return answer(&s.entries.values[index])  // in place: no copy of the entry
        }
        if refresh {
            let running = task(for: domain)
            Task { [self] in
                _ = await running.value
                state.withLock { $0.refreshes -= 1 }
            }
        }
        return result
    }

    /// The status, looked up when memory has none; nil when `deadline` passes first (the lookup then
    /// finishes in the background for the next request).
    public func resolve(_ domain: DomainName, deadline: Duration) async -> DANEStatus? {
        if let status = cached(domain) { return status }
        return await task(for: domain).value(within: deadline)
    }

    /// Forgets a domain (after `mta-sts cache purge`, or in tests).
    public func forget(_ domain: DomainName) { state.withLock { _ = $0.entries.removeValue(forKey: domain) } }

    /// The number of remembered domains.
    public var count: Int { state.withLock { $0.entries.count } }

    private func task(for domain: DomainName) -> Task<DANEStatus, Never> {
        state.withLock { s in
            if let running = s.inflight[domain] { return running }
            let task = Task { [self] in
                let status = await DANEStatus.lookup(domain, resolver: resolver)
                store(status, for: domain)
                onStatus(domain, status)
                return status
            }
            s.inflight[domain] = task
            return task
        }
    }

    private func store(_ status: DANEStatus, for domain: DomainName) {
        let now = clock.now()
        let lifetime = status.regime == .deferred
            ? settings.deferredLifetime
            : min(settings.maximumLifetime, max(settings.minimumLifetime, Double(status.ttl)))
        state.withLock { s in
            s.inflight.removeValue(forKey: domain)
            if s.entries.count >= settings.maxEntries, s.entries[domain] == nil {
                s.entries = s.entries.filter { now < $0.value.expiresAt + settings.staleLimit }
                if s.entries.count >= settings.maxEntries { s.entries.removeAll(keepingCapacity: true) }
            }
            s.entries[domain] = Entry(status, storedAt: now, expiresAt: now + lifetime)
        }
        guard let store else { return }
        let row = StoredDANEStatus(domain: domain, regime: status.regime, reason: status.reason, storedAt: now, expiresAt: now + lifetime)
        Task {
            do { try await store.saveDANEStatus(row) } catch { onStoreError("saving the DANE status of \(domain): \(error)") }
        }
    }
}
