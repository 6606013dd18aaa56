import Foundation
import MTASTSDiscovery
import MTASTSRuntime
import MTASTSStubDNS

/// The resolver's configuration: postfix-mta-sts-resolver's YAML keys with their meaning (so its users can
/// switch by changing one line), plus ours. docs/resolver.md documents every key.
public struct ResolverConfiguration: Sendable {
    public enum Listen: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String, mode: UInt16?, owner: String?, group: String?)
    }

    /// The policy store (`cache:` in the file, `--cache` on the command line).
    public typealias Cache = StoreSetting

    /// The default store when nothing is configured.
    public static let defaultSQLitePath = StoreSetting.defaultSQLitePath

    public var listen: Listen = .tcp(host: "127.0.0.1", port: 8461)
    public var cache: Cache = .sqlite(path: defaultSQLitePath)
    public var shutdownTimeout: Double = 20
    public var defaultZone = ZoneOptions()
    public var zones: [String: ZoneOptions] = [:]
    public var cacheSettings = PolicyCache.Settings()
    public var proactiveRefresh = true
    /// Our extras. DNS, DNSSEC, CA and timeouts; the policy and DANE caches remember what matters, so libunbound's own
    /// answer caches are kept small.
    public var network: NetworkSettings = {
        var n = NetworkSettings()
        n.dnsAnswerCacheBytes = 512 << 10
        return n
    }()
    public var idleTimeout: Double = 300
    /// Event loop threads serving socketmap connections, apart from the threads that fetch policies, so
    /// a burst of TLS handshakes never delays a cache hit. One thread answers ~100k hits/s (BENCHMARKS.md).
    public var listenThreads = 1
    public var metricsListen: (host: String, port: Int)?

    public init() {}

    /// Why a configuration file cannot be used.
    public typealias Invalid = ConfigurationError

    /// Reads a YAML file. Unknown keys are an error (a typo must not silently change behaviour).
    public static func load(path: String) throws(Invalid) -> ResolverConfiguration {
        let (map, reader) = try ConfigReader.load(path: path, keysDocument: "docs/resolver.md")
        return try read(map, reader)
    }

    public static func parse(_ text: String, source: String = "<config>") throws(Invalid) -> ResolverConfiguration {
        let (map, reader) = try ConfigReader.parse(text, source: source, keysDocument: "docs/resolver.md")
        return try read(map, reader)
    }

    private static func read(_ map: [String: Any], _ r: ConfigReader) throws(Invalid) -> ResolverConfiguration {
        var c = ResolverConfiguration()
        try r.only(map, NetworkSettings.keys(dnssec: true).union([
            "host", "port", "path", "mode", "reuse_port", "shutdown_timeout", "cache_grace", "cache", "proactive_policy_fetching",
            "default_zone", "zones", "idle_timeout", "listen_threads", "max_discoveries", "socket_owner", "socket_group",
            "negative_cache_max", "failure_retry", "refresh_interval", "evict_after", "metrics"]), at: "")
        try c.network.read(map, r, dnssec: true)
        let host = try r.string(map["host"], "host") ?? "127.0.0.1"
        let port = try r.int(map["port"], "port") ?? 8461
        guard (1...65535).contains(port) else { throw r.error("port \(port) is out of range") }
        if let path = try r.string(map["path"], "path") {
            c.listen = .unix(path: path, mode: try r.mode(map["mode"], "mode"),
                             owner: try r.string(map["socket_owner"], "socket_owner"), group: try r.string(map["socket_group"], "socket_group"))
        } else {
            c.listen = .tcp(host: host, port: port)
        }
        _ = try r.bool(map["reuse_port"], "reuse_port")  // accepted for compatibility; we always set SO_REUSEADDR
        c.shutdownTimeout = try r.seconds(map["shutdown_timeout"], "shutdown_timeout", zero: "stop at once") ?? c.shutdownTimeout
        c.cacheSettings.revalidateAfter = try r.seconds(map["cache_grace"], "cache_grace", zero: "check the TXT id at every lookup") ?? 60
        if let cache = try r.mapping(map["cache"], "cache") {
            try r.only(cache, ["type", "options"], at: "cache.")
            let options = try r.mapping(cache["options"], "cache.options") ?? [:]
            switch try r.string(cache["type"], "cache.type") ?? "sqlite" {
            case "internal": c.cache = .memory
            case "sqlite": c.cache = .sqlite(path: try r.string(options["filename"], "cache.options.filename") ?? defaultSQLitePath)
            case "postgres":
                guard let dsn = try r.string(options["dsn"], "cache.options.dsn") else {
                    throw r.error("cache.type postgres needs cache.options.dsn")
                }
                c.cache = .postgres(url: dsn)
            case let other:
                throw r.error("cache.type '\(other)' is not supported (internal, sqlite, postgres)")
            }
        }
        if let p = try r.mapping(map["proactive_policy_fetching"], "proactive_policy_fetching") {
            try r.only(p, ["enabled", "interval", "concurrency_limit", "grace_ratio"], at: "proactive_policy_fetching.")
            c.proactiveRefresh = try r.bool(p["enabled"], "proactive_policy_fetching.enabled") ?? true
            if let interval = try r.seconds(p["interval"], "proactive_policy_fetching.interval") {
                c.cacheSettings.refreshInterval = interval
            }
        }
        if let z = map["default_zone"] { c.defaultZone = try zone(z, "default_zone", base: ZoneOptions(), r) }
        if let zones = try r.mapping(map["zones"], "zones") {
            for (name, z) in zones { c.zones[name] = try zone(z, "zones.\(name)", base: c.defaultZone, r) }
        }
        c.idleTimeout = try r.seconds(map["idle_timeout"], "idle_timeout") ?? c.idleTimeout
        if let n = try r.int(map["listen_threads"], "listen_threads") {
            guard (1...64).contains(n) else { throw r.error("listen_threads must be 1 to 64, not \(n)") }
            c.listenThreads = n
        }
        if let n = try r.int(map["max_discoveries"], "max_discoveries") {
            guard n >= 1 else { throw r.error("max_discoveries must be at least 1, not \(n)") }
            c.cacheSettings.maxDiscoveries = n
        }
        if let v = try r.seconds(map["negative_cache_max"], "negative_cache_max", zero: "never remember a domain without MTA-STS") { c.cacheSettings.negativeCacheMax = v }
        if let v = try r.seconds(map["failure_retry"], "failure_retry", zero: "retry a failed discovery at every lookup") { c.cacheSettings.failureRetry = v }
        if let v = try r.seconds(map["refresh_interval"], "refresh_interval") { c.cacheSettings.refreshInterval = v }
        if let v = try r.seconds(map["evict_after"], "evict_after") { c.cacheSettings.evictAfter = v }
        if let m = try r.mapping(map["metrics"], "metrics") {
            try r.only(m, ["host", "port"], at: "metrics.")
            guard let port = try r.int(m["port"], "metrics.port") else { throw r.error("metrics needs a port") }
            guard (1...65535).contains(port) else { throw r.error("metrics.port \(port) is out of range") }
            c.metricsListen = (try r.string(m["host"], "metrics.host") ?? "127.0.0.1", port)
        }
        return c
    }

    private static func zone(_ v: Any, _ key: String, base: ZoneOptions, _ r: ConfigReader) throws(Invalid) -> ZoneOptions {
        guard let map = try r.mapping(v, key) else { return base }
        try r.only(map, ["strict_testing", "timeout", "require_sni", "tlsrpt", "dane_reply"], at: key + ".")
        var z = base
        z.strictTesting = try r.bool(map["strict_testing"], key + ".strict_testing") ?? z.strictTesting
        z.requireSNI = try r.bool(map["require_sni"], key + ".require_sni") ?? z.requireSNI
        z.tlsrpt = try r.bool(map["tlsrpt"], key + ".tlsrpt") ?? z.tlsrpt
        if let t = try r.seconds(map["timeout"], key + ".timeout") { z.timeout = .seconds(t) }
        if let reply = try r.string(map["dane_reply"], key + ".dane_reply") {
            guard let parsed = ZoneOptions.DANEReply(rawValue: reply) else {
                throw r.error("\(key).dane_reply '\(reply)' is not dane-only or dane")
            }
            z.daneReply = parsed
        }
        return z
    }
}
