import Foundation
import MTASTSCertificates
import MTASTSCore
import MTASTSDiscovery
import NIOSSL
import Synchronization

/// Everything the request path reads, built from one configuration and swapped whole on reload: routes by
/// lowercased `mta-sts.<domain>`, the TLS context with its SNI certificate table, and the sources that change
/// over time (files, upstreams, MX guards) for the background services.
public final class HostState: Sendable {
    public let configuration: PolicyHostConfiguration
    public let routes: [String: Route]
    public let files: [FileSource]
    public let upstreams: [DomainName: ProxyUpstream]
    /// Each guarded domain with its upstream.
    public let guards: [(MXGuard, ProxyUpstream)]
    /// Nil when no HTTPS listener is configured.
    public let tls: NIOSSLContext?
    /// What each domain's SNI name is answered with (its own certificate or the default), for judging them.
    public let served: [ServedCertificate]
    /// The report hosts (`reports:`); nil: no name accepts a request body.
    public let reports: ReportIntake?

    /// Builds the state. Files are read and validated and certificates loaded now. A bad configuration or
    /// certificate throws (on reload the running state then stays). A policy file that cannot be read or is
    /// invalid throws only when `strictFiles` (`serve --check`); otherwise that domain keeps the last good
    /// policy of `previous` (503 when it has none), the file's ``FileSource/problem`` says why, and every other
    /// domain's change applies. Upstreams of `previous` with the same domain are kept with their last good copy.
    /// `installed`: certificates set while running (ACME), looked up by SNI after the configuration's own.
    public init(_ c: PolicyHostConfiguration, previous: HostState?, metrics: PolicyHostMetrics,
                strictFiles: Bool = false, installed: ServedCertificates? = nil) throws(PolicyHostConfiguration.Invalid) {
        configuration = c
        var routes: [String: Route] = [:]
        var files: [String: FileSource] = [:]
        var upstreams: [DomainName: ProxyUpstream] = [:]
        var guards: [(MXGuard, ProxyUpstream)] = []
        let timing = ProxyUpstream.Timing(refresh: c.proxyRefresh, retry: c.proxyRetry)
        for d in c.domains {
            let host = d.name.policyHost!.value
            let slot: PolicySlot
            var mxGuard: MXGuard?
            switch d.source {
            case .fixed(let policy):
                slot = PolicySlot(policy: policy, body: Array(policy.text.utf8), cacheControl: c.cacheControl)
            case .file(let path):
                if let f = files[path] { slot = f.slot } else {
                    let f = FileSource(path: path, cacheControl: c.cacheControl)
                    do { try f.reload() } catch {
                        if strictFiles { throw error }
                        if let good = previous?.files.first(where: { $0.path == path })?.slot.last { f.keep(good) }
                    }
                    files[path] = f
                    slot = f.slot
                }
            case .proxy(let upstream, let guarded):
                let u = upstreams[upstream] ?? previous?.upstreams[upstream]
                    ?? ProxyUpstream(domain: upstream, timing: timing, cacheControl: c.cacheControl)
                upstreams[upstream] = u
                slot = u.slot
                if guarded {
                    let g = previous?.guards.first(where: { $0.0.domain == d.name })?.0 ?? MXGuard(domain: d.name)
                    mxGuard = g
                    guards.append((g, u))
                }
            }
            routes[host] = Route(domain: d.name, slot: slot, mxGuard: mxGuard, counters: metrics.counters(host: host))
        }
        self.routes = routes
        self.files = files.values.sorted { $0.path < $1.path }
        self.upstreams = upstreams
        self.guards = guards
        reports = c.reports.map { ReportIntake($0, previous: previous?.reports) }
        (tls, served) = c.https.isEmpty ? (nil, []) : try Self.makeTLS(c, installed: installed)
    }

