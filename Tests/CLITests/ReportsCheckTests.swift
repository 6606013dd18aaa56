import Foundation
import TestSupport
import Testing

/// `mta-sts reports summary --check` against the real-peer test world (scripts/testbed.sh): reports written here name
/// the world's domains and MX hosts, and the re-check finds the broken ones still broken and the good ones fine.
@Suite("mta-sts reports summary --check")
struct ReportsCheckTests {
    /// One policy of a synthetic report: the domain, and failure details (result type, receiving MX or nil, sessions).
    static func policy(_ domain: String, _ failures: [(String, String?, Int)]) -> [String: Any] {
        let details: [[String: Any]] = failures.map { type, mx, n in
            var d: [String: Any] = ["result-type": type, "failed-session-count": n]
            d["receiving-mx-hostname"] = mx
            return d
        }
        return ["policy": ["policy-type": "sts", "policy-string": ["version: STSv1"], "policy-domain": domain],
                "summary": ["total-successful-session-count": 10, "total-failure-session-count": failures.map(\.2).reduce(0, +)],
                "failure-details": details]
    }

    static func report() throws -> [UInt8] {
        let report: [String: Any] = [
            "organization-name": "Recheck Sender", "report-id": "recheck-1", "contact-info": "tlsrpt@sender.example",
            "date-range": ["start-datetime": "2026-12-01T00:00:00Z", "end-datetime": "2026-12-01T23:59:59Z"],
            "policies": [
                policy("bad.chk.test", [("certificate-host-mismatch", "wrongname.bad.chk.test", 3), ("starttls-not-supported", "nostarttls.bad.chk.test", 1),
                                        ("certificate-expired", "refused.bad.chk.test", 1), ("x-sender-own", nil, 1)]),
                policy("good.chk.test", [("certificate-expired", "mx1.good.chk.test", 2), ("sts-policy-fetch-error", nil, 1)]),
                policy("wrongname.t.test", [("sts-webpki-invalid", nil, 4)]),
            ],
        ]
        return Array(try JSONSerialization.data(withJSONObject: report))
    }

    @Test("Still failing for broken MX hosts and policy hosts, not seen for good ones, not checkable where nothing answers")
    func againstTestbed() async throws {
        let world = try Testbed.shared()
        let store = ReportsCommandTests.freshStore()
        let file = try temporaryFile(try Self.report(), suffix: ".json")
        let imported = try await offPool { try ReportsCommandTests.reports(["import", file], store) }
        try #require(imported.status == 0, "\(imported.stderr)")
        let network = ["--check", "--dns-server", world.dnsServer, "--ca-file", world.caFile, "--smtp-port", "2525"]

        // Processes and the checks' network waits: on a thread of their own, the expectations here.
        let json = try await offPool { try ReportsCommandTests.reports(["summary", "--json"] + network, store) }
        #expect(json.status == 0, "\(json.stderr)")
        let domains = try #require(json.json["domains"] as? [[String: Any]])
        func results(_ domain: String) -> [String: [String: String]] {
            let d = domains.first { $0["domain"] as? String == domain }
            let check = d?["check"] as? [String: Any]
            #expect((check?["checked_at"] as? String)?.hasSuffix("Z") == true, "\(domain)")
            // The contract's keys are all still there.
            #expect(d?["result_types"] is [String: Int] && d?["mx"] is [String: Any] && d?["failure_rate"] is Double)
            return check?["results"] as? [String: [String: String]] ?? [:]
        }
        let bad = results("bad.chk.test")
        #expect(bad["certificate-host-mismatch"]?["status"] == "still-failing")
        #expect(bad["certificate-host-mismatch"]?["detail"]?.contains("wrongname.bad.chk.test 127.0.5.5 port 2525: the certificate is for") == true)
        #expect(bad["starttls-not-supported"]?["status"] == "still-failing")
        #expect(bad["starttls-not-supported"]?["detail"]?.contains("EHLO did not offer STARTTLS") == true)
        #expect(bad["certificate-expired"]?["status"] == "not-checkable")  // refused.bad.chk.test refuses connections
        #expect(bad["x-sender-own"]?["status"] == "not-checkable")
        let good = results("good.chk.test")
        #expect(good["certificate-expired"] == ["status": "not-seen", "detail": "check found no expired certificate at mx1.good.chk.test now"])
        #expect(good["sts-policy-fetch-error"]?["status"] == "not-seen")
        let webpki = results("wrongname.t.test")
        #expect(webpki["sts-webpki-invalid"]?["status"] == "still-failing")
        #expect(webpki["sts-webpki-invalid"]?["detail"]?.contains("not the policy host mta-sts.wrongname.t.test") == true)

        let text = try await offPool { try ReportsCommandTests.reports(["summary"] + network, store) }
        #expect(text.status == 0, "still-failing does not change the exit status: \(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains { $0.hasPrefix("still failing now: wrongname.bad.chk.test 127.0.5.5 port 2525: the certificate is for") })
        #expect(lines.contains("not seen now (fixed?): check found no expired certificate at mx1.good.chk.test now"))
        #expect(lines.contains { $0.hasPrefix("cannot be re-checked: could not talk SMTP with refused.bad.chk.test now") })
        // --fail-above alone decides exit 1, with or without --check.
        let alert = try await offPool { try ReportsCommandTests.reports(["summary", "--fail-above", "0.2"] + network, store) }
        #expect(alert.status == 1)
        #expect(alert.stdout.contains("still failing now:"))
    }

    @Test("Without --check the summary has no `check` key and makes no check; network flags without --check are a usage error")
    func withoutCheck() throws {
        let store = ReportsCommandTests.freshStore()
        let file = try temporaryFile(try Self.report(), suffix: ".json")
        #expect(try ReportsCommandTests.reports(["import", file], store).status == 0)
        let plain = try ReportsCommandTests.reports(["summary", "--json"], store)
        #expect(plain.status == 0)
        let domains = try #require(plain.json["domains"] as? [[String: Any]])
        #expect(domains.count == 3 && domains.allSatisfy { $0["check"] == nil })
        let misuse = try ReportsCommandTests.reports(["summary", "--dns-server", "127.0.0.1:5300"], store)
        #expect(misuse.status == 64)
        #expect(misuse.stderr.contains("go with --check"))
    }
}
