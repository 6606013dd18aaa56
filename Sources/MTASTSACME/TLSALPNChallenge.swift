import Crypto
import Foundation
import SwiftASN1
import X509

/// The tls-alpn-01 challenge (RFC 8737): the validation server connects with SNI = the name and ALPN `acme-tls/1`
/// and expects a self-signed certificate that carries the key authorization's digest. A TLS listener answers
/// such handshakes with ``certificate(for:keyAuthorization:now:)`` and every other handshake as usual.
public enum TLSALPNChallenge {
    /// RFC 8737 §6.2: the ALPN protocol name of validation handshakes.
    public static let applicationProtocol = "acme-tls/1"

    /// RFC 8737 §6.1: id-pe-acmeIdentifier.
    public static let acmeIdentifierOID: ASN1ObjectIdentifier = [1, 3, 6, 1, 5, 5, 7, 1, 31]

    /// The challenge certificate and its freshly made P-256 key.
    public struct Credentials: Sendable {
        /// The certificate, DER.
        public let certificateDER: [UInt8]
        /// The certificate, PEM.
        public let certificatePEM: String
        /// The key, PKCS#8 PEM (NIOSSL: `NIOSSLPrivateKey(bytes:format: .pem)`).
        public let privateKeyPEM: String
        /// The key, PKCS#8 DER.
        public let privateKeyDER: [UInt8]
    }

    /// The extension's value (RFC 8737 §3): the DER encoding of `Authorization ::= OCTET STRING (SIZE (32))`
    /// holding SHA-256 of the key authorization (its ASCII bytes).
    public static func extensionValue(keyAuthorization: String) -> [UInt8] {
        let digest = SHA256.hash(data: Array(keyAuthorization.utf8))
        var serializer = DER.Serializer()
        // An OCTET STRING of 32 bytes cannot fail to serialize.
        try? serializer.serialize(ASN1OctetString(contentBytes: ArraySlice(digest)))
        return serializer.serializedBytes
    }

    /// A self-signed certificate for `name` (an A-label, lowercase) answering the challenge whose key
    /// authorization is given (``AccountKey/keyAuthorization(token:)``). RFC 8737 §3: the subjectAltName holds
    /// exactly that one dNSName and the acmeIdentifier extension is critical. Valid from an hour before `now`
    /// for a week: the validation happens within minutes; the margin absorbs clock skew.
    public static func certificate(for name: String, keyAuthorization: String, now: Date = Date()) throws -> Credentials {
        let key = P256.Signing.PrivateKey()
        let signer = Certificate.PrivateKey(key)
        let subject = try DistinguishedName { CommonName(name) }
        let extensions = try Certificate.Extensions {
            SubjectAlternativeNames([.dnsName(name)])
            Certificate.Extension(oid: acmeIdentifierOID, critical: true,
                                  value: ArraySlice(extensionValue(keyAuthorization: keyAuthorization)))
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: signer.publicKey,
            notValidBefore: now - 3600, notValidAfter: now + 7 * 86400,
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: signer
        )
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return Credentials(certificateDER: serializer.serializedBytes,
                           certificatePEM: try certificate.serializeAsPEM().pemString,
                           privateKeyPEM: key.pemRepresentation,
                           privateKeyDER: Array(key.derRepresentation))
    }
}
