import Foundation
import Logging
import MTASTSCore
import MTASTSDiscovery
import MTASTSRuntime
import MTASTSStubDNS
import NIOCore
import NIOPosix
import PostfixSocketmap
import ServerSockets
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `mta-sts resolver`: the socketmap server, the policy cache with its store, the maintenance loop, an
/// optional metrics listener, SIGTERM draining and SIGHUP reloading, composed as Services.
public final class ResolverDaemon: Sendable {
    public let configuration: ResolverConfiguration
    public let cache: PolicyCache
    public let responder: ResolverResponder
    public let metrics: ResolverMetrics
    /// The DANE statuses of enforced domains (nil when DNSSEC is off).
    public let dane: DANEStatusCache?
    private let stack: NetworkStack
    private let store: (any PolicyStore)?
    private let logger: Logger
    private let reloadConfiguration: @Sendable () throws -> ResolverConfiguration
    /// Where the socketmap server listens once bound (port 0 resolved).
    public let boundAddress = Mutex<SocketAddress?>(nil)

    /// Assembles the daemon from its parts, built by the caller (the CLI's composition: `configuration.network
    /// .makeStack(dane: true)`, `configuration.cache.open(for: .daemon, ...)`). `reload` re-reads the configuration
    /// (file and flags) on SIGHUP; only zones and reply options change without a restart.
    public init(configuration: ResolverConfiguration, stack: NetworkStack, store: (any PolicyStore)?, logger: Logger,
                clock: any WallClock = SystemClock(), reload: @escaping @Sendable () throws -> ResolverConfiguration) {
        self.configuration = configuration
        self.stack = stack
        self.store = store
        self.logger = logger
        self.reloadConfiguration = reload
        let metricsBox = Mutex<ResolverMetrics?>(nil)
        let log = logger
        let capWarning = CapWarning(limit: configuration.cacheSettings.maxDiscoveries)
        cache = PolicyCache(discovery: stack.discovery, store: store, clock: clock,
                            settings: configuration.cacheSettings, onEvent: { event in
                                ResolverDaemon.log(event, log)
                                if case .discoveryCapped = event { capWarning.note(log) }
                                metricsBox.withLock { $0 }?.record(event)
                            })
        let cacheRef = cache
        let m = ResolverMetrics(cacheSize: { cacheRef.count })
        metricsBox.withLock { $0 = m }
        metrics = m
        let daneStore = store as? any DANEStatusStore
        dane = stack.daneResolver.map { daneResolver in
            DANEStatusCache(resolver: daneResolver, clock: clock, store: daneStore, onStatus: { domain, status in
                ResolverDaemon.log(domain, status, log)
                m.record(status)
            }, onStoreError: { reason in
                log.error("cache store error", metadata: ["reason": "\(reason)"])
                m.count(.storeError)
            })
        }
        responder = ResolverResponder(cache: cacheRef, dane: dane, defaultZone: configuration.defaultZone, zones: configuration.zones,
                                      metrics: m, logger: logger)
    }

    /// Every failure is logged with its reason; a failed refresh of a policy in force is an alert (RFC 8461 §10.2).
    public static func log(_ event: PolicyCache.Event, _ logger: Logger) {
        switch event {
        case .fetched(let d, let id, let mode):
            logger.info("policy fetched", metadata: ["domain": "\(d)", "id": "\(id)", "mode": "\(mode.rawValue)"])
        case .fetchFailed(let d, let id, let outcome, let reason):
            logger.warning("policy fetch failed", metadata: ["domain": "\(d)", "id": "\(id)", "outcome": "\(outcome.rawValue)",
                                                             "reason": "\(reason)"])
        case .refreshFailed(let d, let reason, let expired):
            logger.error(expired ? "ALERT: cached policy expired and could not be refreshed; the domain is now unprotected"
                                 : "ALERT: cached policy could not be refreshed; still enforcing the cached one",
                         metadata: ["domain": "\(d)", "reason": "\(reason)"])
        case .noPolicy(let d, let outcome, let reason):
            logger.debug("no policy", metadata: ["domain": "\(d)", "outcome": "\(outcome.rawValue)", "reason": "\(reason)"])
        case .revalidated(let d):
            logger.trace("TXT id checked", metadata: ["domain": "\(d)"])
        case .discoveryCapped(let d):
            // At debug: a flood would be a flood of lines too. ``CapWarning`` says it at most once a minute.
            logger.debug("max_discoveries in flight: no policy lookup, NOTFOUND", metadata: ["domain": "\(d)"])
        case .storeError(let reason):
            logger.error("cache store error", metadata: ["reason": "\(reason)"])
        }
    }

