import ArgumentParser
import Foundation
import Logging
import MTASTSResolverDaemon
import MTASTSStubDNS

/// Options naming the resolver's configuration and store (shared by `resolver` and `cache`).
struct ResolverSource: ParsableArguments {
    @Option(help: "YAML configuration (postfix-mta-sts-resolver's keys work; see docs/resolver.md).")
    var config: String?

    @Option(help: "The policy store: sqlite:PATH (default sqlite:/var/lib/mta-sts/cache.sqlite), memory, or postgres://...")
    var cache: String?

    func validate() throws { _ = try cacheSetting() }

    func cacheSetting() throws -> ResolverConfiguration.Cache? {
        guard let cache else { return nil }
        if cache == "memory" || cache == "internal" { return .memory }
        if cache.hasPrefix("sqlite:") { return .sqlite(path: String(cache.dropFirst("sqlite:".count))) }
        if cache.hasPrefix("postgres://") || cache.hasPrefix("postgresql://") { return .postgres(url: cache) }
        throw ValidationError("--cache must be sqlite:PATH, memory or postgres://...")
    }

    /// The file's configuration with these flags applied.
    func load() throws -> ResolverConfiguration {
        var c: ResolverConfiguration
        do { c = try config.map { try ResolverConfiguration.load(path: $0) } ?? ResolverConfiguration() } catch {
            printError("mta-sts: error: \(error)")
            throw Exit.ioError
        }
        if let cache = try cacheSetting() { c.cache = cache }
        return c
    }
}

struct ResolverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolver",
        abstract: "Run the Postfix smtp_tls_policy_maps socketmap daemon (the sender side of MTA-STS).",
        discussion: """
            main.cf: smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix
            Flags override the configuration file. SIGTERM drains and stops; SIGHUP reloads the file. \
            See docs/postfix.md and docs/resolver.md.
            """
    )

    @OptionGroup var source: ResolverSource

    @Option(help: "Listen on TCP HOST:PORT (default 127.0.0.1:8461).")
    var listen: String?

    @Option(help: "Listen on a UNIX socket at PATH instead of TCP.")
    var socket: String?

    @Option(name: .customLong("dns-server"), help: "Send every DNS query to HOST[:PORT] (repeatable). Default: /etc/resolv.conf.")
    var dnsServers: [String] = []

    @Option(name: .customLong("dns-trust-anchor"), help: "Validate DNSSEC locally from these DS/DNSKEY records (selects --dnssec validate).")
    var trustAnchor: String?

    @Option(help: "DNSSEC trust for DANE precedence: trust-ad (default: the resolver's AD bit, as Postfix), validate, off.")
    var dnssec: DNSSECMode?

    @Option(name: .customLong("ca-file"), help: "Extra trusted CA certificates (PEM) for policy fetches.")
    var caFile: String?

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics.")
    var metrics: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        if listen != nil && socket != nil { throw ValidationError("give --listen or --socket, not both") }
        if let listen, Self.hostPort(listen) == nil { throw ValidationError("--listen must be HOST:PORT") }
        if let metrics, Self.hostPort(metrics) == nil { throw ValidationError("--metrics must be HOST:PORT") }
    }

    static func hostPort(_ s: String) -> (String, Int)? {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(s[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        bootstrapLogging(logLevel)
        let logger = Logger(label: "mta-sts.resolver")
        let cache = try source.cacheSetting()
        let (listen, socket, dns, anchor, ca, metrics, dnssec) = (self.listen, self.socket, dnsServers, trustAnchor, caFile, self.metrics, self.dnssec)
        let overrides: @Sendable (inout ResolverConfiguration) -> Void = { c in
            if let listen, let (host, port) = ResolverCommand.hostPort(listen) { c.listen = .tcp(host: host, port: port) }
            if let socket { c.listen = .unix(path: socket, mode: nil, owner: nil, group: nil) }
            if let cache { c.cache = cache }
            if !dns.isEmpty { c.dnsServers = dns }
            if let anchor { c.dnsTrustAnchor = anchor }
            if let dnssec { c.dnssec = dnssec }
            if let ca { c.caFile = ca }
            if let metrics, let (host, port) = ResolverCommand.hostPort(metrics) { c.metricsListen = (host, port) }
        }
        let daemon: ResolverDaemon
        do {
            daemon = try ResolverDaemon(configPath: source.config, overrides: overrides, logger: logger)
        } catch {
            printError("mta-sts: error: \(error)")
            throw Exit.ioError
        }
        do {
            try await daemon.run()
        } catch {
            printError("mta-sts: error: \(error)")
            throw Exit.ioError
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension DNSSECMode: ExpressibleByArgument {}

/// Log lines to standard error (journald under systemd) at `level` and above, for the daemons.
func bootstrapLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
