import Foundation
import MTASTSCore
import MTASTSDiscovery

/// Runs every probe for one domain, in parallel, and hands the observations to ``CheckRules``.
///
/// DNS goes through the one ``DNSResolver`` (TXT, MX, A, AAAA); the policy is fetched by the strict
/// ``PolicyFetcher`` at each policy host address separately; TLS and SMTP sessions go through
/// ``ConnectionProbing``. Each step has its own deadline (the resolver's, the fetcher's, the prober's).
public struct DeploymentChecker: Sendable {
    public struct Configuration: Sendable {
        /// The SMTP port of the MX hosts (25; tests use another).
        public var smtpPort: Int
        /// The HTTPS port of the policy host (443).
        public var httpsPort: Int
        /// Refuse private, loopback and link-local addresses (for running as a service).
        public var publicOnly: Bool
        /// The most MX addresses probed for one domain (``SMTPLimits/addressesPerDomain``).
        public var smtpAddressLimit: Int

        public init(smtpPort: Int = 25, httpsPort: Int = 443, publicOnly: Bool = false,
                    smtpAddressLimit: Int = SMTPLimits.addressesPerDomain) {
            self.smtpPort = smtpPort
            self.httpsPort = httpsPort
            self.publicOnly = publicOnly
            self.smtpAddressLimit = smtpAddressLimit
        }
    }

    public let resolver: any DNSResolver
    public let fetcher: any PolicyFetcher
    public let prober: any ConnectionProbing
    /// Answers the DANE-deciding questions (MX, TLSA) with the DNSSEC trust of the chosen mode; nil: no DANE check.
    public let daneResolver: (any DNSResolver)?
    public let configuration: Configuration

    public init(resolver: any DNSResolver, fetcher: any PolicyFetcher, prober: any ConnectionProbing, daneResolver: (any DNSResolver)? = nil,
                configuration: Configuration = .init()) {
        self.resolver = resolver
        self.fetcher = fetcher
        self.prober = prober
        self.daneResolver = daneResolver
        self.configuration = configuration
    }

    public func check(_ domain: DomainName) async -> CheckReport {
        CheckRules.evaluate(await observe(domain))
    }

    /// Every probe, as values.
    public func observe(_ domain: DomainName) async -> Observations {
        let clock = ContinuousClock()
        let start = clock.now
        let now = Int64(Date().timeIntervalSince1970)
        async let txt = resolver.query(domain.recordName, .txt)
        async let tlsrpt = resolver.query("_smtp._tls." + domain.value, .txt)
        async let host = policyHost(domain)
        async let mx = mxHosts(domain)
        async let dane: DANEStatus? = if let daneResolver { await DANEStatus.lookup(domain, resolver: daneResolver) } else { nil }
        let txtAnswer = await txt
        let chain = txtAnswer.canonicalName == nil ? [] : await cnameChain(domain.recordName)
        var apex: DNSAnswer?
        switch txtAnswer.result {
        case .nxdomain, .nodata: apex = await resolver.query(domain.value, .txt)
        default: break
        }
        let (hostAnswers, hostProbes) = await host
        let (mxAnswer, mxObservations) = await mx
        var o = Observations(domain: domain, now: now, publicOnly: configuration.publicOnly, txt: txtAnswer, apexTXT: apex,
                             hostAnswers: hostAnswers, hostProbes: hostProbes, mx: mxAnswer, mxHosts: mxObservations,
                             tlsrpt: await tlsrpt, dane: await dane)
        o.txtChain = chain
        o.elapsed = clock.now - start
        return o
    }

    /// Each CNAME hop from `name` (the resolver reports only the last target), at most 8.
    private func cnameChain(_ name: String) async -> [String] {
        var chain: [String] = []
        var current = name
        while chain.count < 8 {
            guard case .records(let rdata) = await resolver.query(current, .cname).result,
                  let target = rdata.first.flatMap({ DNSRecordData.name($0[...]) }), !chain.contains(target) else { break }
            chain.append(target)
            current = target
        }
        return chain
    }

    /// A and AAAA of a name, asked together.
    private func addresses(_ name: String) async -> ([DNSRecordType: DNSAnswer], [IPAddress], [String]) {
        async let a = resolver.query(name, .a)
        async let aaaa = resolver.query(name, .aaaa)
        let answers: [DNSRecordType: DNSAnswer] = [.a: await a, .aaaa: await aaaa]
        var found: [IPAddress] = []
        var failures: [String] = []
        for type in [DNSRecordType.a, .aaaa] {
            switch answers[type]!.result {
            case .records(let rdata): found += rdata.compactMap(DNSRecordData.address)
            case .failure(let reason): failures.append("\(type): \(reason)")
            case .nxdomain, .nodata: break
            }
        }
        return (answers, found, failures)
    }

