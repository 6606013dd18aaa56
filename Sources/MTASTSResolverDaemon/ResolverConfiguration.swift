import Foundation
import MTASTSDiscovery
import MTASTSStorePostgres
import MTASTSStubDNS
import Yams

/// The resolver's configuration: postfix-mta-sts-resolver's YAML keys with their meaning (so its users can
/// switch by changing one line), plus ours. docs/resolver.md documents every key.
public struct ResolverConfiguration: Sendable {
    public enum Listen: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String, mode: UInt16?, owner: String?, group: String?)
    }

    public enum Cache: Sendable, Equatable, CustomStringConvertible {
        /// In memory only (pmsr's `internal`): lost on restart.
        case memory
        case sqlite(path: String)
        /// The fleet store: `postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=require...]`.
        case postgres(url: String)

        /// As the `--cache` flag spells it, the password hidden (for logs and messages).
        public var description: String {
            switch self {
            case .memory: "memory"
            case .sqlite(let path): "sqlite:\(path)"
            case .postgres(let url): PostgresStoreConfiguration.redacted(url)
            }
        }
    }

    /// The default store when nothing is configured.
    public static let defaultSQLitePath = "/var/lib/mta-sts/cache.sqlite"

    public var listen: Listen = .tcp(host: "127.0.0.1", port: 8461)
    public var cache: Cache = .sqlite(path: defaultSQLitePath)
    public var shutdownTimeout: Double = 20
    public var defaultZone = ZoneOptions()
    public var zones: [String: ZoneOptions] = [:]
    public var cacheSettings = PolicyCache.Settings()
    public var proactiveRefresh = true
    /// Our extras.
    public var dnsServers: [String] = []
    public var dnsTrustAnchor: String?
    /// Where DNSSEC trust comes from (nil: trust-ad, or validate when a trust anchor is given).
    public var dnssec: DNSSECMode?
    public var caFile: String?
    public var dnsTimeout: Double = 5
    public var fetchTimeout: Double = 60
    public var idleTimeout: Double = 300
    /// Event loop threads serving socketmap connections, apart from the threads that fetch policies, so
    /// a burst of TLS handshakes never delays a cache hit. One thread answers ~100k hits/s (BENCHMARKS.md).
    public var listenThreads = 1
    public var metricsListen: (host: String, port: Int)?

    public init() {}

    /// Why a configuration file cannot be used.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads a YAML file. Unknown keys are an error (a typo must not silently change behaviour).
    public static func load(path: String) throws(Invalid) -> ResolverConfiguration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Invalid(description: "cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String = "<config>") throws(Invalid) -> ResolverConfiguration {
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw Invalid(description: "\(source): not valid YAML: \(error)") }
        var c = ResolverConfiguration()
        guard let root else { return c }
        guard let map = root as? [String: Any] else { throw Invalid(description: "\(source): the top level must be a mapping") }
        let r = Reader(source: source)
        try r.only(map, ["host", "port", "path", "mode", "reuse_port", "shutdown_timeout", "cache_grace", "cache",
                         "proactive_policy_fetching", "default_zone", "zones", "dns_servers", "dns_trust_anchor", "dnssec", "ca_file",
                         "dns_timeout", "fetch_timeout", "idle_timeout", "listen_threads", "max_discoveries", "socket_owner", "socket_group",
                         "negative_cache_max", "failure_retry", "refresh_interval", "evict_after",
                         "metrics"], at: "")
        let host = try r.string(map["host"], "host") ?? "127.0.0.1"
        let port = try r.int(map["port"], "port") ?? 8461
        guard (1...65535).contains(port) else { throw Invalid(description: "\(source): port \(port) is out of range") }
        if let path = try r.string(map["path"], "path") {
            c.listen = .unix(path: path, mode: try r.mode(map["mode"], "mode"),
                             owner: try r.string(map["socket_owner"], "socket_owner"), group: try r.string(map["socket_group"], "socket_group"))
        } else {
            c.listen = .tcp(host: host, port: port)
        }
        _ = try r.bool(map["reuse_port"], "reuse_port")  // accepted for compatibility; we always set SO_REUSEADDR
        c.shutdownTimeout = try r.seconds(map["shutdown_timeout"], "shutdown_timeout", zero: "stop at once") ?? c.shutdownTimeout
        c.cacheSettings.revalidateAfter = try r.seconds(map["cache_grace"], "cache_grace", zero: "check the TXT id at every lookup") ?? 60
        if let cache = map["cache"] {
            guard let cache = cache as? [String: Any] else { throw Invalid(description: "\(source): cache must be a mapping") }
            try r.only(cache, ["type", "options"], at: "cache.")
            let options = (cache["options"] as? [String: Any]) ?? [:]
            switch try r.string(cache["type"], "cache.type") ?? "sqlite" {
            case "internal": c.cache = .memory
            case "sqlite": c.cache = .sqlite(path: try r.string(options["filename"], "cache.options.filename") ?? defaultSQLitePath)
            case "postgres":
                guard let dsn = try r.string(options["dsn"], "cache.options.dsn") else {
                    throw Invalid(description: "\(source): cache.type postgres needs cache.options.dsn")
                }
                c.cache = .postgres(url: dsn)
            case let other:
                throw Invalid(description: "\(source): cache.type '\(other)' is not supported (internal, sqlite, postgres)")
            }
        }
        if let p = map["proactive_policy_fetching"] as? [String: Any] {
            try r.only(p, ["enabled", "interval", "concurrency_limit", "grace_ratio"], at: "proactive_policy_fetching.")
            c.proactiveRefresh = try r.bool(p["enabled"], "proactive_policy_fetching.enabled") ?? true
            if let interval = try r.seconds(p["interval"], "proactive_policy_fetching.interval") {
                c.cacheSettings.refreshInterval = interval
            }
        }
        if let z = map["default_zone"] { c.defaultZone = try r.zone(z, "default_zone", base: ZoneOptions()) }
        if let zones = map["zones"] {
            guard let zones = zones as? [String: Any] else { throw Invalid(description: "\(source): zones must be a mapping") }
            for (name, z) in zones { c.zones[name] = try r.zone(z, "zones.\(name)", base: c.defaultZone) }
        }
        c.dnsServers = try r.strings(map["dns_servers"], "dns_servers") ?? []
        c.dnsTrustAnchor = try r.string(map["dns_trust_anchor"], "dns_trust_anchor")
        if let mode = try r.string(map["dnssec"], "dnssec") {
            guard let parsed = DNSSECMode(rawValue: mode) else {
                throw Invalid(description: "\(source): dnssec '\(mode)' is not one of \(DNSSECMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            c.dnssec = parsed
        }
        c.caFile = try r.string(map["ca_file"], "ca_file")
        c.dnsTimeout = try r.seconds(map["dns_timeout"], "dns_timeout") ?? c.dnsTimeout
        c.fetchTimeout = try r.seconds(map["fetch_timeout"], "fetch_timeout") ?? c.fetchTimeout
        c.idleTimeout = try r.seconds(map["idle_timeout"], "idle_timeout") ?? c.idleTimeout
        if let n = try r.int(map["listen_threads"], "listen_threads") {
            guard (1...64).contains(n) else { throw Invalid(description: "\(source): listen_threads must be 1 to 64, not \(n)") }
            c.listenThreads = n
        }
        if let n = try r.int(map["max_discoveries"], "max_discoveries") {
            guard n >= 1 else { throw Invalid(description: "\(source): max_discoveries must be at least 1, not \(n)") }
            c.cacheSettings.maxDiscoveries = n
        }
        if let v = try r.seconds(map["negative_cache_max"], "negative_cache_max", zero: "never remember a domain without MTA-STS") { c.cacheSettings.negativeCacheMax = v }
        if let v = try r.seconds(map["failure_retry"], "failure_retry", zero: "retry a failed discovery at every lookup") { c.cacheSettings.failureRetry = v }
        if let v = try r.seconds(map["refresh_interval"], "refresh_interval") { c.cacheSettings.refreshInterval = v }
        if let v = try r.seconds(map["evict_after"], "evict_after") { c.cacheSettings.evictAfter = v }
        if let m = map["metrics"] {
            guard let m = m as? [String: Any] else { throw Invalid(description: "\(source): metrics must be a mapping") }
            try r.only(m, ["host", "port"], at: "metrics.")
            guard let port = try r.int(m["port"], "metrics.port") else { throw Invalid(description: "\(source): metrics needs a port") }
            guard (1...65535).contains(port) else { throw Invalid(description: "\(source): metrics.port \(port) is out of range") }
            c.metricsListen = (try r.string(m["host"], "metrics.host") ?? "127.0.0.1", port)
        }
        return c
    }

    private struct Reader {
        let source: String

        func only(_ map: [String: Any], _ keys: Set<String>, at prefix: String) throws(Invalid) {
            if let unknown = map.keys.sorted().first(where: { !keys.contains($0) }) {
                throw Invalid(description: "\(source): unknown key '\(prefix)\(unknown)' (docs/resolver.md lists the keys)")
            }
        }
        func string(_ v: Any?, _ key: String) throws(Invalid) -> String? {
            guard let v, !(v is NSNull) else { return nil }
            if let s = v as? String { return s }
            throw Invalid(description: "\(source): \(key) must be a string")
        }
        func strings(_ v: Any?, _ key: String) throws(Invalid) -> [String]? {
            guard let v else { return nil }
            if let s = v as? String { return [s] }
            if let a = v as? [Any], let s = a as? [String] { return s }
            throw Invalid(description: "\(source): \(key) must be a list of strings")
        }
        func int(_ v: Any?, _ key: String) throws(Invalid) -> Int? {
            guard let v else { return nil }
            if let i = v as? Int { return i }
            throw Invalid(description: "\(source): \(key) must be a whole number")
        }
        /// A duration: never negative (`idle_timeout: -1` would close every connection at once), zero only where
        /// `zero` says what it means, finite and at most 10^9 s (so every timer type can hold it).
        func seconds(_ v: Any?, _ key: String, zero: String? = nil) throws(Invalid) -> Double? {
            guard let v else { return nil }
            let d = (v as? Int).map(Double.init) ?? (v as? Double)
            guard let d, d.isFinite, d <= 1e9, zero == nil ? d > 0 : d >= 0 else {
                throw Invalid(description: "\(source): \(key) must be a number of seconds, more than 0"
                                         + (zero.map { " (or 0: \($0))" } ?? "") + " and at most 1000000000, not \(v)")
            }
            return d
        }
        func bool(_ v: Any?, _ key: String) throws(Invalid) -> Bool? {
            guard let v else { return nil }
            if let b = v as? Bool { return b }
            throw Invalid(description: "\(source): \(key) must be true or false")
        }
        /// A file mode: YAML 1.1 reads `0666` as octal 438 (as pmsr's users write it); a string "0660" works too.
        func mode(_ v: Any?, _ key: String) throws(Invalid) -> UInt16? {
            guard let v else { return nil }
            if let i = v as? Int, (0...0o7777).contains(i) { return UInt16(i) }
            if let s = v as? String, let i = UInt16(s, radix: 8), i <= 0o7777 { return i }
            throw Invalid(description: "\(source): \(key) must be a file mode such as 0660")
        }
        func zone(_ v: Any, _ key: String, base: ZoneOptions) throws(Invalid) -> ZoneOptions {
            guard let map = v as? [String: Any] else { throw Invalid(description: "\(source): \(key) must be a mapping") }
            try only(map, ["strict_testing", "timeout", "require_sni", "tlsrpt", "dane_reply"], at: key + ".")
            var z = base
            z.strictTesting = try bool(map["strict_testing"], key + ".strict_testing") ?? z.strictTesting
            z.requireSNI = try bool(map["require_sni"], key + ".require_sni") ?? z.requireSNI
            z.tlsrpt = try bool(map["tlsrpt"], key + ".tlsrpt") ?? z.tlsrpt
            if let t = try seconds(map["timeout"], key + ".timeout") { z.timeout = .seconds(t) }
            if let reply = try string(map["dane_reply"], key + ".dane_reply") {
                guard let parsed = ZoneOptions.DANEReply(rawValue: reply) else {
                    throw Invalid(description: "\(source): \(key).dane_reply '\(reply)' is not dane-only or dane")
                }
                z.daneReply = parsed
            }
            return z
        }
    }
}
