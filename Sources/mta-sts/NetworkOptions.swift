import ArgumentParser
import MTASTSRuntime
import MTASTSStubDNS
import MTASTSUnbound

/// `--dns-server` and `--ca-file`, declared once for every command that reaches the network (`lookup`, `check`,
/// `resolver`, `serve`, `cache refresh`). Flags override the configuration file's keys.
struct NetworkFlags: ParsableArguments {
    @Option(name: .customLong("dns-server"),
            help: "Send every DNS query to this server, HOST or HOST:PORT (repeatable). Default: the configuration's dns_servers, else /etc/resolv.conf.")
    var dnsServers: [String] = []

    @Option(name: .customLong("ca-file"), help: "Extra trusted CA certificates (PEM) for HTTPS policy fetches, beside the system's.")
    var caFile: String?

    func validate() throws {
        for server in dnsServers where UnboundResolver.unboundAddress(server) == nil {
            throw ValidationError("--dns-server '\(server)' is not HOST or HOST:PORT")
        }
    }

    func apply(to settings: inout NetworkSettings) {
        if !dnsServers.isEmpty { settings.dnsServers = dnsServers }
        if let caFile { settings.caFile = caFile }
    }
}

/// `--dns-trust-anchor` and `--dnssec`, for the commands that decide DANE (`lookup`, `check`, `resolver`).
struct DNSSECFlags: ParsableArguments {
    @Option(name: .customLong("dns-trust-anchor"),
            help: "Validate DNSSEC locally from the DS/DNSKEY records in this file (selects --dnssec validate; replaces the root anchor).")
    var trustAnchor: String?

    @Option(help: "DNSSEC trust for DANE: trust-ad (default: the resolver's AD bit, as Postfix), validate (implied by --dns-trust-anchor), off.")
    var dnssec: DNSSECMode?

    func apply(to settings: inout NetworkSettings) {
        if let trustAnchor { settings.dnsTrustAnchor = trustAnchor }
        if let dnssec { settings.dnssec = dnssec }
    }
}

/// The network flags of the one-shot commands (`lookup`, `check`): the shared groups and `--timeout`.
struct NetworkOptions: ParsableArguments {
    @OptionGroup var flags: NetworkFlags
    @OptionGroup var dnssecFlags: DNSSECFlags

    @Option(help: "Seconds allowed for each network step: one DNS query, one HTTPS fetch. Default: 5 for DNS, 60 for HTTPS.")
    var timeout: Double?

    var dnsServers: [String] { flags.dnsServers }
    var caFile: String? { flags.caFile }

    func validate() throws {
        if let timeout, !(timeout > 0 && timeout <= 600) { throw ValidationError("--timeout must be between 0 and 600 seconds") }
    }

    /// The stack for these flags (no configuration file); a setup problem (an unreadable CA or anchor file) is
    /// printed and ends the command with exit 2.
    func makeStack() throws -> NetworkStack {
        var settings = NetworkSettings()
        flags.apply(to: &settings)
        dnssecFlags.apply(to: &settings)
        if let timeout {
            settings.dnsTimeout = timeout
            settings.fetchTimeout = timeout
        }
        do { return try settings.makeStack(dane: true) } catch {
            printError("mta-sts: error: \(error)")
            throw Exit.ioError
        }
    }
}

extension DNSSECMode: ExpressibleByArgument {}
