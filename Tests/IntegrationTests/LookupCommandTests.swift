import Foundation
import MTASTSDiscovery
import TestSupport
import Testing

/// `mta-sts lookup` run as a process against the real test world: every outcome, its exit code and the
/// JSON contract of docs/lookup.md.
@Suite("mta-sts lookup against the test world")
struct LookupCommandTests {
    func lookup(_ domain: String, _ extra: [String] = []) throws -> CommandRun {
        let world = try Testbed.shared()
        return try runMTASTS(["lookup", "--json", "--dns-server", world.dnsServer, "--ca-file", world.caFile, "--timeout", "2"]
            + extra + [domain])
    }

    @Test("Every outcome through the command line", arguments: DiscoveryIntegrationTests.cases)
    func outcome(_ c: DiscoveryIntegrationTests.Case) throws {
        let r = try lookup(c.domain)
        #expect(r.status == (c.outcome == .valid ? 0 : 1), "stderr: \(r.stderr)")
        let json = r.json
        #expect(json["domain"] as? String == c.domain)
        #expect(json["outcome"] as? String == c.outcome.rawValue)
        #expect((json["error"] as? [String: Any])?["code"] as? String == c.code)
        #expect(json["tlsrpt_result_type"] as? String == c.outcome.tlsrptResultType)
        #expect((json["steps"] as? [[String: Any]])?.isEmpty == false)
        if c.outcome == .valid {
            let policy = try #require(json["policy"] as? [String: Any])
            #expect(policy["version"] as? String == "STSv1")
            #expect(["enforce", "testing", "none"].contains(policy["mode"] as? String ?? ""))
            #expect(policy["max_age"] is Int && policy["mx"] is [String])
            #expect((json["record"] as? [String: Any])?["id"] is String)
        } else {
            #expect(json["policy"] == nil)
        }
    }

    @Test("Text output shows each step, the outcome and the reason")
    func text() throws {
        let world = try Testbed.shared()
        let r = try runMTASTS(["lookup", "--dns-server", world.dnsServer, "--ca-file", world.caFile, "redirect301.t.test"])
        #expect(r.status == 1)
        #expect(r.stdout.contains("TXT _mta-sts.redirect301.t.test"))
        #expect(r.stdout.contains("GET https://mta-sts.redirect301.t.test/.well-known/mta-sts.txt at 127.0.1.1"))
        #expect(r.stdout.contains("outcome: fetch-error (TLS-RPT sts-policy-fetch-error)"))
        #expect(r.stdout.contains("[http-redirect]") && r.stdout.contains("https://mta-sts.good.t.test/"))
    }

    @Test("DNSSEC status with --dns-trust-anchor: secure, and bogus data never shown")
    func dnssec() throws {
        let world = try Testbed.shared()
        let secure = try lookup("sec.test", ["--dns-trust-anchor", world.trustAnchor])
        #expect(secure.status == 0 && secure.json["record_dnssec"] as? String == "secure")
        let bogus = try lookup("bogus.test", ["--dns-trust-anchor", world.trustAnchor])
        #expect(bogus.status == 1 && bogus.json["record_dnssec"] as? String == "bogus")
        #expect(bogus.json["outcome"] as? String == "dns-error")
        #expect(!bogus.stdout.contains("EVIL"))
    }

    @Test("G71 DANE status per MX host: regime, TLSA state and records; --dnssec off leaves it out", arguments: [
        ("ok.dane.test", "dane", ["usable"]), ("mixed.dane.test", "dane", ["none", "usable"]),
        ("unusable.dane.test", "mta-sts", ["unusable"]), ("badtlsa.dane.test", "deferred", ["failed"]),
    ])
    func dane(_ domain: String, _ regime: String, _ tlsa: [String]) throws {
        let world = try Testbed.shared()
        let r = try lookup(domain, ["--dns-trust-anchor", world.trustAnchor])
        #expect(r.status == 0, "the policy itself is valid: \(r.stderr)")
        let dane = try #require(r.json["dane"] as? [String: Any])
        #expect(dane["regime"] as? String == regime)
        #expect(dane["mx_dnssec"] as? String == "secure")
        let hosts = try #require(dane["hosts"] as? [[String: Any]])
        #expect(hosts.map { $0["tlsa"] as? String ?? "" } == tlsa)
        if regime == "dane" { #expect(hosts.contains { ($0["records"] as? [String])?.first?.hasPrefix("3 1 1 0c72ac70") == true }) }
        let off = try lookup(domain, ["--dnssec", "off"])
        #expect(off.json["dane"] == nil)
        let text = try runMTASTS(["lookup", "--dns-server", world.dnsServer, "--ca-file", world.caFile, "--dns-trust-anchor", world.trustAnchor, domain])
        #expect(text.stdout.contains("dane: "))
    }

    @Test("trust-ad (the default) believes only the AD bit, which an authoritative-only server never sets")
    func daneTrustAD() throws {
        let r = try lookup("ok.dane.test")
        let dane = try #require(r.json["dane"] as? [String: Any])
        #expect(dane["regime"] as? String == "mta-sts" && dane["mx_dnssec"] as? String == "insecure")
        #expect(try lookup("ok.dane.test", ["--dnssec", "trust-ad", "--dns-trust-anchor", "/nonexistent"]).status == 2)
    }

    @Test("Setup errors exit 2, usage errors 64")
    func errors() throws {
        let world = try Testbed.shared()
        let badCA = try runMTASTS(["lookup", "--dns-server", world.dnsServer, "--ca-file", "/nonexistent.pem", "good.t.test"])
        #expect(badCA.status == 2 && badCA.stderr.contains("/nonexistent.pem"))
        #expect(try runMTASTS(["lookup", "--dns-server", "127.0.0.1:notaport", "good.t.test"]).status == 64)
        #expect(try runMTASTS(["lookup", "not a domain"]).status == 64)
        #expect(try runMTASTS(["lookup", "--timeout", "0", "good.t.test"]).status == 64)
    }
}