    /// DANE takes precedence (RFC 8461 §2): which regime an enforced domain is under, and why.
    static func log(_ domain: DomainName, _ status: DANEStatus, _ logger: Logger) {
        let metadata: Logger.Metadata = ["domain": "\(domain)", "regime": "\(status.regime.rawValue)", "reason": "\(status.reason)"]
        switch status.regime {
        case .dane: logger.info("DANE applies: replying with the DANE level instead of the MTA-STS policy", metadata: metadata)
        case .deferred: logger.error("DANE cannot be evaluated: deferring the domain's mail (TEMP)", metadata: metadata)
        case .mtaSTS: logger.debug("DANE does not apply", metadata: metadata)
        }
    }

    /// Runs until SIGTERM/SIGINT, then drains and closes the store. Throws when the listener cannot be bound. A store
    /// that cannot be loaded (a fleet's PostgreSQL down) does not stop it: it serves from memory and discovery and
    /// ``StoreRecoveryService`` loads the store, and writes back what was learnt meanwhile, once it answers.
    public func run() async throws {
        do { try await serve() } catch {
            await shutdown()
            throw error
        }
        await shutdown()
    }

    /// Closes the store's connections (after run(), or when only the cache was used, as `mta-sts cache refresh` does).
    public func shutdown() async { await store?.close() }

    private func serve() async throws {
        fixMallocThresholds()
        let files = ProcessLimits.raiseOpenFiles()
        logger.debug("open files limit", metadata: ["soft": "\(files)"])
        do {
            try await cache.load()
            logger.info("cache loaded", metadata: ["policies": "\(cache.count)", "store": "\(configuration.cache)"])
        } catch {
            // Postfix fails closed on the map: better a daemon without its store than no daemon.
            metrics.count(.storeError)
            logger.error("cannot load the cache store: serving from memory and discovery, retrying the store with backoff",
                         metadata: ["store": "\(configuration.cache)", "reason": "\(error)"])
        }
        if let dane, cache.storeAvailable {
            do { try await dane.load(canonicalName: { [cache] in cache.canonicalName($0) }) } catch { logger.error("cannot load the DANE statuses", metadata: ["reason": "\(error)"]) }
        }
        _ = mallocTrim?(0)  // the decoded rows are gone: their memory goes back before serving
        let check = await stack.dnssecMode.selfCheck(dane: stack.daneResolver ?? NoDNS(), anchor: stack.trustAnchor)
        if check.ok { logger.info("\(check.message)") } else { logger.warning("\(check.message)") }
        let endpoint: SocketmapServer.Endpoint
        switch configuration.listen {
        case .tcp(let host, let port): endpoint = .tcp(host: host, port: port)
        case .unix(let path, let mode, let owner, let group):
            endpoint = .unix(path: path, mode: mode, owner: owner.flatMap(Self.userID), group: group.flatMap(Self.groupID))
        }
        // The socketmap connections' own threads (policy fetches use NIO's shared group), stopped when serving ends,
        // before the store closes.
        let listenGroup = MultiThreadedEventLoopGroup(numberOfThreads: configuration.listenThreads)
        defer { listenGroup.shutdownGracefully { _ in } }
        let server = SocketmapServer(.init(endpoint: endpoint, idleTimeout: .nanoseconds(Duration.seconds(configuration.idleTimeout).nanoseconds)),
                                     responder: responder, group: listenGroup)
        var services: [any Service] = [
            SocketmapService(server: server, daemon: self, logger: logger),
            MaintenanceService(cache: cache, proactive: configuration.proactiveRefresh, logger: logger),
            MemoryTrimService(metrics: metrics),
            ReloadService(daemon: self, logger: logger),
        ]
        if store != nil { services.append(StoreRecoveryService(cache: cache, logger: logger)) }
        if let m = configuration.metricsListen { services.append(MetricsService(metrics: metrics, host: m.host, port: m.port, logger: logger)) }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
                                 logger: logger)
        try await group.run()
    }

    /// SIGHUP: re-read the file (and flags); zones and reply options change at once. A changed listen
    /// address or cache needs a restart, which is logged.
    func reload() {
        do {
            let fresh = try reloadConfiguration()
            responder.reconfigure(defaultZone: fresh.defaultZone, zones: fresh.zones)
            if fresh.listen != configuration.listen || fresh.cache != configuration.cache {
                logger.warning("listen address or cache changed: restart the daemon to apply")
            }
            if fresh.network != configuration.network {
                logger.warning("DNS or CA settings changed: restart the daemon to apply (SIGHUP reloads zones only)")
            }
            logger.info("configuration reloaded", metadata: ["zones": "\(fresh.zones.keys.sorted())"])
        } catch {
            logger.error("reload failed; the running configuration stays", metadata: ["reason": "\(error)"])
        }
    }

    static func userID(_ name: String) -> UInt32? { UInt32(name) ?? getpwnam(name).map { $0.pointee.pw_uid } }
    static func groupID(_ name: String) -> UInt32? { UInt32(name) ?? getgrnam(name).map { $0.pointee.gr_gid } }
}

