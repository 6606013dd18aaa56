import Foundation
import SwiftASN1
import X509

/// Reading certificates with swift-certificates: the one SAN reader (for the fetch's name check, the
/// judgement and `mta-sts check`), PEM bundles, and whether a key belongs to a certificate (`serve`).
public enum CertificateReader {
    /// The SAN dNSName entries of a certificate (RFC 5280 §4.2.1.6); none when it has no SAN extension.
    public static func dnsNames(_ certificate: Certificate) -> [String] {
        (try? certificate.extensions.subjectAlternativeNames).map(dnsNames) ?? []
    }

    /// The SAN dNSName entries of a DER certificate; nil when it does not parse. Every successful policy fetch
    /// asks this, so only the TBSCertificate's extensions are decoded (RFC 5280 §4.1: `[3] EXPLICIT Extensions`),
    /// not the names, the key or the signature; the SAN itself is decoded by swift-certificates as above.
    public static func dnsNames(der: [UInt8]) -> [String]? {
        do {
            guard case .constructed(let certificate) = try DER.parse(der).content,
                  let tbs = certificate.first(where: { _ in true }), case .constructed(let fields) = tbs.content else { return nil }
            guard let tagged = fields.first(where: { $0.identifier == ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific) }) else {
                return []  // no extensions at all
            }
            guard case .constructed(let wrapped) = tagged.content, let list = wrapped.first(where: { _ in true }),
                  case .constructed(let extensions) = list.content else { return nil }
            for node in extensions {
                let ext = try Certificate.Extension(derEncoded: node)
                if ext.oid == .X509ExtensionID.subjectAlternativeName { return dnsNames(try SubjectAlternativeNames(ext)) }
            }
            return []
        } catch {
            return nil
        }
    }

    private static func dnsNames(_ san: SubjectAlternativeNames) -> [String] {
        san.compactMap { name in
            if case .dnsName(let n) = name { return n }
            return nil
        }
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
