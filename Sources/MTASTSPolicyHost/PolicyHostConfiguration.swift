import Foundation
import MTASTSCore
import MTASTSRuntime

/// The policy host's configuration (YAML; docs/policy-host.md documents every key). Parsing is strict:
/// unknown keys, a static policy the core parser rejects, or a domain without any policy are errors, so a
/// typo never silently changes what senders get.
public struct PolicyHostConfiguration: Sendable, Equatable {
    /// Where one domain's policy comes from.
    public enum Source: Sendable, Equatable {
        /// Written in the configuration (`mode`, `mx`, `max_age`), validated by the core parser.
        case fixed(STSPolicy)
        /// A policy file, validated at load and re-read when it changes.
        case file(path: String)
        /// Another policy host's policy, served unchanged: `https://mta-sts.<upstream>/.well-known/mta-sts.txt`.
        /// With `mxGuard`, served only while the domain's MX hosts all match the upstream policy.
        case proxy(upstream: DomainName, mxGuard: Bool)
    }

    /// A certificate chain (PEM, leaf first) and its private key.
    public struct Certificate: Sendable, Equatable {
        public var chain: String
        public var key: String
        public init(chain: String, key: String) {
            self.chain = chain
            self.key = key
        }
    }

    public struct Domain: Sendable, Equatable {
        public var name: DomainName
        public var source: Source
        /// True when the source is the configuration's `default`.
        public var usesDefault: Bool
        /// The certificate for `mta-sts.<name>` (SNI); nil: the default certificate.
        public var certificate: Certificate?
        /// The TLS-RPT `rua` for `mta-sts zone` (`_smtp._tls`), e.g. `mailto:tlsrpt@example.com`.
        public var tlsrpt: String?
    }

    /// How `mta-sts zone` publishes `mta-sts.<domain>`: addresses (A/AAAA) or a CNAME to one host name.
    public struct ZoneSettings: Sendable, Equatable {
        public var ttl: Int = 300
        public var addresses: [String] = []
        public var host: String?
        public init() {}
    }

    public struct Listen: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