    /// The server TLS context: the default certificate, TLS 1.2 or later (RFC 8461 §7.2), and per-domain
    /// certificates chosen by SNI (RFC 8461 §7.1: the chain must match `mta-sts.<domain>`): the configuration's,
    /// then those `installed` while running. An unknown SNI name gets the default certificate.
    static func makeTLS(_ c: PolicyHostConfiguration, installed: ServedCertificates? = nil) throws(PolicyHostConfiguration.Invalid) -> (NIOSSLContext, [ServedCertificate]) {
        guard let d = c.certificate else { throw .init("an HTTPS listener needs the default certificate and key") }
        let (chain, key) = try load(d)
        let defaultDER = chain.map { (try? $0.toDERBytes()) ?? [] }
        var table: [String: NIOSSLContextConfigurationOverride] = [:]
        var served: [ServedCertificate] = []
        for domain in c.domains {
            guard let cert = domain.certificate else {
                served.append(ServedCertificate(domain: domain.name, file: d.chain, chain: defaultDER))
                continue
            }
            let (chain, key) = try load(cert)
            served.append(ServedCertificate(domain: domain.name, file: cert.chain, chain: chain.map { (try? $0.toDERBytes()) ?? [] }))
            var o = NIOSSLContextConfigurationOverride()
            o.certificateChain = chain.map { .certificate($0) }
            o.privateKey = .privateKey(key)
            table[domain.name.policyHost!.value] = o
        }
        // Report hosts (RFC 8460 §3: the sender checks the rua URI's host as any HTTPS client does).
        for host in c.reports?.hosts ?? [] {
            guard let cert = host.certificate else {
                served.append(ServedCertificate(domain: host.name, file: d.chain, chain: defaultDER, reportHost: host.name))
                continue
            }
            let (chain, key) = try load(cert)
            served.append(ServedCertificate(domain: host.name, file: cert.chain, chain: chain.map { (try? $0.toDERBytes()) ?? [] },
                                            reportHost: host.name))
            var o = NIOSSLContextConfigurationOverride()
            o.certificateChain = chain.map { .certificate($0) }
            o.privateKey = .privateKey(key)
            table[host.name.value] = o
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = ["http/1.1"]
        if !table.isEmpty || installed != nil {
            let frozen = table
            tls.sslContextCallback = { ext, promise in
                let name = ext.serverHostname.map { Router.hostKey($0) ?? $0 }
                promise.succeed(name.flatMap { frozen[$0] ?? installed?.override(host: $0) } ?? .noChanges)
            }
        }
        do { return (try NIOSSLContext(configuration: tls), served) } catch { throw .init("cannot set up TLS: \(error)") }
    }

    /// Loads a certificate chain and its key; throws, naming both files, when the key is not the leaf's.
    static func load(_ c: PolicyHostConfiguration.Certificate) throws(PolicyHostConfiguration.Invalid) -> ([NIOSSLCertificate], NIOSSLPrivateKey) {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(c.chain)
            guard let leaf = chain.first else { throw PolicyHostConfiguration.Invalid("\(c.chain) holds no certificate", isIOError: true) }
            let key = try NIOSSLPrivateKey(file: c.key, format: .pem)
            // BoringSSL checks this for the default pair only; an SNI override with another key would fail
            // every handshake for that name.
            if let matches = try keyMatches(leaf, keyFile: c.key), !matches {
                throw PolicyHostConfiguration.Invalid("the key \(c.key) does not belong to the certificate \(c.chain) (their public keys differ)")
            }
            return (chain, key)
        } catch let e as PolicyHostConfiguration.Invalid {
            throw e
        } catch {
            throw .init("cannot load certificate \(c.chain) / key \(c.key): \(error)", isIOError: true)
        }
    }

    /// Whether the key in `keyFile` is the private half of `leaf`'s public key; nil for a key type that
    /// swift-certificates does not read (NIOSSL accepted it; nothing to compare with).
    static func keyMatches(_ leaf: NIOSSLCertificate, keyFile: String) throws -> Bool? {
        try CertificateReader.keyMatches(certificateDER: leaf.toDERBytes(), keyPEM: String(contentsOfFile: keyFile, encoding: .utf8))
    }

    /// Domains answered 503 right now: nothing valid to serve (for /healthz). A domain the MX guard turned
    /// away (404) is not unhealthy: its mail no longer goes to the provider.
    public func unavailable(now: Double) -> [DomainName] {
        routes.values.filter { $0.answer(now: now).status == 503 }.map(\.domain).sorted()
    }
}

/// The chain a domain's policy host name (or a TLS report host) is served with, and the file it came from.
public struct ServedCertificate: Sendable {
    public let domain: DomainName
    public let file: String
    /// DER, leaf first.
    public let chain: [[UInt8]]
    /// Set for a report host (`reports.hosts`): the name itself, not `mta-sts.<domain>`.
    public var reportHost: DomainName? = nil

    /// The name a client asks for: `mta-sts.<domain>`, or the report host.
    public var host: DomainName { reportHost ?? domain.policyHost! }

    /// The one certificate judgement (the checker's and the fetch's), as a sender connecting to ``host`` would see
    /// this chain: trust, validity and the name (RFC 8461 §3.3; a TLS-RPT sender posting to an `https:` rua alike).
    public func judge(_ evaluator: CertificateEvaluator, now: Date) async -> CertificateReport {
        await evaluator.evaluate(chain: chain, host: host, now: now)
    }
}