/// Says that the discovery cap was reached, at most once a minute.
private final class CapWarning: Sendable {
    let limit: Int
    private let last = Mutex<ContinuousClock.Instant?>(nil)
    init(limit: Int) { self.limit = limit }

    func note(_ logger: Logger) {
        let now = ContinuousClock.now
        let due = last.withLock { last in
            guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
            last = now
            return true
        }
        if due {
            logger.warning("max_discoveries policy lookups in flight: lookups of further new domains answer NOTFOUND at once (see mtasts_discoveries_capped_total)",
                           metadata: ["max_discoveries": "\(limit)"])
        }
    }
}

/// Binds the socketmap listener; on graceful shutdown stops accepting and lets pending lookups finish.
struct SocketmapService: Service {
    let server: SocketmapServer
    let daemon: ResolverDaemon
    let logger: Logger

    func run() async throws {
        let channel = try await server.bind()
        daemon.boundAddress.withLock { $0 = channel.localAddress }
        logger.notice("listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        try? await gracefulShutdown()
        logger.notice("shutting down: no new connections")
        try? await channel.close()
        // Give lookups in flight a moment to be answered (Postfix retries on a fresh connection anyway).
        try? await Task.sleep(for: .milliseconds(min(500, Int(daemon.configuration.shutdownTimeout * 1000))))
    }
}

/// Once a minute: usage times to the store, external changes in, eviction, due refreshes.
struct MaintenanceService: Service {
    let cache: PolicyCache
    let proactive: Bool
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled {
            // Wakes at once on SIGTERM instead of finishing the minute.
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(60)) } } catch { return }
            let refreshed = await cache.maintain(maxRefreshes: proactive ? 100 : 0)
            if !refreshed.isEmpty { logger.info("proactive refresh", metadata: ["domains": "\(refreshed.count)"]) }
        }
    }
}

/// While the store does not answer (down at start, or a write failed): a sync with backoff (1 s doubling to 30 s)
/// until it does, which loads it and writes back the policies fetched meanwhile. Lookups never wait for it.
struct StoreRecoveryService: Service {
    let cache: PolicyCache
    let logger: Logger

