import MTASTSCore
import MTASTSRuntime

extension PolicyHostConfiguration {
    /// `reports:`: receiving TLS reports by HTTPS POST (RFC 8460 §3, §5.3) on host names of their own, beside the
    /// policy hosts. Only these names accept a request body, and only with `POST`.
    public struct Reports: Sendable, Equatable {
        /// A name that receives reports (the host of the `rua=https://...` URI), with its certificate (SNI; nil: the
        /// default certificate).
        public struct Host: Sendable, Equatable {
            public var name: DomainName
            public var certificate: Certificate?
            public init(name: DomainName, certificate: Certificate? = nil) {
                self.name = name
                self.certificate = certificate
            }
        }

        /// 1 MiB: a daily report is a few kilobytes, gzip-compressed; a large provider's stays well below.
        public static let defaultMaxBody = 1 << 20
        /// The parser's decompressed-size cap, which a JSON body cannot usefully exceed either.
        public static let maxBodyLimit = 10 << 20

        public var store = StoreSetting.sqlite(path: StoreSetting.defaultReportsPath)
        public var hosts: [Host] = []
        /// Bytes of one POST body as sent (compressed or not); a larger Content-Length is answered 413 unread.
        public var maxBody = Reports.defaultMaxBody

        public init() {}

        /// Reads the `reports` mapping; `domains` are the configured policy domains (a report host must not be one of
        /// their `mta-sts.<domain>` names, which only ever serve the policy).
        static func read(_ v: Any?, _ r: ConfigReader, domains: [Domain]) throws(ConfigurationError) -> Reports? {
            guard let map = try r.mapping(v, "reports") else { return nil }
            try r.only(map, ["store", "hosts", "max_body"], at: "reports.")
            var reports = Reports()
            if let s = try r.string(map["store"], "reports.store") {
                guard let setting = StoreSetting(flag: s), setting != .memory else {
                    throw r.error("reports.store must be sqlite:PATH or postgres://... (not '\(s)')")
                }
                reports.store = setting
            }
            if let n = try r.int(map["max_body"], "reports.max_body") {
                guard (1...maxBodyLimit).contains(n) else { throw r.error("reports.max_body must be 1 to \(maxBodyLimit) bytes") }
                reports.maxBody = n
            }
            // A list of names (the default certificate), or a mapping of names to {certificate, key} (or nothing).
            var entries: [(String, [String: Any])] = []
            if let m = map["hosts"] as? [String: Any] {
                for name in m.keys.sorted() {
                    guard let entry = try r.mapping(m[name], "reports.hosts.\(name)") else { entries.append((name, [:])); continue }
                    try r.only(entry, ["certificate", "key"], at: "reports.hosts.\(name).")
                    entries.append((name, entry))
                }
            } else {
                entries = (try r.strings(map["hosts"], "reports.hosts") ?? []).map { ($0, [:]) }
            }
            if entries.isEmpty { throw r.error("reports.hosts names no host (the host of your rua=https://... URI)") }
            let policyHosts = Set(domains.compactMap { $0.name.policyHost })
            for (name, entry) in entries {
                let host: DomainName
                do { host = try DomainName(name) } catch { throw r.error("reports.hosts: \(error)") }
                if policyHosts.contains(host) { throw r.error("reports.hosts: \(host) is a policy host name (mta-sts.<domain> serves the policy only)") }
                if reports.hosts.contains(where: { $0.name == host }) { throw r.error("reports.hosts: \(host) is listed twice") }
                let chain = try r.string(entry["certificate"], "reports.hosts.\(name).certificate")
                let key = try r.string(entry["key"], "reports.hosts.\(name).key")
                if (chain == nil) != (key == nil) { throw r.error("reports.hosts.\(name): certificate and key go together") }
                reports.hosts.append(Host(name: host, certificate: chain.map { Certificate(chain: $0, key: key!) }))
            }
            return reports
        }
    }
}
