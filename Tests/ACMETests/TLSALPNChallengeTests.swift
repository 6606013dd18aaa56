import Crypto
import Foundation
import MTASTSACME
import SwiftASN1
import Testing
import X509

@Suite struct TLSALPNChallengeTests {
    @Test func certificateCarriesTheDigestInACriticalExtensionAndOnlyTheName() throws {
        let keyAuthorization = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
        let credentials = try TLSALPNChallenge.certificate(for: "mta-sts.example.net", keyAuthorization: keyAuthorization)
        let certificate = try Certificate(derEncoded: credentials.certificateDER)
        // RFC 8737 §3: exactly one dNSName, the name being validated.
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(Array(names) == [.dnsName("mta-sts.example.net")])
        // The critical acmeIdentifier extension holds DER OCTET STRING (04 20) || SHA-256(key authorization).
        let ext = try #require(certificate.extensions[oid: TLSALPNChallenge.acmeIdentifierOID])
        #expect(ext.critical)
        let digest = Array(SHA256.hash(data: Array(keyAuthorization.utf8)))
        #expect(Array(ext.value) == [0x04, 0x20] + digest)
        // Self-signed by the key handed back with it.
        let key = try P256.Signing.PrivateKey(pemRepresentation: credentials.privateKeyPEM)
        #expect(certificate.publicKey == Certificate.PublicKey(key.publicKey))
        #expect(certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        #expect(credentials.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
    }
}
