import ArgumentParser
import Foundation
import Logging
import MTASTSResolverDaemon
import MTASTSRuntime

/// Options naming the resolver's configuration and store (shared by `resolver` and `cache`).
struct ResolverSource: ParsableArguments {
    @Option(help: "YAML configuration (postfix-mta-sts-resolver's keys work; see docs/resolver.md).")
    var config: String?

    @Option(help: "The policy store: sqlite:PATH (default sqlite:/var/lib/mta-sts/cache.sqlite), memory, or postgres://...")
    var cache: String?

    func validate() throws {
        if let cache, StoreSetting(flag: cache) == nil { throw ValidationError("--cache must be sqlite:PATH, memory or postgres://...") }
    }

    /// Reads the configuration (the file, or the defaults) with `overrides` and `--cache` applied; called again on
    /// SIGHUP, so it captures values, not the parsed command.
    func reader(_ overrides: @escaping @Sendable (inout ResolverConfiguration) -> Void = { _ in })
        -> @Sendable () throws(ResolverConfiguration.Invalid) -> ResolverConfiguration {
        let (path, store) = (config, cache.flatMap(StoreSetting.init(flag:)))
        return { () throws(ResolverConfiguration.Invalid) in
            var c = try path.map { p throws(ResolverConfiguration.Invalid) in try ResolverConfiguration.load(path: p) } ?? ResolverConfiguration()
            if let store { c.cache = store }
            overrides(&c)
            return c
        }
    }

    /// The configuration with these flags applied, or the reason printed and exit 2.
    func load(_ overrides: @escaping @Sendable (inout ResolverConfiguration) -> Void = { _ in }) throws -> ResolverConfiguration {
        try orExit { () throws(ResolverConfiguration.Invalid) in try reader(overrides)() }
    }
}

/// Runs a setup step; its error is printed (`mta-sts: error: ...`) and ends the command with exit 2.
func orExit<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch {
        printError("mta-sts: error: \(error)")
        throw Exit.ioError
    }
}

/// The synchronous form of ``orExit(_:)-async``.
func orExit<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch {
        printError("mta-sts: error: \(error)")
        throw Exit.ioError
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

    @OptionGroup var network: NetworkFlags
    @OptionGroup var dnssecFlags: DNSSECFlags

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
        let (listen, socket, network, dnssecFlags, metrics) = (self.listen, self.socket, self.network, self.dnssecFlags, self.metrics)
        let overrides: @Sendable (inout ResolverConfiguration) -> Void = { c in
            if let listen, let (host, port) = ResolverCommand.hostPort(listen) { c.listen = .tcp(host: host, port: port) }
            if let socket { c.listen = .unix(path: socket, mode: nil, owner: nil, group: nil) }
            network.apply(to: &c.network)
            dnssecFlags.apply(to: &c.network)
            if let metrics, let (host, port) = ResolverCommand.hostPort(metrics) { c.metricsListen = (host, port) }
        }
        // The composition: configuration → network stack and store → the daemon.
        let reload = source.reader(overrides)
        let configuration = try source.load(overrides)
        let stack = try orExit { () throws(ConfigurationError) in try configuration.network.makeStack(dane: true) }
        let store = try await orExit { () async throws(ConfigurationError) in try await configuration.cache.open(for: .daemon, logger: logger) }
        let daemon = ResolverDaemon(configuration: configuration, stack: stack, store: store, logger: logger, reload: reload)
        try await orExit { try await daemon.run() }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Log lines to standard error (journald under systemd) at `level` and above, for the daemons.
func bootstrapLogging(_ level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}
