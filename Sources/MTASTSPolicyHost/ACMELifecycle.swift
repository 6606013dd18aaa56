import Foundation
import Logging
import MTASTSACME
import MTASTSCertificateStore
import MTASTSCore
import MTASTSDiscovery
import MTASTSStorePostgres

/// Issue 12, item 4: gets and renews the `mta-sts.<domain>` certificates of the configured ACME domains. Each
/// ``tick(domains:zone:)`` (at start, after SIGHUP, then every minute) loads each name's certificate from the store and
/// installs it when it changed (a fleet host's or a restart's), and orders when it is missing or due, after the DNS
/// precheck and under the store's order lock. Failures back off per name; they never touch the other names.
public actor ACMELifecycle {
    struct NameState {
        var installedPEM: String?
        var renewAt: Date?
        var failures = 0
        var nextAttempt = Date.distantPast
        /// The CA's Retry-After (RFC 8555 §6.6): not even a renewal request orders sooner.
        var notBeforeCA = Date.distantPast
        var lastError: String?
    }

    let settings: PolicyHostConfiguration.ACME
    let store: any CertificateStore
    let resolver: any DNSResolver
    let challenges: ChallengeCertificates
    let tokens: ChallengeTokens
    let install: @Sendable (DomainName, StoredCertificate) throws -> Void
    let metrics: ACMEMetrics
    let logger: Logger
    let now: @Sendable () -> Date
    let requests: RenewalQueue?
    /// Nil: HTTPS to `settings.directory` (`NIOACMETransport`); tests give an in-memory CA.
    let transport: (any ACMETransport)?
    private var names: [String: NameState] = [:]
    private var client: ACMEClient?
    private var registered = false
    /// Whether the directory offers ARI, asked at most once per tick (a CA that is down delays one name, not each).
    private var ariOffered: Bool?

    public init(settings: PolicyHostConfiguration.ACME, store: any CertificateStore, resolver: any DNSResolver,
                challenges: ChallengeCertificates, tokens: ChallengeTokens, metrics: ACMEMetrics, logger: Logger,
                now: @escaping @Sendable () -> Date = { Date() }, transport: (any ACMETransport)? = nil,
                install: @escaping @Sendable (DomainName, StoredCertificate) throws -> Void) {
        self.settings = settings
        self.store = store
        self.resolver = resolver
        self.challenges = challenges
        self.tokens = tokens
        self.install = install
        self.metrics = metrics
        self.logger = logger
        self.now = now
        self.transport = transport
        requests = RenewalQueue(settings.storage, store: store)
        if case .files(let files) = requests { try? files.prepare() }
    }

    /// The store `acme.storage` names (a PostgreSQL store is prepared: its table created when missing).
    public static func openStore(_ settings: PolicyHostConfiguration.ACME) async throws -> any CertificateStore {
        switch settings.storage {
        case .directory(let path): return try DirectoryCertificateStore(directory: path)
        case .postgres(let url):
            let store = try PostgresCertificateStore(url: url)
            try await store.prepare()
            return store
        }
    }

    /// One pass over `domains` (only configured names are ever ordered).
    public func tick(domains: [DomainName], zone: PolicyHostConfiguration.ZoneSettings) async {
        let requested = await requests?.pending() ?? []
        ariOffered = nil
        for domain in domains {
            guard let host = domain.policyHost else { continue }
            await step(domain, name: host.value, zone: zone, requested: requested.contains(host.value))
        }
    }

    /// When the next order for `name` may be tried, and the last failure (for logs and `certs list`).
    public func status(name: String) -> (renewAt: Date?, nextAttempt: Date, lastError: String?) {
        let s = names[name] ?? NameState()
        return (s.renewAt, s.nextAttempt, s.lastError)
    }

    private func step(_ domain: DomainName, name: String, zone: PolicyHostConfiguration.ZoneSettings, requested: Bool) async {
        let log = logger.with(["domain": "\(domain)", "name": "\(name)"])
        var state = names[name] ?? NameState()
        defer { names[name] = state }
        do {
            if let stored = try await store.loadCertificate(name: name), stored.chainPEM != state.installedPEM {
                try await adopt(stored, domain: domain, state: &state)
                log.info("ACME certificate installed from the store", metadata: ["renew_at": "\(state.renewAt.map { "\($0)" } ?? "?")"])
            }
        } catch {
            // A corrupt stored certificate is never served; a new order replaces it.
            log.error("stored certificate not usable", metadata: ["reason": "\(error)"])
            state.installedPEM = nil
            state.renewAt = nil
        }
        let t = now()
        let due = state.renewAt.map { t >= $0 } ?? true
        // A renewal request skips the schedule and the backoff, never the CA's own Retry-After.
        guard requested || due, t >= state.nextAttempt || requested, t >= state.notBeforeCA else { return }

        let resolution = await resolve(name)
        if case .notHere(let why) = ACMESchedule.precheck(name: name, resolution, zone: zone) {
            metrics.record(.skippedDNS)
            log.warning("not ordering a certificate: the name does not point at this host; retrying later", metadata: ["reason": "\(why)"])
            fail(&state, why, retryAfter: nil)
            try? await store.saveStatus(name: name, lastError: why, at: t)
            return
        }
        do {
            let replaces = (try? state.installedPEM.map(IssuedChain.init(pem:)))??.renewalCertificateID
            let known = state.installedPEM
            let outcome = try await store.withOrderLock(name: name) { [self] in
                try await order(name: name, replaces: replaces, known: known, requested: requested)
            }
            switch outcome {
            case nil:
                metrics.record(.skippedLocked)
                log.info("another host is ordering this name; loading it from the store later")
                state.nextAttempt = t + ACMESchedule.tickInterval
            case .current?:
                return
            case .loaded(let stored)?:
                try await adopt(stored, domain: domain, state: &state)
                (state.failures, state.nextAttempt, state.lastError) = (0, .distantPast, nil)
                log.info("ACME certificate installed from the store (another host ordered it)")
            case .issued(let issued)?:
                try await adopt(issued, domain: domain, state: &state)
                metrics.record(.issued)
                (state.failures, state.nextAttempt, state.lastError) = (0, .distantPast, nil)
                try? await store.saveStatus(name: name, lastError: nil, at: now())
                log.notice("ACME certificate issued and installed", metadata: ["renew_at": "\(state.renewAt.map { "\($0)" } ?? "?")"])
            }
        } catch {
            metrics.record(.failed)
            // RFC 8555 §6.6: a rate-limited (or otherwise refused) order waits at least as long as the CA asked.
            let retryAfter = (error as? ACMEProblem)?.retryAfter.map { Double($0.components.seconds) }
            fail(&state, "\(error)", retryAfter: retryAfter)
            try? await store.saveStatus(name: name, lastError: "\(error)", at: t)
            var metadata: Logger.Metadata = ["reason": "\(error)", "retry_at": "\(state.nextAttempt)", "failures": "\(state.failures)"]
            if let problem = error as? ACMEProblem {
                metadata["problem"] = "\(problem.type)"
                // A refusal of the request itself (not a failed challenge, which names its identifier): the CA no longer
                // knows the account (a CA reset: registering again with the same key recovers) or refuses it
                // (deactivated or revoked: only a new account key does; never made without the operator).
                if problem.identifier == nil, problem.isACME("accountDoesNotExist") || problem.isACME("unauthorized") {
                    registered = false
                    let key = switch settings.storage {
                    case .directory(let path): "move \(path)/account.key aside"
                    case .postgres: "delete the row of mta_sts_acme_account"
                    }
                    metadata["hint"] = "if the ACME account was deactivated or revoked, \(key) and restart: serve registers a new account"
                }
            }
            log.error("ACME order failed; retrying with backoff", metadata: metadata)
        }
    }

    private func fail(_ state: inout NameState, _ reason: String, retryAfter: Double?) {
        state.failures += 1
        state.lastError = reason
        state.nextAttempt = now() + ACMESchedule.backoff(failures: state.failures, retryAfter: retryAfter)
        state.notBeforeCA = retryAfter.map { now() + $0 } ?? .distantPast
    }

    enum OrderOutcome: Sendable {
        /// Ordered and saved here.
        case issued(StoredCertificate)
        /// Another holder of the lock saved it just before (a fleet host, or this host's earlier tick).
        case loaded(StoredCertificate)
        /// A renewal request another host has already served, whose certificate is installed here.
        case current
    }

    /// Orders under the lock; first re-reads the store, as another holder may have just saved a certificate that is not
    /// due, or served the renewal request (its request is gone: it is not ordered twice).
    private func order(name: String, replaces: String?, known: String?, requested: Bool) async throws -> OrderOutcome {
        let served = requested ? await requests?.pending().contains(name) == false : false
        if !requested || served, let stored = try await store.loadCertificate(name: name), stored.chainPEM != known { return .loaded(stored) }
        if served { return .current }
        let client = try await registeredClient()
        let issued = try await client.issue(dnsNames: [name], challengeType: settings.challenge,
                                            responder: PolicyHostChallengeResponder(challenges: challenges, tokens: tokens,
                                                                                    shared: store as? any SharedCertificateStore),
                                            replaces: replaces)
        let certificate = StoredCertificate(chainPEM: issued.chain.pem, keyPEM: issued.privateKeyPEM)
        try await store.saveCertificate(certificate, name: name)
        await requests?.clear(name)  // still under the lock: no other host orders the same request again
        return .issued(certificate)
    }

    /// Installs `certificate` (refused when it does not match its key or name) and sets when it is due.
    private func adopt(_ certificate: StoredCertificate, domain: DomainName, state: inout NameState) async throws {
        let chain = try IssuedChain(pem: certificate.chainPEM)
        try install(domain, certificate)
        state.installedPEM = certificate.chainPEM
        var window: (start: Date, end: Date)?
        if let id = chain.renewalCertificateID, let client = try? await plainClient() {
            if ariOffered == nil { ariOffered = (try? await client.directory().renewalInfo) != nil }
            if ariOffered == true, let info = try? await client.renewalInfo(certificateID: id) {
                window = (info.windowStart, info.windowEnd)
            }
        }
        state.renewAt = ACMESchedule.renewalTime(notBefore: chain.notBefore, notAfter: chain.notAfter, window: window,
                                                 jitter: Double.random(in: 0..<1))
    }

    private func resolve(_ name: String) async -> ACMESchedule.Resolution {
        var r = ACMESchedule.Resolution(addresses: [])
        for type in [DNSRecordType.a, .aaaa] {
            let answer = await resolver.query(name, type)
            switch answer.result {
            case .records(let rdata): r.addresses += rdata.compactMap { DNSRecordData.address($0)?.description }
            case .failure(let why): r.failure = why
            case .nxdomain, .nodata: break
            }
            if let c = answer.canonicalName { r.canonicalName = c }
        }
        if !r.addresses.isEmpty { r.failure = nil }
        return r
    }

    /// The client with the stored account key (made and saved on first use; the first saved wins across hosts).
    private func plainClient() async throws -> ACMEClient {
        if let client { return client }
        let pem: String
        if let stored = try await store.loadAccountKey() { pem = stored } else { pem = try await store.saveAccountKey(AccountKey().pem) }
        let transport = try self.transport ?? NIOACMETransport(.init(extraTrustRootsFile: settings.caFile))
        let made = ACMEClient(directoryURL: settings.directory, accountKey: try AccountKey(pem: pem), transport: transport)
        client = made
        return made
    }

    private func registeredClient() async throws -> ACMEClient {
        let client = try await plainClient()
        if !registered {
            _ = try await client.createAccount(contact: settings.contact)  // the existing account when the key has one
            registered = true
        }
        return client
    }
}

private extension Logger {
    func with(_ metadata: Logger.Metadata) -> Logger {
        var l = self
        for (k, v) in metadata { l[metadataKey: k] = v }
        return l
    }
}
