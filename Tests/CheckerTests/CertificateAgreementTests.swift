import Foundation
import MTASTSCertificates
import SwiftASN1
import Testing
import TestSupport
import X509

/// `mta-sts lookup` (the strict fetch, as the resolver runs it) and `mta-sts check` judge a certificate with the
/// one judgement (MTASTSCertificates): against the test world's bad policy hosts both name the same reason in
/// the same words. The lookup keeps its documented codes (docs/lookup.md: a self-signed certificate is
/// `tls-certificate-untrusted`); its message is the check finding's message.
@Suite("lookup and check agree about a certificate", .serialized)
struct CertificateAgreementTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let domain: String
        /// False: run without the test CA, so a CA-signed certificate chains to nothing trusted.
        let testCA: Bool
        let fetchCode: String
        let problem: String
        let finding: String
        var testDescription: String { domain + (testCA ? "" : " without the test CA") }
    }

    static let cases: [Case] = [
        Case(domain: "expired.t.test", testCA: true, fetchCode: "tls-certificate-expired", problem: "expired", finding: "host-cert-expired"),
        Case(domain: "wrongname.t.test", testCA: true, fetchCode: "tls-certificate-name", problem: "name-mismatch", finding: "host-cert-name"),
        Case(domain: "selfsigned.t.test", testCA: true, fetchCode: "tls-certificate-untrusted", problem: "self-signed",
             finding: "host-cert-self-signed"),
        Case(domain: "good.t.test", testCA: false, fetchCode: "tls-certificate-untrusted", problem: "untrusted", finding: "host-cert-untrusted"),
    ]

    @Test("The fetch's reason is the check's first problem, in the same words", arguments: cases)
    func agree(_ c: Case) throws {
        let world = try Testbed.shared()
        let network = ["--dns-server", world.dnsServer] + (c.testCA ? ["--ca-file", world.caFile] : [])
        let lookup = try runMTASTS(["lookup", "--json"] + network + [c.domain])
        #expect(lookup.status == 1, "\(lookup.stdout)\n\(lookup.stderr)")
        #expect(lookup.json["outcome"] as? String == "webpki-invalid")
        let error = try #require(lookup.json["error"] as? [String: Any], "\(lookup.stdout)")
        #expect(error["code"] as? String == c.fetchCode)

        let check = try runMTASTS(["check", "--json", "--smtp-port", "2525"] + network + [c.domain])
        let host = try #require((check.json["hosts"] as? [[String: Any]])?.first, "\(check.stdout)\n\(check.stderr)")
        let problems = (host["certificate"] as? [String: Any])?["problems"] as? [String] ?? []
        #expect(problems.first == c.problem, "\(problems)")
        let findings = check.json["findings"] as? [[String: Any]] ?? []
        let finding = try #require(findings.first { $0["code"] as? String == c.finding }, "\(findings)")
        #expect(finding["message"] as? String == error["message"] as? String)
    }

    /// The fetch reads only the extensions of the leaf it is given (every successful fetch asks); the judgement
    /// reads the parsed certificate. Both must see the same names, also with no SAN at all and a partial wildcard.
    @Test("The SAN reader gives the same names from DER as from the parsed certificate", arguments: ["good", "other", "cnonly", "partial"])
    func sanReader(_ label: String) throws {
        let world = try Testbed.shared()
        let dir = URL(fileURLWithPath: world.caFile).deletingLastPathComponent().appendingPathComponent("certs")
        let pem = try String(contentsOf: dir.appendingPathComponent("\(label).pem"), encoding: .utf8)
        let der = try PEMDocument(pemString: pem).derBytes
        let names = CertificateReader.dnsNames(try Certificate(derEncoded: der))
        #expect(CertificateReader.dnsNames(der: der) == names)
        #expect(names == ["good": ["mta-sts.good.t.test"], "other": ["mta-sts.other.t.test"], "cnonly": [],
                          "partial": ["mta*.partial.t.test"]][label])
    }
}
