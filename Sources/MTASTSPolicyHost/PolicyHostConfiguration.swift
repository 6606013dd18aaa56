import Foundation
import MTASTSCore
import Yams

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
    public var dnsServers: [String] = []
    public var dnsTrustAnchor: String?
    public var caFile: String?
    public var dnsTimeout: Double = 5
    public var fetchTimeout: Double = 60
    /// Longest time between two fetches of an upstream policy (earlier when half its max_age is shorter).
    public var proxyRefresh: Double = 3600
    /// Wait after a failed upstream fetch (shorter when the last good copy expires sooner).
    public var proxyRetry: Double = 60
    public var mxGuardInterval: Double = 300
    public var fileCheckInterval: Double = 5
    public var zone = ZoneSettings()

    public init() {}

    /// The entry for a domain (any spelling).
    public func domain(_ name: DomainName) -> Domain? { domains.first { $0.name == name } }

    /// Why a configuration cannot be used. `diagnostics` holds the core parser's findings for a bad policy.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public let diagnostics: [Diagnostic]
        /// True when the file could not be read at all (exit 2), false when its content is wrong (exit 1).
        public let isIOError: Bool
        public init(_ description: String, diagnostics: [Diagnostic] = [], isIOError: Bool = false) {
            self.description = description
            self.diagnostics = diagnostics
            self.isIOError = isIOError
        }
    }

    public static func load(path: String) throws(Invalid) -> PolicyHostConfiguration {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Invalid("cannot read \(path): \(error.localizedDescription)", isIOError: true)
        }
        return try parse(text, source: path)
    }

    static let policyKeys: Set<String> = ["mode", "mx", "max_age", "file", "proxy", "mx_guard"]

    public static func parse(_ text: String, source: String = "<config>") throws(Invalid) -> PolicyHostConfiguration {
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw Invalid("\(source): not valid YAML: \(error)") }
        guard let map = root as? [String: Any] else { throw Invalid("\(source): the top level must be a mapping") }
        let r = Reader(source: source)
        try r.only(map, ["https", "http", "admin", "certificate", "key", "default", "domains", "cache_control", "request_timeout",
                         "access_log", "dns_servers", "dns_trust_anchor", "ca_file", "dns_timeout", "fetch_timeout",
                         "proxy_refresh", "proxy_retry", "mx_guard_interval", "file_check_interval", "zone"], at: "")
        var c = PolicyHostConfiguration()
        if let v = try r.strings(map["https"], "https") { c.https = try v.map { s throws(Invalid) in try r.listen(s, "https") } }
        if let v = try r.strings(map["http"], "http") { c.http = try v.map { s throws(Invalid) in try r.listen(s, "http") } }
        if let v = try r.string(map["admin"], "admin") { c.admin = try r.listen(v, "admin") }
        c.certificate = try r.certificate(map, "")
        c.cacheControl = try r.string(map["cache_control"], "cache_control") ?? c.cacheControl
        if c.cacheControl.contains(where: { $0 == "\r" || $0 == "\n" }) { throw Invalid("\(source): cache_control must be one line") }
        c.requestTimeout = try r.seconds(map["request_timeout"], "request_timeout") ?? c.requestTimeout
        c.accessLog = try r.bool(map["access_log"], "access_log") ?? c.accessLog
        c.dnsServers = try r.strings(map["dns_servers"], "dns_servers") ?? []
        c.dnsTrustAnchor = try r.string(map["dns_trust_anchor"], "dns_trust_anchor")
        c.caFile = try r.string(map["ca_file"], "ca_file")
        c.dnsTimeout = try r.seconds(map["dns_timeout"], "dns_timeout") ?? c.dnsTimeout
        c.fetchTimeout = try r.seconds(map["fetch_timeout"], "fetch_timeout") ?? c.fetchTimeout
        c.proxyRefresh = try r.seconds(map["proxy_refresh"], "proxy_refresh") ?? c.proxyRefresh
        c.proxyRetry = try r.seconds(map["proxy_retry"], "proxy_retry") ?? c.proxyRetry
        c.mxGuardInterval = try r.seconds(map["mx_guard_interval"], "mx_guard_interval") ?? c.mxGuardInterval
        c.fileCheckInterval = try r.seconds(map["file_check_interval"], "file_check_interval") ?? c.fileCheckInterval
        if let z = map["zone"] {
            guard let z = z as? [String: Any] else { throw Invalid("\(source): zone must be a mapping") }
            try r.only(z, ["ttl", "addresses", "host"], at: "zone.")
            c.zone.ttl = try r.int(z["ttl"], "zone.ttl") ?? c.zone.ttl
            guard (0...2_147_483_647).contains(c.zone.ttl) else { throw Invalid("\(source): zone.ttl must be 0 to 2147483647 (RFC 2181 §8)") }
            c.zone.addresses = try r.strings(z["addresses"], "zone.addresses") ?? []
            c.zone.host = try r.string(z["host"], "zone.host")
            for a in c.zone.addresses where ZoneSnippet.addressType(a) == nil {
                throw Invalid("\(source): zone.addresses: '\(a)' is not an IP address")
            }
            if c.zone.host != nil && !c.zone.addresses.isEmpty { throw Invalid("\(source): zone: give addresses or host, not both") }
        }
        var defaultSource: Source?
        if let d = map["default"] {
            guard let d = d as? [String: Any] else { throw Invalid("\(source): default must be a mapping") }
            try r.only(d, policyKeys, at: "default.")
            defaultSource = try r.policySource(d, "default")
            if defaultSource == nil { throw Invalid("\(source): default has no policy (mode/mx/max_age, file or proxy)") }
        }
        guard let domains = map["domains"] else { throw Invalid("\(source): no domains configured") }
        guard let dmap = domains as? [String: Any] else { throw Invalid("\(source): domains must be a mapping of domain names") }
        for name in dmap.keys.sorted() {
            let domain: DomainName
            do { domain = try DomainName(name) } catch { throw Invalid("\(source): domains: \(error)") }
            if c.domains.contains(where: { $0.name == domain }) { throw Invalid("\(source): domains: \(domain) is listed twice") }
            guard domain.policyHost != nil else { throw Invalid("\(source): domains: mta-sts.\(domain) is longer than DNS allows") }
            let entry: [String: Any]
            switch dmap[name] {
            case nil, is NSNull: entry = [:]
            case let m as [String: Any]: entry = m
            default: throw Invalid("\(source): domains.\(name) must be a mapping (or empty for the default policy)")
            }
            let at = "domains.\(name)"
            try r.only(entry, policyKeys.union(["certificate", "key", "tlsrpt"]), at: at + ".")
            let own = try r.policySource(entry, at)
            guard let src = own ?? defaultSource else {
                throw Invalid("\(source): \(at) has no policy and there is no default")
            }
            let tlsrpt = try r.string(entry["tlsrpt"], at + ".tlsrpt")
            if let t = tlsrpt, !(t.hasPrefix("mailto:") || t.hasPrefix("https:")) || t.contains(where: { $0 == ";" || $0 == "\"" || $0 == " " }) {
                throw Invalid("\(source): \(at).tlsrpt must be one mailto: or https: URI (RFC 8460 §3)")
            }
            c.domains.append(Domain(name: domain, source: src, usesDefault: own == nil, certificate: try r.certificate(entry, at + "."),
                                    tlsrpt: tlsrpt))
        }
        if c.domains.isEmpty { throw Invalid("\(source): no domains configured") }
        return c
    }

    /// The typed readers; every error names the file and the key.
    private struct Reader {
        let source: String

        func only(_ map: [String: Any], _ keys: Set<String>, at prefix: String) throws(Invalid) {
            if let unknown = map.keys.sorted().first(where: { !keys.contains($0) }) {
                throw Invalid("\(source): unknown key '\(prefix)\(unknown)' (docs/policy-host.md lists the keys)")
            }
        }
        func string(_ v: Any?, _ key: String) throws(Invalid) -> String? {
            guard let v, !(v is NSNull) else { return nil }
            if let s = v as? String { return s }
            throw Invalid("\(source): \(key) must be a string")
        }
        func strings(_ v: Any?, _ key: String) throws(Invalid) -> [String]? {
            guard let v, !(v is NSNull) else { return nil }
            if let s = v as? String { return [s] }
            if let a = v as? [Any], let s = a as? [String] { return s }
            throw Invalid("\(source): \(key) must be a string or a list of strings")
        }
        func int(_ v: Any?, _ key: String) throws(Invalid) -> Int? {
            guard let v, !(v is NSNull) else { return nil }
            if let i = v as? Int { return i }
            throw Invalid("\(source): \(key) must be a whole number")
        }
        /// A duration: more than 0 (none of these has a meaning for 0 or less), finite and at most 10^9 s (so every
        /// timer type can hold it).
        func seconds(_ v: Any?, _ key: String) throws(Invalid) -> Double? {
            guard let v, !(v is NSNull) else { return nil }
            let d = (v as? Int).map(Double.init) ?? (v as? Double)
            guard let d, d.isFinite, d > 0, d <= 1e9 else {
                throw Invalid("\(source): \(key) must be a positive number of seconds, at most 1000000000, not \(v)")
            }
            return d
        }
        func bool(_ v: Any?, _ key: String) throws(Invalid) -> Bool? {
            guard let v, !(v is NSNull) else { return nil }
            if let b = v as? Bool { return b }
            throw Invalid("\(source): \(key) must be true or false")
        }
        func listen(_ s: String, _ key: String) throws(Invalid) -> Listen {
            guard let l = Listen.parse(s) else { throw Invalid("\(source): \(key): '\(s)' is not HOST:PORT") }
            return l
        }
        func certificate(_ map: [String: Any], _ prefix: String) throws(Invalid) -> Certificate? {
            let chain = try string(map["certificate"], prefix + "certificate")
            let key = try string(map["key"], prefix + "key")
            switch (chain, key) {
            case (nil, nil): return nil
            case (let c?, let k?): return Certificate(chain: c, key: k)
            default: throw Invalid("\(source): \(prefix)certificate and \(prefix)key go together")
            }
        }

        /// The policy keys of a domain entry (or `default`): static fields, `file`, or `proxy`; nil when none.
        func policySource(_ map: [String: Any], _ at: String) throws(Invalid) -> Source? {
            let hasStatic = map["mode"] != nil || map["mx"] != nil || map["max_age"] != nil
            let file = try string(map["file"], at + ".file")
            let proxy = try string(map["proxy"], at + ".proxy")
            let mxGuard = try bool(map["mx_guard"], at + ".mx_guard")
            if [hasStatic, file != nil, proxy != nil].filter({ $0 }).count > 1 {
                throw Invalid("\(source): \(at): give one of mode/mx/max_age, file or proxy")
            }
            if mxGuard != nil && proxy == nil { throw Invalid("\(source): \(at).mx_guard applies to proxy only") }
            if let file { return .file(path: file) }
            if let proxy {
                guard let upstream = PolicyHostConfiguration.upstreamDomain(proxy) else {
                    throw Invalid("\(source): \(at).proxy must be https://mta-sts.<domain>/.well-known/mta-sts.txt (got '\(proxy)')")
                }
                return .proxy(upstream: upstream, mxGuard: mxGuard ?? false)
            }
            guard hasStatic else { return nil }
            // The policy text as written, validated by the core parser exactly as a file would be.
            guard let mode = try string(map["mode"], at + ".mode") else { throw Invalid("\(source): \(at).mode is missing") }
            guard let maxAge = map["max_age"] else { throw Invalid("\(source): \(at).max_age is missing") }
            guard maxAge is Int || maxAge is String else { throw Invalid("\(source): \(at).max_age must be a whole number of seconds") }
            let mx = try strings(map["mx"], at + ".mx") ?? []
            let lines = ["version: STSv1", "mode: \(mode)"] + mx.map { "mx: \($0)" } + ["max_age: \(maxAge)"]
            let text = lines.map { $0 + "\r\n" }.joined()
            if lines.contains(where: { $0.utf8.contains(10) || $0.utf8.contains(13) }) {
                throw Invalid("\(source): \(at): values must be single lines")
            }
            let parsed = STSPolicy.parse(text)
            guard let policy = parsed.policy else {
                let reasons = parsed.diagnostics.errors.map { "\($0.code): \($0.message)" }.joined(separator: "; ")
                throw Invalid("\(source): \(at): the policy is invalid: \(reasons)", diagnostics: parsed.diagnostics)
            }
            return .fixed(policy)
        }
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