    func run() async throws {
        var wait = 1.0
        while !Task.isCancelled {
            let delay = cache.storeAvailable ? 1.0 : wait
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(delay * 1000))) } } catch { return }
            guard !cache.storeAvailable else {
                wait = 1
                continue
            }
            if await cache.syncStore() {
                logger.notice("the cache store answers again: loaded, and the policies fetched meanwhile written to it",
                              metadata: ["policies": "\(cache.count)"])
                wait = 1
            } else {
                wait = min(wait * 2, 30)
            }
        }
    }
}

/// glibc keeps the memory freed by busy threads in their arenas (TLS handshakes, HTTP and DNS buffers of a
/// burst of misses or refreshes): RSS would stay at the burst's peak. Once a burst has ended (a second without
/// misses, fetches, TXT id checks or DANE lookups after some), the free memory goes back to the system, so RSS follows the
/// cache's real size. Hits do not count: they allocate nothing that outlives them.
struct MemoryTrimService: Service {
    let metrics: ResolverMetrics
    private static let activity: [ResolverMetrics.Counter] = [
        .miss, .fetchValid, .fetchError, .fetchWebPKI, .fetchPolicyInvalid, .daneApplies, .daneNotApplicable, .daneDeferred,
        .revalidation,
    ]

    func run() async throws {
        func activity() -> Int { Self.activity.reduce(0) { $0 + metrics.value($1) } }
        var trimmedAt = activity()
        var last = trimmedAt
        var quietTicks = 0
        var lastTrim = ContinuousClock.now
        while !Task.isCancelled {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(500)) } } catch { return }
            let now = activity()
            quietTicks = now == last ? quietTicks + 1 : 0
            last = now
            // Quiet for a second (two ticks): closed TLS connections have released their state (a 500 ms close). At
            // most every 10 s: the trim locks each malloc arena in turn.
            guard quietTicks >= 2, now != trimmedAt, ContinuousClock.now - lastTrim >= .seconds(10) else { continue }
            trimmedAt = now
            lastTrim = .now
            _ = mallocTrim?(0)
        }
    }
}

/// A glibc function that Swift's Glibc module map does not export, looked up by name; nil elsewhere.
private func glibcFunction<F>(_ name: String, as type: F.Type) -> F? {
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}

/// glibc's `malloc_trim`, looked up once.
private let mallocTrim = glibcFunction("malloc_trim", as: (@convention(c) (Int) -> Int32).self)

/// glibc raises its mmap and trim thresholds whenever a large block is freed (up to 32 and 64 MiB): once the cache's
/// tables have grown a few times (each growth frees the old table), blocks of many MiB come from the thread arenas,
/// and an arena's free top (which `malloc_trim` leaves alone outside the main arena) is kept up to the trim
/// threshold: tens of MiB that are never returned. Fixing both at glibc's initial 128 KiB keeps large blocks in
/// their own mappings and lets free arena memory go back to the system. No-op outside glibc.
private func fixMallocThresholds() {
    guard let mallopt = glibcFunction("mallopt", as: (@convention(c) (Int32, Int32) -> Int32).self) else { return }
    _ = mallopt(-3 /* M_MMAP_THRESHOLD */, 128 << 10)
    _ = mallopt(-1 /* M_TRIM_THRESHOLD */, 128 << 10)
}

/// SIGHUP reloads the configuration.
struct ReloadService: Service {
    let daemon: ResolverDaemon
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            daemon.reload()
        }
    }
}

struct MetricsService: Service {
    let metrics: ResolverMetrics
    let host: String
    let port: Int
    let logger: Logger

    func run() async throws {
        let channel = try await metrics.serve(host: host, port: port)
        logger.notice("metrics listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// Answers nothing (the self-check of DNSSEC `off` asks no question).
private struct NoDNS: DNSResolver {
    func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer { DNSAnswer(.failure("DNSSEC off")) }
}