        /// `HOST:PORT` or `[V6]:PORT`.
        public static func parse(_ s: String) -> Listen? {
            guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
            var host = String(s[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return host.isEmpty ? nil : Listen(host: host, port: port)
        }
    }

    public var https: [Listen] = [Listen(host: "0.0.0.0", port: 443)]
    public var http: [Listen] = []
    public var admin: Listen?
    public var certificate: Certificate?
    public var domains: [Domain] = []
    public var cacheControl = "max-age=60"
    /// Seconds a connection may take to deliver a complete request head (from connecting, or from the previous
    /// response on a kept-alive connection); also the keep-alive idle limit. Slow clients are closed.
    public var requestTimeout: Double = 10
    public var accessLog = true
    /// DNS, CA and timeouts for proxy fetches and MX guards (no DNSSEC mode: the policy host decides no DANE).
    public var network = NetworkSettings()
    /// Longest time between two fetches of an upstream policy (earlier when half its max_age is shorter).
    public var proxyRefresh: Double = 3600
    /// Wait after a failed upstream fetch (shorter when the last good copy expires sooner).
    public var proxyRetry: Double = 60
    public var mxGuardInterval: Double = 300
    public var fileCheckInterval: Double = 5
    public var zone = ZoneSettings()
    /// Receiving TLS reports by HTTPS POST; nil: no host accepts a request body.
    public var reports: Reports?
    /// Certificates from an ACME CA for domains without their own; nil: none.
    public var acme: ACME?

    public init() {}

    /// The entry for a domain (any spelling).
    public func domain(_ name: DomainName) -> Domain? { domains.first { $0.name == name } }

    /// Why a configuration cannot be used. `diagnostics` holds the core parser's findings for a bad policy.
    public typealias Invalid = ConfigurationError

    public static func load(path: String) throws(Invalid) -> PolicyHostConfiguration {
        let (map, reader) = try ConfigReader.load(path: path, keysDocument: "docs/policy-host.md")
        return try read(map, reader)
    }

    static let policyKeys: Set<String> = ["mode", "mx", "max_age", "file", "proxy", "mx_guard"]

    public static func parse(_ text: String, source: String = "<config>") throws(Invalid) -> PolicyHostConfiguration {
        let (map, reader) = try ConfigReader.parse(text, source: source, keysDocument: "docs/policy-host.md")
        return try read(map, reader)
    }

    private static func read(_ map: [String: Any], _ r: ConfigReader) throws(Invalid) -> PolicyHostConfiguration {
        try r.only(map, NetworkSettings.keys(dnssec: false).union([
            "https", "http", "admin", "certificate", "key", "default", "domains", "cache_control", "request_timeout", "access_log",
            "proxy_refresh", "proxy_retry", "mx_guard_interval", "file_check_interval", "zone", "reports", "acme"]), at: "")
        var c = PolicyHostConfiguration()
        try c.network.read(map, r, dnssec: false)
        if let v = try r.strings(map["https"], "https") { c.https = try v.map { s throws(Invalid) in try r.listen(s, "https") } }
        if let v = try r.strings(map["http"], "http") { c.http = try v.map { s throws(Invalid) in try r.listen(s, "http") } }
        if let v = try r.string(map["admin"], "admin") { c.admin = try r.listen(v, "admin") }
        c.certificate = try r.certificate(map, "")
        c.cacheControl = try r.string(map["cache_control"], "cache_control") ?? c.cacheControl
        if c.cacheControl.contains(where: { $0 == "\r" || $0 == "\n" }) { throw r.error("cache_control must be one line") }
        c.requestTimeout = try r.seconds(map["request_timeout"], "request_timeout") ?? c.requestTimeout
        c.accessLog = try r.bool(map["access_log"], "access_log") ?? c.accessLog
        c.proxyRefresh = try r.seconds(map["proxy_refresh"], "proxy_refresh") ?? c.proxyRefresh
        c.proxyRetry = try r.seconds(map["proxy_retry"], "proxy_retry") ?? c.proxyRetry
        c.mxGuardInterval = try r.seconds(map["mx_guard_interval"], "mx_guard_interval") ?? c.mxGuardInterval
        c.fileCheckInterval = try r.seconds(map["file_check_interval"], "file_check_interval") ?? c.fileCheckInterval
        if let z = try r.mapping(map["zone"], "zone") {
            try r.only(z, ["ttl", "addresses", "host"], at: "zone.")
            c.zone.ttl = try r.int(z["ttl"], "zone.ttl") ?? c.zone.ttl
            guard (0...2_147_483_647).contains(c.zone.ttl) else { throw r.error("zone.ttl must be 0 to 2147483647 (RFC 2181 §8)") }
            c.zone.addresses = try r.strings(z["addresses"], "zone.addresses") ?? []
            c.zone.host = try r.string(z["host"], "zone.host")
            for a in c.zone.addresses where ZoneSnippet.addressType(a) == nil {
                throw r.error("zone.addresses: '\(a)' is not an IP address")
            }
            if c.zone.host != nil && !c.zone.addresses.isEmpty { throw r.error("zone: give addresses or host, not both") }
        }
        var defaultSource: Source?
        if let d = try r.mapping(map["default"], "default") {
            try r.only(d, policyKeys, at: "default.")
            defaultSource = try r.policySource(d, "default")
            if defaultSource == nil { throw r.error("default has no policy (mode/mx/max_age, file or proxy)") }
        }
        guard let domains = map["domains"] else { throw r.error("no domains configured") }
        guard let dmap = domains as? [String: Any] else { throw r.error("domains must be a mapping of domain names") }
        for name in dmap.keys.sorted() {
            let domain: DomainName
            do { domain = try DomainName(name) } catch { throw r.error("domains: \(error)") }
            if c.domains.contains(where: { $0.name == domain }) { throw r.error("domains: \(domain) is listed twice") }
            guard domain.policyHost != nil else { throw r.error("domains: mta-sts.\(domain) is longer than DNS allows") }
            let entry: [String: Any]
            switch dmap[name] {
            case nil, is NSNull: entry = [:]
            case let m as [String: Any]: entry = m
            default: throw r.error("domains.\(name) must be a mapping (or empty for the default policy)")
            }
            let at = "domains.\(name)"
            try r.only(entry, policyKeys.union(["certificate", "key", "tlsrpt"]), at: at + ".")
            let own = try r.policySource(entry, at)
            guard let src = own ?? defaultSource else {
                throw r.error("\(at) has no policy and there is no default")
            }
            let tlsrpt = try r.string(entry["tlsrpt"], at + ".tlsrpt")
            if let t = tlsrpt, !(t.hasPrefix("mailto:") || t.hasPrefix("https:")) || t.contains(where: { $0 == ";" || $0 == "\"" || $0 == " " }) {
                throw r.error("\(at).tlsrpt must be one mailto: or https: URI (RFC 8460 §3)")
            }
            c.domains.append(Domain(name: domain, source: src, usesDefault: own == nil, certificate: try r.certificate(entry, at + "."),
                                    tlsrpt: tlsrpt))
        }
        if c.domains.isEmpty { throw r.error("no domains configured") }
        c.reports = try Reports.read(map["reports"], r, domains: c.domains)
        c.acme = try ACME.read(map["acme"], r)
        if c.acme?.challenge == "http-01", c.http.isEmpty {
            throw r.error("acme.challenge http-01 needs an `http` listener (the CA validates on port 80): add `http: 0.0.0.0:80`, or use tls-alpn-01")
        }
        return c
    }

    /// `https://mta-sts.<domain>/.well-known/mta-sts.txt` → `<domain>` (the fetcher always uses that path).
    public static func upstreamDomain(_ url: String) -> DomainName? {
        let prefix = "https://mta-sts."
        guard url.lowercased().hasPrefix(prefix) else { return nil }
        var rest = url.dropFirst(prefix.count)
        guard rest.hasSuffix("/.well-known/mta-sts.txt") else { return nil }
        rest = rest.dropLast("/.well-known/mta-sts.txt".count)
        guard !rest.contains(":"), !rest.contains("/"), let domain = try? DomainName(String(rest)) else { return nil }
        return domain
    }
}

/// The policy host's own value readers, on the shared typed reader.
private extension ConfigReader {
    func listen(_ s: String, _ key: String) throws(ConfigurationError) -> PolicyHostConfiguration.Listen {
        guard let l = PolicyHostConfiguration.Listen.parse(s) else { throw error("\(key): '\(s)' is not HOST:PORT") }
        return l
    }
    func certificate(_ map: [String: Any], _ prefix: String) throws(ConfigurationError) -> PolicyHostConfiguration.Certificate? {
        let chain = try string(map["certificate"], prefix + "certificate")
        let key = try string(map["key"], prefix + "key")
        switch (chain, key) {
        case (nil, nil): return nil
        case (let c?, let k?): return PolicyHostConfiguration.Certificate(chain: c, key: k)
        default: throw error("\(prefix)certificate and \(prefix)key go together")
        }
    }

