import Foundation
@testable import MTASTSACME
import Testing

/// The small readers and writers of the ACME wire format: base64url (RFC 4648 §5), Link (RFC 8288), Retry-After.
@Suite struct ACMEWireTests {
    @Test("base64url: the RFC 4648 §10 vectors, without padding")
    func base64URLVectors() {
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(plain) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")  // the two letters that differ from base64
    }

    @Test("base64url: any bytes round-trip, and decoding reads exactly what Foundation's base64 reads")
    func base64URLAgainstFoundation() {
        var generator = SystemRandomNumberGenerator()
        for count in 0..<200 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
        // The reading before the byte loop: swap the alphabet, pad, and let Foundation decide.
        func reference(_ text: String) -> [UInt8]? {
            var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while standard.hasSuffix("=") { standard.removeLast() }
            guard !standard.contains("=") else { return nil }
            switch standard.count % 4 {
            case 2: standard += "=="
            case 3: standard += "="
            case 1: return nil
            default: break
            }
            return Data(base64Encoded: standard).map(Array.init)
        }
        let letters: [Character] = ["A", "B", "Q", "z", "0", "9", "-", "_", "+", "/", "=", " ", "\n", "é", "."]
        for _ in 0..<5000 {
            let text = String((0..<Int.random(in: 0...9, using: &generator)).map { _ in letters.randomElement(using: &generator)! })
            #expect(Base64URL.decode(text) == reference(text), "\(text.debugDescription)")
        }
    }

    @Test("Link: several links on one line or many, rel quoted or not, one of several relations, any case")
    func links() {
        let response = ACMEResponse(status: 200, headers: [
            ("link", #"<https://ca.test/dir>;rel="index", <https://ca.test/alt/1>; rel=alternate"#),
            ("Content-Type", "application/pem-certificate-chain"),
            ("LINK", " \t<https://ca.test/alt/2> ;\tREL = \"alternate up\" \t"),
            ("Link", "https://ca.test/no-brackets; rel=alternate"),
        ])
        #expect(response.links(rel: "alternate") == ["https://ca.test/alt/1", "https://ca.test/alt/2"])
        #expect(response.links(rel: "index") == ["https://ca.test/dir"])
        #expect(response.links(rel: "up") == ["https://ca.test/alt/2"])
        #expect(response.links(rel: "next").isEmpty)
        #expect(response.header("content-type") == "application/pem-certificate-chain")
    }

    @Test("Retry-After: delay-seconds with white space around it, an HTTP-date, and nonsense")
    func retryAfter() {
        let now = Date(timeIntervalSince1970: 1_772_323_200)  // 2026-03-01 00:00:00 UTC
        #expect(ACMEResponse(status: 503, headers: [("retry-after", " \t120 ")]).retryAfter(now: now) == .seconds(120))
        #expect(ACMEResponse(status: 503, headers: [("Retry-After", "Sun, 01 Mar 2026 00:01:00 GMT")]).retryAfter(now: now) == .seconds(60))
        #expect(ACMEResponse(status: 503, headers: [("Retry-After", "soon")]).retryAfter(now: now) == nil)
        #expect(ACMEResponse(status: 503, headers: [("Retry-After", "-5")]).retryAfter(now: now) == nil)
    }
}
