import Foundation
import Logging
import MTASTSAdminHTTP
import MTASTSCore
import MTASTSDiscovery
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServerSockets
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `mta-sts serve`: the HTTPS policy host for any number of domains. Listeners, the proxy refresher, the
/// file watcher, the admin listener and SIGHUP reloading run as Services; SIGTERM stops accepting and drains.
public final class PolicyHost: Sendable {
    public let metrics = PolicyHostMetrics()
    /// tls-alpn-01 challenge certificates pending validation (RFC 8737), answered by the HTTPS listeners.
    public let challenges = ChallengeCertificates()
    /// http-01 key authorizations answered on every listener (the CA asks the plain one, on port 80).
    public let challengeTokens = ChallengeTokens()
    /// Certificates installed while running (ACME), served by SNI from the next handshake on; kept across reloads.
    public let certificates = ServedCertificates()
    /// ACME orders by outcome (exposed on /metrics when `acme` is configured).
    public let acmeMetrics = ACMEMetrics()
    public let clock: any WallClock
    let discovery: PolicyDiscovery
    let logger: Logger
    /// Nil when `access_log: false`.
    let accessLog: Logger?
    private let stateBox: Mutex<HostState>
    /// Bumped on every reload, so connections re-read ``state`` only when it changed (no lock per request).
    let stateVersion = Atomic(0)
    private let load: @Sendable () throws(PolicyHostConfiguration.Invalid) -> PolicyHostConfiguration
    /// Where each listener bound (port 0 resolved), in configuration order: HTTPS, HTTP, admin.
    public let boundAddresses = Mutex<[String: SocketAddress]>([:])

    /// The routes, certificates and sources in force.
    public var state: HostState { stateBox.withLock { $0 } }

    /// Builds the host from `configuration`, with the network stack's discovery (built by the caller:
    /// `configuration.network.makeStack(dane: false).discovery`) for proxy fetches and MX guards. `load` re-reads the
    /// configuration on SIGHUP. Throws when a policy, a file or a certificate is bad.
    /// `strictFiles` (`serve --check`): an invalid or unreadable policy file throws too, instead of leaving
    /// its domain without a policy (503) while the others are served.
    public init(configuration: PolicyHostConfiguration, discovery: PolicyDiscovery,
                load: @escaping @Sendable () throws(PolicyHostConfiguration.Invalid) -> PolicyHostConfiguration,
                clock: any WallClock = SystemClock(), logger: Logger, strictFiles: Bool = false) throws(PolicyHostConfiguration.Invalid) {
        self.load = load
        self.clock = clock
        self.logger = logger
        var access = logger
        access[metadataKey: "log"] = "access"
        accessLog = configuration.accessLog ? access : nil
        self.discovery = discovery
        let state = try HostState(configuration, previous: nil, metrics: metrics, strictFiles: strictFiles, installed: certificates)
        stateBox = Mutex(state)
        metrics.expiries.withLock { $0 = { [weak self] in self?.servedExpiries() ?? [] } }
        logFileProblems(state)
    }

    /// Logs each policy file that is not served as it is (invalid or unreadable), and what is served instead.
    private func logFileProblems(_ state: HostState) {
        for f in state.files {
            guard let problem = f.problem else { continue }
            logger.error(f.slot.last == nil ? "policy file not valid; nothing to serve for its domains (503)"
                                            : "policy file not valid; serving its last good policy",
                         metadata: ["file": "\(f.path)", "reason": "\(problem)"])
        }
    }

    /// Runs until SIGTERM/SIGINT. Throws when a listener cannot be bound.
    public func run() async throws {
        ProcessLimits.raiseOpenFiles()
        let c = state.configuration
        var services: [any Service] = []
        for l in c.https { services.append(ListenerService(host: self, listen: l, tls: true)) }
        for l in c.http { services.append(ListenerService(host: self, listen: l, tls: false)) }
        if let a = c.admin { services.append(AdminService(host: self, listen: a)) }
        services += [ProxyService(host: self), FileWatchService(host: self), ReloadService(host: self)] as [any Service]
        if c.acme != nil { services.append(ACMEService(host: self)) }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
        try await group.run()
    }

