import Crypto
import Foundation
import SwiftASN1
import X509

/// The CSR sent to finalize an order (RFC 8555 §7.4): the order's names as a subjectAltName extension request
/// (the CA takes the names from there; the subject's CN is the first name for older tooling), signed with the
/// certificate key, which is not the account key.
public enum CertificateRequest {
    public static func der(dnsNames: [String], key: P256.Signing.PrivateKey) throws -> [UInt8] {
        guard let first = dnsNames.first else { throw ACMEClientError.badResponse("a CSR needs at least one name") }
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(dnsNames.map { .dnsName($0) }) }
        let request = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName(first) }, privateKey: .init(key),
            attributes: CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: .ecdsaWithSHA256
        )
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }
}

/// An issued chain (the PEM of §7.4.2, leaf first) with what renewal needs from the leaf.
public struct IssuedChain: Sendable {
    public let pem: String
    /// DER, leaf first.
    public let certificatesDER: [[UInt8]]
    public let leaf: Certificate
    public var notBefore: Date { leaf.notValidBefore }
    public var notAfter: Date { leaf.notValidAfter }
    /// Lowercase hex, colon-free.
    public var serialHex: String { leaf.serialNumber.bytes.map { String(format: "%02x", $0) }.joined() }
    public var dnsNames: [String] {
        ((try? leaf.extensions.subjectAlternativeNames) ?? nil).map { names in
            names.compactMap { if case .dnsName(let name) = $0 { name } else { nil } }
        } ?? []
    }

    public init(pem: String) throws {
        let documents = try PEMDocument.parseMultiple(pemString: pem).filter { $0.discriminator == "CERTIFICATE" }
        guard let first = documents.first else { throw ACMEClientError.badResponse("the chain holds no certificate") }
        self.pem = pem
        certificatesDER = documents.map(\.derBytes)
        leaf = try Certificate(derEncoded: first.derBytes)
    }

    /// RFC 9773 §4.1: base64url(the AKI's keyIdentifier) "." base64url(the serial's DER INTEGER content bytes,
    /// a leading zero included when the high bit is set). Nil when the leaf has no keyIdentifier.
    public var renewalCertificateID: String? { Self.renewalCertificateID(leaf) }

    public static func renewalCertificateID(_ certificate: Certificate) -> String? {
        guard let aki = try? certificate.extensions.authorityKeyIdentifier, let keyID = aki.keyIdentifier else { return nil }
        return Base64URL.encode(keyID) + "." + Base64URL.encode(integerContent(certificate.serialNumber.bytes))
    }

    /// The DER INTEGER content of a positive number from its big-endian bytes: no redundant leading zeros, and
    /// one zero byte before a high first bit. (`SerialNumber.bytes` keeps whatever form it was made from, which
    /// for a serial built in memory lacks that zero.)
    static func integerContent(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var trimmed = Array(bytes.drop { $0 == 0 })
        if trimmed.isEmpty { return [0] }
        if trimmed[0] & 0x80 != 0 { trimmed.insert(0, at: 0) }
        return trimmed
    }

    /// The point at `fraction` of the validity period (two thirds: the renewal time when no ARI window is offered).
    public func renewalTime(fraction: Double = 2.0 / 3.0) -> Date {
        notBefore + notAfter.timeIntervalSince(notBefore) * fraction
    }
}

extension ACMEClient {
    /// RFC 9773 §4.2: the CA's suggested renewal window for a certificate identifier (``IssuedChain/renewalCertificateID``),
    /// by an unauthenticated GET. ``ACMEClientError/unsupported(_:)`` when the directory has no `renewalInfo`.
    public func renewalInfo(certificateID: String) async throws -> ACMERenewalInfo {
        guard let base = try await directory().renewalInfo else { throw ACMEClientError.unsupported("renewalInfo (RFC 9773)") }
        let url = (base.hasSuffix("/") ? base : base + "/") + certificateID
        let response = try await exchange(ACMERequest(method: .get, url: url))
        guard response.status == 200 else { throw ACMEProblem.from(response) }
        return try ACMERenewalInfo.parse(response, now: now())
    }
}
