import MTASTSCore
import MTASTSRuntime

extension PolicyHostConfiguration {
    /// `acme:` (issue 12): certificates for `mta-sts.<domain>` from an ACME CA (RFC 8555) for every configured domain
    /// without its own `certificate`/`key`. docs/policy-host.md documents the keys.
    public struct ACME: Sendable, Equatable {
        public enum Storage: Sendable, Equatable, CustomStringConvertible {
            /// A directory for one host (0700, files 0600).
            case directory(String)
            /// PostgreSQL for a fleet: one account and one certificate per name, one host orders a name at a time.
            case postgres(url: String)
            public var description: String {
                switch self {
                case .directory(let path): path
                case .postgres: "postgres://..."  // the URL may hold a password
                }
            }
        }

        public static let defaultStorage = "/var/lib/mta-sts-serve/acme"
        /// The challenges answered by the policy host itself: tls-alpn-01 on the HTTPS listeners (RFC 8737), http-01 on
        /// the plain `http` listener (RFC 8555 §8.3; the configuration needs one).
        public static let challenges = ["tls-alpn-01", "http-01"]

        public var directory: String
        /// Account contact URIs (`mailto:`).
        public var contact: [String] = []
        public var storage = Storage.directory(ACME.defaultStorage)
        /// Extra roots for the ACME server's HTTPS (e.g. pebble's), beside the system's.
        public var caFile: String?
        public var challenge = "tls-alpn-01"

        public init(directory: String) { self.directory = directory }

        static func read(_ v: Any?, _ r: ConfigReader) throws(ConfigurationError) -> ACME? {
            guard let map = try r.mapping(v, "acme") else { return nil }
            try r.only(map, ["directory", "contact", "storage", "ca_file", "challenge"], at: "acme.")
            guard let directory = try r.string(map["directory"], "acme.directory") else { throw r.error("acme.directory is missing") }
            guard directory.hasPrefix("https://") else { throw r.error("acme.directory must be an https:// URL (RFC 8555 §6.1)") }
            var acme = ACME(directory: directory)
            acme.contact = try r.strings(map["contact"], "acme.contact") ?? []
            for c in acme.contact where !c.hasPrefix("mailto:") || c.contains(where: { $0 == "," || $0 == " " }) {
                throw r.error("acme.contact: '\(c)' is not one mailto: URI (RFC 8555 §7.3)")
            }
            if let s = try r.string(map["storage"], "acme.storage") {
                if s.hasPrefix("postgres://") || s.hasPrefix("postgresql://") {
                    acme.storage = .postgres(url: s)
                } else {
                    guard s.hasPrefix("/") else { throw r.error("acme.storage must be an absolute directory path or postgres://...") }
                    acme.storage = .directory(s)
                }
            }
            acme.caFile = try r.string(map["ca_file"], "acme.ca_file")
            acme.challenge = try r.string(map["challenge"], "acme.challenge") ?? acme.challenge
            guard challenges.contains(acme.challenge) else {
                throw r.error("acme.challenge must be one of: \(challenges.joined(separator: ", ")) (got '\(acme.challenge)')")
            }
            return acme
        }
    }

    /// The domains whose `mta-sts.<domain>` certificate comes from ACME: none without `acme`, else those without their
    /// own `certificate`/`key`.
    public var acmeDomains: [DomainName] {
        guard acme != nil else { return [] }
        return domains.filter { $0.certificate == nil }.map(\.name)
    }
}