    /// SIGHUP: re-read the configuration, policies, files and certificates; swap them in at once when the
    /// configuration and certificates are valid (connections stay open; new requests and handshakes see the
    /// new state). On such an error the running state stays and the reason is logged. An invalid policy file
    /// holds back only its own domains, which keep their last good policy (logged, and named by /healthz).
    @discardableResult
    public func reload() -> Bool {
        do {
            let fresh = try load()
            let next = try HostState(fresh, previous: state, metrics: metrics, installed: certificates)
            let (old, oldReports) = stateBox.withLock { s in
                defer { s = next }
                return (s.configuration, s.reports)
            }
            // A report store no longer named is released (the same setting keeps its open store).
            if let closed = oldReports?.store, next.reports?.store !== closed { Task { await closed.close() } }
            stateVersion.wrappingAdd(1, ordering: .releasing)
            logFileProblems(next)
            if fresh.https != old.https || fresh.http != old.http || fresh.admin != old.admin {
                logger.warning("listen addresses changed: restart to apply")
            }
            if fresh.network != old.network {
                logger.warning("DNS or CA settings changed: restart to apply")
            }
            logger.info("configuration reloaded", metadata: ["domains": "\(fresh.domains.count)"])
            return true
        } catch {
            logger.error("reload failed; the running configuration stays", metadata: ["reason": "\(error)"])
            return false
        }
    }

    /// Fetches every upstream that is due and re-checks MX guards; returns when the next fetch is due.
    public func refreshUpstreams() async -> Double {
        let s = state
        let now = clock.now()
        let due = s.upstreams.values.filter { $0.due <= now }
        await withTaskGroup(of: Void.self) { group in
            for u in due {
                group.addTask { [self] in
                    let (outcome, reason) = await u.refresh(discovery: discovery, clock: clock)
                    metrics.recordFetch(upstream: u.domain, outcome: outcome)
                    if outcome == .valid {
                        logger.debug("upstream policy fetched", metadata: ["upstream": "\(u.domain)"])
                    } else {
                        let served = u.slot.current(now: clock.now()) != nil
                        logger.warning(served ? "upstream fetch failed; serving the last good copy" : "upstream fetch failed; nothing valid to serve (503)",
                                       metadata: ["upstream": "\(u.domain)", "outcome": "\(outcome.rawValue)", "reason": "\(reason ?? "")"])
                    }
                }
            }
        }
        return s.upstreams.values.map(\.due).min() ?? .infinity
    }

    /// Checks every MX guard whose upstream has a policy.
    public func checkGuards() async {
        for (g, u) in state.guards {
            guard let policy = u.slot.last?.policy else { continue }
            let before = g.current
            let after = await g.check(policy: policy, resolver: discovery.resolver)
            if after != before {
                logger.notice("MX guard", metadata: ["domain": "\(g.domain)", "state": "\(after)"])
            }
        }
    }

    /// Re-reads changed policy files (an unchanged invalid or unreadable file is logged once, not every time).
    public func checkFiles() {
        for f in state.files {
            let before = f.problem
            do {
                if try f.reload() != nil { logger.notice("policy file changed; serving the new policy", metadata: ["file": "\(f.path)"]) }
            } catch {
                if f.problem != before {
                    logger.error("policy file changed but is not valid; serving the previous policy", metadata: ["file": "\(f.path)", "reason": "\(error)"])
                }
            }
        }
    }

    /// The admin listener's `/healthz`: 200 when every domain has a policy to serve and every policy file is
    /// served as written and no served certificate expires within 7 days (``CertificateExpiry/warning``), else 503
    /// with one line per problem.
    public func health() -> AdminListener.Reply {
        let s = state, now = clock.now()
        var problems: [String] = []
        let missing = s.unavailable(now: now)
        if !missing.isEmpty { problems.append("no policy to serve for: " + missing.map(\.value).joined(separator: " ")) }
        for f in s.files {
            guard let problem = f.problem else { continue }
            problems.append("policy file not served as written (" + (f.slot.last == nil ? "nothing to serve" : "its last good policy is served") + "): \(problem)")
        }
        problems += servedExpiries().compactMap { $0.problem(now: now) }
        if problems.isEmpty { return .init(body: "ok\n") }
        return .init(status: .serviceUnavailable, body: problems.joined(separator: "\n") + "\n")
    }

