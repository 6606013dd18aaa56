import Foundation
import MTASTSCore

/// What the one certificate judgement (``CertificateEvaluator``) says about a presented chain. `mta-sts check`
/// turns each problem into a finding; the strict policy fetch (`lookup`, the resolver) names the first one as
/// its failure; both say it with ``sentence(_:host:role:now:)``, so they describe a certificate alike.
public struct CertificateReport: Sendable, Hashable {
    /// Why a sender would reject the certificate. Several can hold at once; they are listed in this order,
    /// so the first is the reason a single verdict names.
    public enum Problem: String, Sendable, Hashable, CaseIterable {
        case expired
        case notYetValid = "not-yet-valid"
        case selfSigned = "self-signed"
        /// No chain to a trusted root (unknown issuer, missing intermediate).
        case untrusted
        /// No SAN DNS-ID covers the name the sender connected to.
        case nameMismatch = "name-mismatch"
        /// The leaf is not a parseable X.509 certificate.
        case unparseable
    }

    public var subject: String
    public var issuer: String
    /// The SAN dNSName entries of the leaf.
    public var dnsNames: [String]
    /// Validity, in seconds since 1970.
    public var notBefore: Int64
    public var notAfter: Int64
    public var chainLength: Int
    public var problems: [Problem]
    /// The verifier's words when the chain did not validate.
    public var trustDetail: String?

    public init(subject: String, issuer: String, dnsNames: [String], notBefore: Int64, notAfter: Int64, chainLength: Int,
                problems: [Problem], trustDetail: String? = nil) {
        self.subject = subject
        self.issuer = issuer
        self.dnsNames = dnsNames
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.chainLength = chainLength
        self.problems = problems
        self.trustDetail = trustDetail
    }

    /// Whole days until `notAfter` (negative once expired).
    public func daysLeft(now: Int64) -> Int { Int((notAfter - now) / 86400) }

    /// The SAN DNS names as shown in every sentence.
    public var shownNames: String { dnsNames.isEmpty ? "no DNS names" : dnsNames.joined(separator: ", ") }

    /// One problem in words, the same for every command. `role` names what `host` is ("policy host", "MX").
    public func sentence(_ problem: Problem, host: DomainName, role: String, now: Int64) -> String {
        switch problem {
        case .expired:
            "the certificate (\(shownNames)) expired on \(Self.date(notAfter)), \(-daysLeft(now: now)) day(s) ago"
        case .notYetValid:
            "the certificate (\(shownNames)) is not valid before \(Self.date(notBefore))"
        case .selfSigned:
            "the certificate (\(shownNames)) is self-signed; senders trust only public CAs"
        case .untrusted, .unparseable:
            "the certificate (\(shownNames), issuer \(issuer)) does not chain to a trusted root" + (trustDetail.map { ": \($0)" } ?? "")
        case .nameMismatch:
            // RFC 8461 §3.3 (policy host), §4.2 (MX), RFC 9525: never the subject CN.
            "the certificate is for \(shownNames), not the \(role) \(host) (SAN DNS-IDs only, never the subject CN; `*` covers one label)"
        }
    }

    static func date(_ seconds: Int64) -> String { Date(timeIntervalSince1970: TimeInterval(seconds)).description }
}
