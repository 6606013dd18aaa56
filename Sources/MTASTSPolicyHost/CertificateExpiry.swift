import Foundation
import MTASTSCertificates
import MTASTSCore

/// When each served certificate expires (issue 12, item 6): the gauge
/// `mtasts_certificate_expiry_timestamp_seconds{domain}` and the expiry rule of `/healthz`.
public struct CertificateExpiry: Sendable, Equatable {
    /// The configured domain (or the report host's own name: `reports.hosts`).
    public let domain: String
    /// The name a client asks for: `mta-sts.<domain>`, or the report host.
    public let host: String
    public let notAfter: Date

    /// `/healthz` turns 503 this long before a served certificate expires: a week leaves an operator time to act
    /// when renewal (ACME, or by hand) has been failing.
    public static let warning: Double = 7 * 86400

    /// The `/healthz` line for a certificate expired or expiring within ``warning`` of `now`; nil when it is not.
    public func problem(now: Double) -> String? {
        let left = notAfter.timeIntervalSince1970 - now
        guard left < Self.warning else { return nil }
        let when = ISO8601DateFormatter().string(from: notAfter)
        return left <= 0 ? "certificate expired: \(host) (not after \(when))"
            : "certificate expires within 7 days: \(host) (not after \(when), \(Int(left / 86400)) day(s) left)"
    }

    /// The gauge's exposition lines, one per entry.
    public static func exposition(_ all: [CertificateExpiry]) -> String {
        var out = """
            # HELP mtasts_certificate_expiry_timestamp_seconds Not-after of the certificate served for each domain's policy host name (file, default or ACME).
            # TYPE mtasts_certificate_expiry_timestamp_seconds gauge

            """
        for e in all { out += "mtasts_certificate_expiry_timestamp_seconds{domain=\"\(e.domain)\"} \(Int64(e.notAfter.timeIntervalSince1970))\n" }
        return out
    }
}

extension PolicyHost {
    /// The certificate a handshake for each served name gets now: the domain's own from the configuration, else the
    /// one installed while running (ACME), else the default (``HostState/makeTLS(_:installed:)``'s order). Sorted by
    /// name; a chain that does not parse is left out (NIOSSL loaded it, so it cannot happen).
    public func servedExpiries() -> [CertificateExpiry] {
        let s = state
        let own = Set(s.configuration.domains.filter { $0.certificate != nil }.map(\.name))
        var parsed: [[UInt8]: Date] = [:]  // thousands of domains may share the default certificate: parse it once
        var all: [CertificateExpiry] = []
        for served in s.served {
            var chain = served.chain
            if served.reportHost == nil, !own.contains(served.domain), let installed = certificates.chain(domain: served.domain) { chain = installed }
            guard let leaf = chain.first else { continue }
            if parsed[leaf] == nil { parsed[leaf] = CertificateReader.leaf(der: leaf)?.notAfter }
            guard let notAfter = parsed[leaf] else { continue }
            all.append(CertificateExpiry(domain: served.domain.value, host: served.host.value, notAfter: notAfter))
        }
        return all.sorted { $0.host < $1.host }
    }
}