    /// The policy host at each address: a TLS session (chain, version) and the strict fetch, side by side.
    private func policyHost(_ domain: DomainName) async -> ([DNSRecordType: DNSAnswer], [PolicyHostProbe]) {
        guard let host = domain.policyHost else { return ([:], []) }
        let (answers, found, _) = await addresses(host.value)
        let probes = await inParallel(found) { address in
            let clock = ContinuousClock()
            let start = clock.now
            if configuration.publicOnly && !address.isPublic {
                return PolicyHostProbe(address: address, tls: .failure(.notPublic), fetch: nil, elapsed: .zero)
            }
            async let tls = prober.tls(host: host, address: address, port: configuration.httpsPort, sni: true)
            async let plain = prober.tls(host: host, address: address, port: configuration.httpsPort, sni: false)
            async let fetch = fetcher.fetch(host: host, addresses: [address])
            let (t, p, f) = await (tls, plain, fetch)
            return PolicyHostProbe(address: address, tls: t, fetch: f, withoutSNI: p, elapsed: clock.now - start)
        }
        return (answers, probes)
    }

    /// The MX RRset (or the implicit MX), each host's addresses, and an SMTP probe per address, in parallel: at most
    /// ``Configuration/smtpAddressLimit`` addresses, the first in MX preference order (the rest are kept in
    /// ``MXObservation/unprobed``), so that a domain cannot make the checker open sessions without end.
    private func mxHosts(_ domain: DomainName) async -> (DNSAnswer, [MXObservation]) {
        let answer = await resolver.query(domain.value, .mx)
        var hosts: [MXObservation] = []
        switch answer.result {
        case .records(let rdata):
            let records = rdata.compactMap(DNSRecordData.mx)
            // RFC 7505: a single MX with the root as exchange ("null MX") means no mail at all.
            if !(records.count == 1 && (records[0].host == "." || records[0].host.isEmpty)) {
                hosts = records.sorted { $0.preference < $1.preference }.compactMap { r in
                    (try? DomainName(r.host)).map { MXObservation(host: $0, preference: r.preference) }
                }
            }
        case .nxdomain, .nodata:
            hosts = [MXObservation(host: domain, preference: 0)]  // RFC 5321 §5.1 implicit MX
        case .failure:
            break
        }
        hosts = await inParallel(hosts) { mx in
            var mx = mx
            (_, mx.addresses, mx.addressFailures) = await addresses(mx.host.value)
            return mx
        }
        var budget = configuration.smtpAddressLimit
        for i in hosts.indices {
            let probed = min(budget, hosts[i].addresses.count)
            hosts[i].unprobed = Array(hosts[i].addresses.dropFirst(probed))
            budget -= probed
        }
        let observed = await inParallel(hosts) { mx in
            var mx = mx
            let host = mx.host
            mx.probes = await inParallel(Array(mx.addresses.dropLast(mx.unprobed.count))) { address in await smtp(host, address) }
            return mx
        }
        return (answer, observed)
    }

    /// Both SMTP sessions at one address (with SNI, and without it for ``SMTPProbe/withoutSNI``).
    private func smtp(_ host: DomainName, _ address: IPAddress) async -> SMTPProbe {
        let port = configuration.smtpPort
        if configuration.publicOnly && !address.isPublic {
            return SMTPProbe(address: address, port: port, failure: .connection(.notPublic))
        }
        async let withSNI = prober.smtp(host: host, address: address, port: port, sni: true)
        async let plain = prober.smtp(host: host, address: address, port: port, sni: false)
        var probe = await withSNI
        let p = await plain
        probe.withoutSNI = p.tls.map { .success($0) } ?? p.failure.map { f -> Result<TLSObservation, ConnectionFailure> in
            if case .connection(let c) = f { return .failure(c) }
            return .failure(.handshake("\(f)"))
        }
        return probe
    }
}

/// `transform` applied to every element at once; the results in the elements' order.
private func inParallel<T: Sendable, R: Sendable>(_ items: [T], _ transform: @escaping @Sendable (T) async -> R) async -> [R] {
    await withTaskGroup(of: (Int, R).self) { group in
        for (i, item) in items.enumerated() { group.addTask { (i, await transform(item)) } }
        var out: [(Int, R)] = []
        for await r in group { out.append(r) }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
