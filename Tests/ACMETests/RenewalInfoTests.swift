import Crypto
import Foundation
@testable import MTASTSACME
import SwiftASN1
import Testing
import X509

/// ARI (RFC 9773) with the in-memory server (pebble 2.4 does not offer it), and the pieces of responses it reads.
@Suite struct RenewalInfoTests {
    @Test func certificateIdentifierIsTheRFCsExample() throws {
        // RFC 9773 §4.1: AKI keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4 and serial
        // 0x87654321 (DER content 00 87 65 43 21: the leading zero keeps it positive) → aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE
        let key = P256.Signing.PrivateKey()
        let aki = AuthorityKeyIdentifier(keyIdentifier: [0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84,
                                                         0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4])
        let name = try DistinguishedName { CommonName("ari.example") }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: [0x87, 0x65, 0x43, 0x21]), publicKey: .init(key.publicKey),
            notValidBefore: Date(), notValidAfter: Date() + 86400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: try Certificate.Extensions { aki }, issuerPrivateKey: .init(key))
        #expect(IssuedChain.renewalCertificateID(certificate) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        // The same certificate read back from its DER (as a downloaded chain is).
        let pem = try certificate.serializeAsPEM().pemString
        #expect(try IssuedChain(pem: pem).renewalCertificateID == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
    }

    @Test func suggestedWindowAndRetryAfterAreRead() async throws {
        let server = FakeACMEServer { request, _ in
            guard request.url == FakeACMEServer.base + "/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" else { return nil }
            #expect(request.method == .get)  // §4.2: an unauthenticated GET, not POST-as-GET
            return .json(200, ["suggestedWindow": ["start": "2027-02-01T00:00:00Z", "end": "2027-02-03T12:30:00.5Z"],
                               "explanationURL": "https://acme.test/why"], headers: [("Retry-After", "21600")])
        }
        server.renewalInfo = true
        let client = ACMEClient(directoryURL: FakeACMEServer.base + "/dir", accountKey: AccountKey(), transport: server)
        let info = try await client.renewalInfo(certificateID: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        #expect(info.windowStart == Date(timeIntervalSince1970: 1_801_440_000))
        #expect(info.windowEnd == Date(timeIntervalSince1970: 1_801_657_800.5))
        #expect(info.retryAfter == .seconds(21600))
        #expect(info.explanationURL == "https://acme.test/why")

        // An order that renews a certificate names it in `replaces` (§5) when the server offers ARI.
        let orders = FakeACMEServer { request, server in
            guard request.url == FakeACMEServer.base + "/order" else { return nil }
            return .json(201, ["status": "pending", "identifiers": [], "authorizations": [], "finalize": "f"],
                         headers: [("Location", FakeACMEServer.base + "/order/1")], nonce: server.freshNonce())
        }
        orders.renewalInfo = true
        let key = AccountKey()
        let renewing = ACMEClient(directoryURL: FakeACMEServer.base + "/dir", accountKey: key, transport: orders,
                                  accountURL: FakeACMEServer.base + "/acct/1")
        _ = try await renewing.newOrder(dnsNames: ["a.example"], replaces: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
        let post = try #require(orders.requests.first { $0.method == .post })
        #expect(try FakeACMEServer.signed(post, key: key).payload?["replaces"] as? String == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
    }

    @Test func aWindowEndingBeforeItStartsIsRefused() async throws {
        let server = FakeACMEServer { request, _ in
            request.url.hasPrefix(FakeACMEServer.base + "/ari/")
                ? .json(200, ["suggestedWindow": ["start": "2027-02-03T00:00:00Z", "end": "2027-02-01T00:00:00Z"]]) : nil
        }
        server.renewalInfo = true
        let client = ACMEClient(directoryURL: FakeACMEServer.base + "/dir", accountKey: AccountKey(), transport: server)
        await #expect(throws: ACMEClientError.self) { try await client.renewalInfo(certificateID: "a.b") }
    }

    @Test(arguments: [
        // RFC 8288: several links in one header, quoted and unquoted rel, several relations in one rel.
        ("<https://a/1>;rel=\"up\", <https://a/2>; rel=alternate", "alternate", ["https://a/2"]),
        ("<https://a/1>;rel=\"up index\"", "index", ["https://a/1"]),
        ("<https://a/1>;rel=\"up\"", "alternate", []),
    ])
    func linkHeaders(header: String, rel: String, expected: [String]) {
        #expect(ACMEResponse(status: 200, headers: [("Link", header)]).links(rel: rel) == expected)
    }

    @Test func aRetryAfterDateWithACombiningMarkIsIgnored() {
        // Fuzz/regressions/acme/retry-after-combining-mark: Foundation's DateFormatter trapped on it (the process stopped).
        let response = ACMEResponse(status: 200, headers: [("Retry-After", "Sun, 15 Nov 1994 08:\u{33E}:37 GMT")])
        #expect(response.retryAfter(now: Date(timeIntervalSince1970: 0)) == nil)
        #expect(ACMEResponse(status: 200, headers: [("Retry-After", "Thu, 01 Jan 1970 00:00:20 GMT")])
            .retryAfter(now: Date(timeIntervalSince1970: 0)) == .seconds(20))
    }

    @Test func thumbprintIsOverTheCanonicalJWK() throws {
        // RFC 7638 §3: the required members in lexicographic order without whitespace, hashed with SHA-256.
        let key = AccountKey()
        let jwk = key.jwk
        let canonical = try JSONSerialization.data(withJSONObject: ["crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]],
                                                   options: [.sortedKeys])
        #expect(key.thumbprint == Base64URL.encode(SHA256.hash(data: canonical)))
        #expect(key.keyAuthorization(token: "tok") == "tok." + key.thumbprint)
        #expect(Base64URL.decode(key.thumbprint)?.count == 32)
    }
}
