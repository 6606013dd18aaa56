import Foundation
import X509

extension CertificateReader {
    /// What an operator reads off a certificate (`mta-sts certs list`, the expiry gauge, `/healthz`).
    public struct Leaf: Sendable, Equatable {
        /// The issuer's distinguished name, as ``CertificateReport/issuer`` writes it.
        public var issuer: String
        public var notBefore: Date
        public var notAfter: Date
        public var dnsNames: [String]
    }

    /// The first certificate of a DER chain, read; nil when it does not parse.
    public static func leaf(der: [UInt8]) -> Leaf? {
        guard let c = try? Certificate(derEncoded: der) else { return nil }
        return Leaf(issuer: String(describing: c.issuer), notBefore: c.notValidBefore, notAfter: c.notValidAfter, dnsNames: dnsNames(c))
    }

    /// The first certificate of a PEM chain (leaf first), read; nil when there is none or it does not parse.
    public static func leaf(pem: String) -> Leaf? {
        guard let c = (try? certificates(pem: pem))?.first else { return nil }
        return Leaf(issuer: String(describing: c.issuer), notBefore: c.notValidBefore, notAfter: c.notValidAfter, dnsNames: dnsNames(c))
    }
}
