import ArgumentParser
import MTASTSDiscovery
import MTASTSHTTPFetch
import MTASTSStubDNS
import MTASTSUnbound

/// Options every network command takes (`lookup` now; `check` and `resolver` later).
struct NetworkOptions: ParsableArguments {
    @Option(name: .customLong("dns-server"),
            help: "Send every DNS query to this server, HOST or HOST:PORT (repeatable). Default: /etc/resolv.conf.")
    var dnsServers: [String] = []

    @Option(name: .customLong("dns-trust-anchor"),
            help: "Validate DNSSEC locally from the DS/DNSKEY records in this file (replaces the root anchor).")
    var trustAnchor: String?

    @Option(help: "DNSSEC trust for DANE: trust-ad (default: the resolver's AD bit, as Postfix), validate (implied by --dns-trust-anchor), off.")
    var dnssec: DNSSECMode?

    @Option(name: .customLong("ca-file"), help: "Extra trusted CA certificates (PEM) for HTTPS, beside the system's.")
    var caFile: String?

    @Option(help: "Seconds allowed for each network step: one DNS query, one HTTPS fetch. Default: 5 for DNS, 60 for HTTPS.")
    var timeout: Double?

    func validate() throws {
        if let timeout, !(timeout > 0 && timeout <= 600) { throw ValidationError("--timeout must be between 0 and 600 seconds") }
        for server in dnsServers where UnboundResolver.unboundAddress(server) == nil {
            throw ValidationError("--dns-server '\(server)' is not HOST or HOST:PORT")
        }
    }

    private var timeoutDuration: Duration? { timeout.map { .seconds($0) } }

    /// Builds the discovery machinery with the concrete resolver and fetcher; setup problems (an unreadable
    /// CA or anchor file) are printed and end the command with exit 2.
    func makeDiscovery() throws -> PolicyDiscovery { try makeDiscoveryAndDANE().discovery }

    /// Also the resolver of the DANE-deciding questions for the chosen DNSSEC mode (nil when `off`).
    func makeDiscoveryAndDANE() throws -> (discovery: PolicyDiscovery, dane: (any DNSResolver)?) {
        do {
            let (mode, anchor) = try DNSSECMode.resolve(mode: dnssec, anchor: trustAnchor)
            let resolver = try UnboundResolver(.init(servers: dnsServers, trustAnchorFile: anchor,
                                                     timeout: timeoutDuration ?? .seconds(5)))
            let dane = try mode.daneResolver(main: resolver, servers: dnsServers, timeout: timeoutDuration ?? .seconds(5))
            var fetch = HTTPPolicyFetcher.Configuration(extraTrustRootsFile: caFile)
            if let t = timeoutDuration {
                fetch.timeout = t
                fetch.connectTimeout = min(fetch.connectTimeout, t)
            }
            return (PolicyDiscovery(resolver: resolver, fetcher: try HTTPPolicyFetcher(fetch)), dane)
        } catch {
            printError("mta-sts: error: \(error)")
            throw Exit.ioError
        }
    }
}