    /// The server bootstrap for one listener (TLS when `tls`).
    func bind(_ listen: PolicyHostConfiguration.Listen, tls: Bool) async throws -> any Channel {
        let timeout = TimeAmount.nanoseconds(Int64(state.configuration.requestTimeout * 1e9))
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 4096)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    if tls {
                        // The TLS handler fitting the ClientHello (ordinary, or a tls-alpn-01 validation) takes its place.
                        guard state.tls != nil else { throw ChannelError.ioOnClosedChannel }
                        try ops.addHandler(ClientHelloSniffer(host: self))
                    }
                    try ops.addHandler(PolicyRequestHandler(host: self, requestTimeout: timeout))
                }
            }
            .bindListening(host: listen.host, port: listen.port)
    }
}

/// One listener; on graceful shutdown stops accepting and gives responses in flight a moment.
struct ListenerService: Service {
    let host: PolicyHost
    let listen: PolicyHostConfiguration.Listen
    let tls: Bool

    func run() async throws {
        let channel = try await host.bind(listen, tls: tls)
        let name = (tls ? "https " : "http ") + "\(listen)"
        if let address = channel.localAddress { host.boundAddresses.withLock { $0[name] = address } }
        host.logger.notice("listening", metadata: ["listener": "\(name)", "address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        try? await gracefulShutdown()
        try? await channel.close()
        try? await Task.sleep(for: .milliseconds(200))
    }
}

struct AdminService: Service {
    let host: PolicyHost
    let listen: PolicyHostConfiguration.Listen

    func run() async throws {
        let (metrics, acme) = (host.metrics, host.state.configuration.acme == nil ? nil : host.acmeMetrics)
        let channel = try await AdminListener(routes: [
            "/metrics": { .prometheus(metrics.exposition() + (acme?.exposition() ?? "")) },
            "/healthz": { [host] in host.health() },
        ], idleTimeout: .nanoseconds(Int64(host.state.configuration.requestTimeout * 1e9))).serve(host: listen.host, port: listen.port)
        if let address = channel.localAddress { host.boundAddresses.withLock { $0["admin"] = address } }
        host.logger.notice("admin listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// Fetches upstream policies when due (at start, then before they expire) and re-checks MX guards.
struct ProxyService: Service {
    let host: PolicyHost

    func run() async throws {
        var lastGuardCheck = -Double.infinity
        while !Task.isCancelled {
            let hadPolicies = host.state.guards.map { $0.1.slot.last?.body }
            let next = await host.refreshUpstreams()
            let now = host.clock.now()
            let changed = host.state.guards.map { $0.1.slot.last?.body } != hadPolicies
            if !host.state.guards.isEmpty && (changed || now - lastGuardCheck >= host.state.configuration.mxGuardInterval
                                                || host.state.guards.contains { $0.0.current == .unknown }) {
                await host.checkGuards()
                lastGuardCheck = now
            }
            // Wake at the next due fetch, at least once a second (new upstreams after a reload, guards).
            let wait = max(0.05, min(1, next - host.clock.now()))
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) } } catch { return }
        }
    }
}

/// Re-reads policy files every `file_check_interval` seconds.
struct FileWatchService: Service {
    let host: PolicyHost

    func run() async throws {
        while !Task.isCancelled {
            let interval = host.state.configuration.fileCheckInterval
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int(interval * 1000))) } } catch { return }
            host.checkFiles()
        }
    }
}

/// SIGHUP reloads configuration, policies and certificates without dropping connections.
struct ReloadService: Service {
    let host: PolicyHost

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            host.reload()
        }
    }
}
