import MTASTSCore
import MTASTSDiscovery
import MTASTSHTTPFetch
import MTASTSStubDNS
import MTASTSUnbound

/// How every role reaches the network: DNS servers, where DNSSEC trust comes from, extra CAs, timeouts. Read from a
/// configuration file (``read(_:_:dnssec:)``) and overridden by the shared command-line flags; ``makeStack(dane:)``
/// is the one place the DNS resolver, the DANE resolver and the strict policy fetcher are built.
public struct NetworkSettings: Sendable, Equatable {
    /// Every DNS query goes to these (`HOST` or `HOST:PORT`); empty: /etc/resolv.conf's.
    public var dnsServers: [String] = []
    /// DS/DNSKEY records to validate from locally (selects DNSSEC `validate`).
    public var dnsTrustAnchor: String?
    /// Where DNSSEC trust comes from (nil: trust-ad, or validate when a trust anchor is given).
    public var dnssec: DNSSECMode?
    /// Extra trusted CA certificates (PEM) for HTTPS, beside the system's.
    public var caFile: String?
    /// Seconds for one DNS query.
    public var dnsTimeout: Double = 5
    /// Seconds for one whole policy fetch (RFC 8461 §3.3 suggests a minute); one connection attempt gets at most 10.
    public var fetchTimeout = Double(STSLimits.fetchTimeoutSeconds)
    /// Bytes for each of libunbound's answer caches; nil: libunbound's default. A daemon that caches what it learnt
    /// itself keeps them small.
    public var dnsAnswerCacheBytes: Int?

    public init() {}

    /// The configuration keys read here; `dnssec` only for the roles that decide DANE.
    public static func keys(dnssec: Bool) -> Set<String> {
        let common: Set = ["dns_servers", "dns_trust_anchor", "ca_file", "dns_timeout", "fetch_timeout"]
        return dnssec ? common.union(["dnssec"]) : common
    }

    /// Reads the network keys of a configuration's top level.
    public mutating func read(_ map: [String: Any], _ r: ConfigReader, dnssec: Bool) throws(ConfigurationError) {
        dnsServers = try r.strings(map["dns_servers"], "dns_servers") ?? dnsServers
        dnsTrustAnchor = try r.string(map["dns_trust_anchor"], "dns_trust_anchor") ?? dnsTrustAnchor
        if dnssec, let mode = try r.string(map["dnssec"], "dnssec") {
            guard let parsed = DNSSECMode(rawValue: mode) else {
                throw r.error("dnssec '\(mode)' is not one of \(DNSSECMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.dnssec = parsed
        }
        caFile = try r.string(map["ca_file"], "ca_file") ?? caFile
        dnsTimeout = try r.seconds(map["dns_timeout"], "dns_timeout") ?? dnsTimeout
        fetchTimeout = try r.seconds(map["fetch_timeout"], "fetch_timeout") ?? fetchTimeout
    }

    /// Builds the stack. `dane: false` for the roles that never decide DANE (the policy host, `cache refresh`): no
    /// DANE resolver is set up. An unreadable CA file or trust anchor, or a contradictory DNSSEC setting, is an
    /// error that names it (exit 2 in the CLI).
    public func makeStack(dane: Bool) throws(ConfigurationError) -> NetworkStack {
        do {
            let (mode, anchor) = try DNSSECMode.resolve(mode: dnssec, anchor: dnsTrustAnchor)
            let dnsTimeout = Duration.seconds(dnsTimeout)
            let resolver = try UnboundResolver(.init(servers: dnsServers, trustAnchorFile: anchor, timeout: dnsTimeout,
                                                     answerCacheBytes: dnsAnswerCacheBytes))
            let fetch = Duration.seconds(fetchTimeout)
            let fetcher = try HTTPPolicyFetcher(.init(extraTrustRootsFile: caFile, timeout: fetch, connectTimeout: min(.seconds(10), fetch)))
            let daneResolver = dane ? try mode.daneResolver(main: resolver, servers: dnsServers, timeout: dnsTimeout) : nil
            return NetworkStack(settings: self, dnssecMode: mode, trustAnchor: anchor, resolver: resolver, fetcher: fetcher,
                                daneResolver: daneResolver)
        } catch {
            throw ConfigurationError("\(error)", isIOError: true)
        }
    }
}

/// The built network parts every role receives: the one DNS path (libunbound), the strict RFC 8461 §3.3 fetcher,
/// and the resolver of the DANE-deciding questions for the DNSSEC mode in force.
public struct NetworkStack: Sendable {
    public let settings: NetworkSettings
    public let dnssecMode: DNSSECMode
    /// The anchor libunbound validates from (nil unless `validate`).
    public let trustAnchor: String?
    public let resolver: UnboundResolver
    public let fetcher: HTTPPolicyFetcher
    /// Nil when DNSSEC is `off` or the stack was built without DANE.
    public let daneResolver: (any DNSResolver)?

    /// RFC 8461 discovery over this stack.
    public var discovery: PolicyDiscovery { PolicyDiscovery(resolver: resolver, fetcher: fetcher) }
}
