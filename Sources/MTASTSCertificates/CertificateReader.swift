import Foundation
import X509

/// Reading certificates with swift-certificates: the one SAN reader (for the fetch's name check, the
/// judgement and `mta-sts check`), PEM bundles, and whether a key belongs to a certificate (`serve`).
public enum CertificateReader {
    /// The SAN dNSName entries of a certificate (RFC 5280 §4.2.1.6); none when it has no SAN extension.
    public static func dnsNames(_ certificate: Certificate) -> [String] {
        guard let san = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return san.compactMap { name in
            if case .dnsName(let n) = name { return n }
            return nil
        }
    }

    /// The SAN dNSName entries of a DER certificate; nil when it does not parse.
    public static func dnsNames(der: [UInt8]) -> [String]? {
        (try? Certificate(derEncoded: der)).map(dnsNames)
    }

    /// Every certificate of a PEM text (a CA file or a chain file), in order.
    public static func certificates(pem: String) throws -> [Certificate] {
        let begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----"
        return try pem.components(separatedBy: end).compactMap { block in
            guard let start = block.range(of: begin) else { return nil }
            let text = String(block[start.lowerBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
            return try Certificate(pemEncoded: text + "\n" + end)
        }
    }

    /// Whether the PEM private key `keyPEM` is the private half of the DER certificate's public key; nil for
    /// a key type swift-certificates does not read (nothing to compare with).
    public static func keyMatches(certificateDER: [UInt8], keyPEM: String) throws -> Bool? {
        guard let key = try? Certificate.PrivateKey(pemEncoded: keyPEM) else { return nil }
        return try Certificate(derEncoded: certificateDER).publicKey == key.publicKey
    }
}
