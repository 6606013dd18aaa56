import MTASTSCore
import Synchronization

/// One cached policy, as the cache keeps it in memory and a ``PolicyStore`` persists it. Times are
/// seconds since the Unix epoch (wall clock), so they mean the same after a restart.
public struct CachedPolicy: Sendable, Hashable {
    public var domain: DomainName
    /// The TXT record id the policy was fetched for.
    public var id: String
    public var policy: STSPolicy
    /// The body exactly as fetched (`mta-sts cache show`; the parsed `policy` is what replies are built from).
    public var body: [UInt8]
    /// When the policy was last fetched successfully; it may be used until `expiresAt` (RFC 8461 §3.2).
    public var fetchedAt: Double
    public var expiresAt: Double
    /// When the TXT id was last confirmed (a fetch counts).
    public var lastChecked: Double
    /// When a socketmap lookup last used the entry (drives proactive refresh and eviction).
    public var lastUsed: Double
    /// The id of the last failed fetch and when it failed: no new fetch for that id for 5 minutes (§3.3).
    public var failedID: String?
    public var failedAt: Double?

    public init(domain: DomainName, id: String, policy: STSPolicy, body: [UInt8], fetchedAt: Double, lastUsed: Double) {
        self.domain = domain
        self.id = id
        self.policy = policy
        self.body = body
        self.fetchedAt = fetchedAt
        self.expiresAt = fetchedAt + Double(policy.maxAge)
        self.lastChecked = fetchedAt
        self.lastUsed = lastUsed
    }

    /// True while the policy may still be applied.
    public func isValid(at now: Double) -> Bool { now < expiresAt }
}

/// Persistent storage for cached policies (SQLite by default, PostgreSQL for fleets). The cache keeps
/// everything in memory and writes through; the store is read in full at start, so a restart or a crash
/// loses nothing that was written.
public protocol PolicyStore: Sendable {
    /// Every stored entry (`mta-sts cache list`).
    func loadAll() async throws -> [CachedPolicy]
    /// Every stored entry, handed to `body` in batches of at most `batchSize` (at start, and when another process
    /// changed the store): memory holds one batch of decoded rows at a time, never the whole store.
    func loadAll(batchSize: Int, _ body: @escaping @Sendable ([CachedPolicy]) -> Void) async throws
    /// Inserts or replaces the entry for its domain.
    func save(_ entry: CachedPolicy) async throws
    /// Records when domains were last used (batched; the hot path never writes).
    func saveUsage(_ usage: [(domain: DomainName, lastUsed: Double)]) async throws
    func delete(_ domain: DomainName) async throws
    /// A number that changes when another process (e.g. `mta-sts cache purge`) changed the store.
    func externalChangeCounter() async throws -> Int
    /// One stored entry (`mta-sts cache show`); nil when there is none or it is no longer usable.
    func load(_ domain: DomainName) async throws -> CachedPolicy?
    /// Releases connections; a one-shot command calls it before exiting. The store is not used after it.
    func close() async
}

/// How many rows a store hands over at once when it loads (``PolicyStore/loadAll(batchSize:_:)``,
/// ``DANEStatusStore/loadDANEStatuses(batchSize:_:)``).
public let storeLoadBatchSize = 1000

/// Decoded rows collected and handed over in batches: the stores' streaming loads.
public struct RowBatches<Row> {
    private let size: Int
    private let deliver: ([Row]) -> Void
    private var batch: [Row] = []

    public init(size: Int, _ deliver: @escaping ([Row]) -> Void) {
        self.size = size
        self.deliver = deliver
    }

    public mutating func add(_ row: Row) {
        batch.append(row)
        if batch.count >= size {
            deliver(batch)
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// Hands over the last, partial batch.
    public mutating func finish() {
        if !batch.isEmpty { deliver(batch) }
        batch.removeAll()
    }
}

/// Every row of a streaming load as one array (for callers that want them all, like `mta-sts cache list`).
private func collect<T: Sendable>(_ load: (@escaping @Sendable ([T]) -> Void) async throws -> Void) async throws -> [T] {
    let all = Mutex<[T]>([])
    try await load { batch in all.withLock { $0 += batch } }
    return all.withLock { $0 }
}

extension PolicyStore {
    public func loadAll() async throws -> [CachedPolicy] {
        try await collect { try await loadAll(batchSize: storeLoadBatchSize, $0) }
    }

    public func load(_ domain: DomainName) async throws -> CachedPolicy? {
        try await loadAll().first { $0.domain == domain }
    }

    public func close() async {}
}

/// A domain's DANE regime as persisted (the regime and why, not the per-host detail), so that a restart
/// answers at once even when DNS is down.
public struct StoredDANEStatus: Sendable, Hashable {
    public var domain: DomainName
    public var regime: DANEStatus.Regime
    public var reason: String
    public var storedAt: Double
    public var expiresAt: Double

    public init(domain: DomainName, regime: DANEStatus.Regime, reason: String, storedAt: Double, expiresAt: Double) {
        self.domain = domain
        self.regime = regime
        self.reason = reason
        self.storedAt = storedAt
        self.expiresAt = expiresAt
    }
}

/// Persistence for ``DANEStatusCache`` (both policy stores implement it beside ``PolicyStore``).
public protocol DANEStatusStore: Sendable {
    /// Every stored status, handed to `body` in batches of at most `batchSize` (as ``PolicyStore/loadAll(batchSize:_:)``).
    func loadDANEStatuses(batchSize: Int, _ body: @escaping @Sendable ([StoredDANEStatus]) -> Void) async throws
    /// Inserts or replaces the status of its domain.
    func saveDANEStatus(_ status: StoredDANEStatus) async throws
}

extension DANEStatusStore {
    /// Every stored status.
    public func loadDANEStatuses() async throws -> [StoredDANEStatus] {
        try await collect { try await loadDANEStatuses(batchSize: storeLoadBatchSize, $0) }
    }
}

/// Wall-clock time; injected so tests can move it.
public protocol WallClock: Sendable {
    /// Seconds since the Unix epoch.
    func now() -> Double
}