    /// The policy keys of a domain entry (or `default`): static fields, `file`, or `proxy`; nil when none.
    func policySource(_ map: [String: Any], _ at: String) throws(ConfigurationError) -> PolicyHostConfiguration.Source? {
        let hasStatic = map["mode"] != nil || map["mx"] != nil || map["max_age"] != nil
        let file = try string(map["file"], at + ".file")
        let proxy = try string(map["proxy"], at + ".proxy")
        let mxGuard = try bool(map["mx_guard"], at + ".mx_guard")
        if [hasStatic, file != nil, proxy != nil].filter({ $0 }).count > 1 {
            throw error("\(at): give one of mode/mx/max_age, file or proxy")
        }
        if mxGuard != nil && proxy == nil { throw error("\(at).mx_guard applies to proxy only") }
        if let file { return .file(path: file) }
        if let proxy {
            guard let upstream = PolicyHostConfiguration.upstreamDomain(proxy) else {
                throw error("\(at).proxy must be https://mta-sts.<domain>/.well-known/mta-sts.txt (got '\(proxy)')")
            }
            return .proxy(upstream: upstream, mxGuard: mxGuard ?? false)
        }
        guard hasStatic else { return nil }
        // The policy text as written, validated by the core parser exactly as a file would be.
        guard let mode = try string(map["mode"], at + ".mode") else { throw error("\(at).mode is missing") }
        guard let maxAge = map["max_age"] else { throw error("\(at).max_age is missing") }
        guard maxAge is Int || maxAge is String else { throw error("\(at).max_age must be a whole number of seconds") }
        let mx = try strings(map["mx"], at + ".mx") ?? []
        let lines = ["version: STSv1", "mode: \(mode)"] + mx.map { "mx: \($0)" } + ["max_age: \(maxAge)"]
        let text = lines.map { $0 + "\r\n" }.joined()
        if lines.contains(where: { $0.utf8.contains(10) || $0.utf8.contains(13) }) {
            throw error("\(at): values must be single lines")
        }
        let parsed = STSPolicy.parse(text)
        guard let policy = parsed.policy else {
            let reasons = parsed.diagnostics.errors.map { "\($0.code): \($0.message)" }.joined(separator: "; ")
            throw error("\(at): the policy is invalid: \(reasons)", diagnostics: parsed.diagnostics)
        }
        return .fixed(policy)
    }
}
