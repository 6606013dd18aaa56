import Foundation
import MTASTSChecker
import Testing
import TestSupport

/// `mta-sts check` against the real peers of scripts/testbed.sh: NSD (zones chk.test and t.test), nginx as the
/// policy host, a dedicated Postfix instance with one smtpd per MX listener (127.0.5.x:2525) and a scripted
/// server that injects plaintext after STARTTLS. See scripts/testbed/README.md.
@Suite("mta-sts check against real peers", .serialized)
struct CheckCommandTests {
    static let smtpPort = "2525"

    /// One peer-facing case: a domain (and extra options), the exit status and the codes it must produce.
    struct PeerCase: CustomTestStringConvertible, Sendable {
        let domain: String
        let options: [String]
        let status: Int32
        let codes: [String]
        var testDescription: String { ([domain] + options).joined(separator: " ") }

        init(_ domain: String, _ options: [String] = [], status: Int32 = 1, codes: [String]) {
            self.domain = domain
            self.options = options
            self.status = status
            self.codes = codes
        }
    }

    static let cases: [PeerCase] = [
        // MX faults: wrong name, expired, self-signed, no STARTTLS, plaintext injection, refused, uncovered, no address
        PeerCase("bad.chk.test", codes: ["smtp-cert-name", "smtp-cert-expired", "smtp-cert-self-signed", "smtp-starttls-missing",
                                  "smtp-starttls-injection", "smtp-connect-failed", "mx-not-covered", "mx-no-address",
                                  "mx-pattern-unused", "tlsrpt-rua-invalid", "verdict-defer"]),
        PeerCase("partial.chk.test", codes: ["smtp-cert-expiring", "smtp-starttls-missing", "verdict-mx-skipped", "tlsrpt-missing"]),
        PeerCase("testing.chk.test", codes: ["mode-testing", "tlsrpt-invalid"]),
        PeerCase("off.chk.test", codes: ["mode-none", "tlsrpt-multiple"]),
        // TXT faults
        PeerCase("apex.chk.test", codes: ["txt-missing", "txt-at-apex", "mx-implicit"]),
        PeerCase("spfwild.chk.test", codes: ["txt-spf", "record-none"]),
        PeerCase("nullmx.chk.test", codes: ["mx-null", "host-no-address", "verdict-no-policy"]),
        PeerCase("two.t.test", codes: ["record-multiple"]),
        PeerCase("malformed.t.test", codes: ["record-id-invalid"]),
        PeerCase("loop.t.test", codes: ["txt-dns-failure"]),
        // Policy host faults (nginx and the fault server of the testbed)
        PeerCase("notfound.t.test", codes: ["host-http-status", "verdict-no-policy"]),
        PeerCase("redirect301.t.test", codes: ["host-http-redirect", "host-no-sni"]),
        PeerCase("html.t.test", codes: ["host-content-type"]),
        PeerCase("bigcl.t.test", codes: ["host-too-large"]),
        PeerCase("refused.t.test", codes: ["host-connect-failed"]),
        PeerCase("nohost.t.test", codes: ["host-no-address"]),
        PeerCase("expired.t.test", codes: ["host-cert-expired"]),
        PeerCase("selfsigned.t.test", codes: ["host-cert-self-signed"]),
        PeerCase("wrongname.t.test", codes: ["host-cert-name"]),
        PeerCase("badpolicy.t.test", codes: ["policy-mode-invalid", "verdict-no-policy"]),
        PeerCase("slowhead.t.test", ["--timeout", "1"], codes: ["host-timeout"]),
        PeerCase("tls11.t.test", codes: ["host-tls-version"]),
        // Without the test CA nothing chains to a trusted root.
        PeerCase("good.chk.test", ["--no-test-ca"], codes: ["host-cert-untrusted", "smtp-cert-untrusted"]),
        PeerCase("good.chk.test", ["--public-only"], codes: ["address-not-public"]),
        // Clean: CNAME-delegated record, proxied policy with the provider's pattern, provider MX.
        PeerCase("seed.chk.test", status: 0, codes: ["txt-cname"]),
        // DANE (signed zone dane.test, validated with the test anchors): TLSA of the real listener's key, and of another.
        PeerCase("checkok.dane.test", ["--test-anchor"], codes: ["dane-applies"]),
        PeerCase("checkbad.dane.test", ["--test-anchor"], codes: ["dane-tlsa-mismatch", "dane-applies"]),
        PeerCase("badtlsa.dane.test", ["--test-anchor"], codes: ["dane-tlsa-failed"]),
        PeerCase("unusable.dane.test", ["--test-anchor"], codes: ["dane-tlsa-unusable"]),
        PeerCase("badmx.dane.test", ["--test-anchor"], codes: ["dane-mx-bogus"]),
    ]

    static func run(_ domain: String, _ options: [String] = [], json: Bool = true) throws -> CommandRun {
        let world = try Testbed.shared()
        var args = ["check", domain, "--dns-server", world.dnsServer, "--smtp-port", smtpPort]
        if !options.contains("--no-test-ca") { args += ["--ca-file", world.caFile] }
        if options.contains("--test-anchor") { args += ["--dns-trust-anchor", world.trustAnchor] }
        args += options.filter { $0 != "--no-test-ca" && $0 != "--test-anchor" }
        if json { args.append("--json") }
        return try runMTASTS(args)
    }

    @Test("Each peer-facing finding is produced by a real peer", arguments: cases)
    func produces(_ c: PeerCase) throws {
        let run = try Self.run(c.domain, c.options)
        #expect(run.status == c.status, "\(run.stdout)\n\(run.stderr)")
        let codes = (run.json["findings"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
        for code in c.codes { #expect(codes.contains(code), "\(code) not in \(codes)") }
    }

    @Test("A deployment with three good MX hosts checks clean; the JSON has the documented keys")
    func good() throws {
        let run = try Self.run("good.chk.test")
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let json = run.json
        for key in ["domain", "findings", "record", "policy", "hosts", "mx", "tlsrpt", "verdict", "summary", "ms"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let findings = json["findings"] as? [[String: Any]] ?? []
        #expect(findings.filter { $0["severity"] as? String != "info" }.isEmpty, "\(findings)")
        let verdict = json["verdict"] as? [String: Any] ?? [:]
        #expect(verdict["action"] as? String == "deliver")
        #expect(verdict["deliver_to"] as? [String] == ["mx1.good.chk.test", "mx2.good.chk.test", "mx3.good.chk.test"])
        let mx = json["mx"] as? [[String: Any]] ?? []
        #expect(mx.count == 3)
        for m in mx {
            #expect(m["covered"] as? Bool == true)
            let address = (m["addresses"] as? [[String: Any]])?.first ?? [:]
            #expect(address["usable"] as? Bool == true, "\(m)")
            #expect(address["starttls"] as? Bool == true)
            #expect(address["tls_version"] as? String == "TLSv1.3")
            let cert = address["certificate"] as? [String: Any] ?? [:]
            #expect((cert["problems"] as? [String])?.isEmpty == true)
            #expect((cert["dns_names"] as? [String])?.contains(m["host"] as? String ?? "?") == true)
        }
        let record = json["record"] as? [String: Any] ?? [:]
        #expect(record["status"] as? String == "valid" && record["id"] as? String == "good1")
        let hosts = json["hosts"] as? [[String: Any]] ?? []
        #expect(hosts.count == 1 && hosts.first?["tls_version"] as? String == "TLSv1.3")
        #expect((json["tlsrpt"] as? [String: Any])?["status"] as? String == "valid")
    }

    @Test("The uncovered MX gets the minimal pattern; each MX fault names its reason")
    func badDetails() throws {
        let json = try Self.run("bad.chk.test").json
        let mx = json["mx"] as? [[String: Any]] ?? []
        let tenant = mx.first { $0["host"] as? String == "tenant.h-v1.mx.bad.chk.test" }
        #expect(tenant?["covered"] as? Bool == false)
        #expect(tenant?["suggestion"] as? String == "*.h-v1.mx.bad.chk.test")
        func address(_ host: String) -> [String: Any] {
            (mx.first { $0["host"] as? String == host }?["addresses"] as? [[String: Any]])?.first ?? [:]
        }
        func problems(_ host: String) -> [String] { (address(host)["certificate"] as? [String: Any])?["problems"] as? [String] ?? [] }
        #expect(problems("wrongname.bad.chk.test") == ["name-mismatch"])
        #expect(problems("expired.bad.chk.test") == ["expired"])
        #expect(problems("selfsigned.bad.chk.test") == ["self-signed"])
        #expect(address("inject.bad.chk.test")["injection"] as? Bool == true)
        #expect(address("nostarttls.bad.chk.test")["starttls"] as? Bool == false)
        #expect((json["verdict"] as? [String: Any])?["action"] as? String == "defer")
    }

    @Test("Human output: grouped, with the dig/curl/openssl commands, findings and the verdict")
    func text() throws {
        let run = try Self.run("partial.chk.test", json: false)
        #expect(run.status == 1)
        for part in ["TXT record", "Policy host", "MX", "TLS-RPT", "Findings", "Verdict:", "$ dig +short TXT _mta-sts.partial.chk.test @127.0.0.1",
                     "$ curl -sS -D -", "$ openssl s_client -starttls smtp -connect 127.0.5.11:2525 -servername soon.bad.chk.test",
                     "warning[verdict-mx-skipped]", "= fix:", "= rule: RFC 8461 §5"] {
            #expect(run.stdout.contains(part), "missing \(part) in:\n\(run.stdout)")
        }
        #expect(!run.stdout.contains("\u{1B}["), "NO_COLOR output has escapes")
    }

    @Test("Batch: --from checks every domain, prints a summary table, and JSON lines with --json")
    func batch() throws {
        let world = try Testbed.shared()
        let file = try temporaryFile(Array("# two domains\ngood.chk.test\n\nbad.chk.test # enforce, broken\nnot..valid\n".utf8))
        let common = ["check", "--from", file, "--dns-server", world.dnsServer, "--ca-file", world.caFile, "--smtp-port", Self.smtpPort]
        let text = try runMTASTS(common)
        #expect(text.status == 1)
        #expect(text.stdout.contains("good.chk.test") && text.stdout.contains("deliver (enforce)"), "\(text.stdout)")
        #expect(text.stdout.contains("defer (enforce)") && text.stdout.contains("invalid name"))
        #expect(text.stdout.contains("3 domain(s), 2 with errors"), "\(text.stdout)")
        let json = try runMTASTS(common + ["--json"])
        let lines = json.stdout.split(separator: "\n").map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        #expect(lines.count == 3 && lines.allSatisfy { $0 != nil })
        #expect(Set(lines.compactMap { $0?["domain"] as? String }) == ["good.chk.test", "bad.chk.test", "not..valid"])
    }

    @Test("The CNAME chain of the record is shown hop by hop (two hops: chain → chain2 → chain3)")
    func cnameChain() throws {
        let run = try Self.run("chain.t.test")
        let record = try #require(run.json["record"] as? [String: Any])
        #expect(record["cname_chain"] as? [String] == ["_mta-sts.chain2.t.test", "_mta-sts.chain3.t.test"])
        #expect(record["canonical_name"] as? String == "_mta-sts.chain3.t.test")
        let text = try Self.run("chain.t.test", json: false)
        #expect(text.stdout.contains("via CNAME _mta-sts.chain2.t.test → _mta-sts.chain3.t.test"))
    }

    @Test("DANE per MX in --json: TLSA records and whether the certificate presented at each address matches")
    func daneJSON() throws {
        for (domain, matches) in [("checkok.dane.test", true), ("checkbad.dane.test", false)] {
            let run = try Self.run(domain, ["--test-anchor"])
            #expect((run.json["dane"] as? [String: Any])?["regime"] as? String == "dane")
            let mx = try #require((run.json["mx"] as? [[String: Any]])?.first)
            let dane = try #require(mx["dane"] as? [String: Any])
            #expect(dane["tlsa"] as? String == "usable")
            let first = try #require((dane["matches"] as? [[String: Any]])?.first)
            #expect(first["address"] as? String == "127.0.5.1" && first["matches"] as? Bool == matches)
        }
        let off = try Self.run("checkok.dane.test", ["--dnssec", "off"])
        #expect(off.json["dane"] == nil || off.json["dane"] is NSNull)
        let text = try Self.run("checkbad.dane.test", ["--test-anchor"], json: false)
        #expect(text.stdout.contains("DANE: TLSA 3 1 1") && text.stdout.contains("does not match"))
    }

    @Test("Usage errors exit 64", arguments: [[String](), ["good.chk.test", "--from", "x"], ["good.chk.test", "--smtp-port", "0"]])
    func usage(_ args: [String]) throws {
        #expect(try runMTASTS(["check"] + args).status == 64)
    }

    @Test("Every finding code is documented in docs/check.md and produced by a test (pure or real peer)")
    func catalogue() throws {
        let doc = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/check.md"), encoding: .utf8)
        let codes = FindingCodes.all
        for code in codes { #expect(doc.contains("| `\(code)` |"), "\(code) is not documented") }
        let produced = Set(CheckRulesTests.cases.map(\.code))
        for code in codes { #expect(produced.contains(code), "no pure test produces \(code)") }
        // The peer-facing ones also come from real peers.
        let fromPeers = Set(Self.cases.flatMap(\.codes))
        for code in FindingCodes.peerFacing { #expect(fromPeers.contains(code), "no real-peer test produces \(code)") }
    }
}

enum FindingCodes {
    static let all = FindingCode.allCases.map(\.rawValue)
    /// Codes that describe a peer's behaviour (TXT, policy host, certificates, STARTTLS, injection, MX DNS,
    /// TLS-RPT, verdicts): each is also produced against a real peer in ``CheckCommandTests``. The rest
    /// (SERVFAIL, slow or inconsistent hosts, not-yet-valid certificates, refused STARTTLS, ...) need faults
    /// the testbed cannot stage cheaply and are produced with fakes only.
    static let peerFacing = [
        "txt-missing", "txt-dns-failure", "txt-at-apex", "txt-spf", "txt-cname",
        "host-no-address", "host-connect-failed", "host-tls-version", "host-cert-expired", "host-cert-self-signed",
        "host-cert-untrusted", "host-cert-name", "host-http-status", "host-http-redirect", "host-content-type",
        "host-too-large", "host-timeout", "host-no-sni", "address-not-public",
        "mx-implicit", "mx-null", "mx-not-covered", "mx-pattern-unused", "mx-no-address",
        "smtp-connect-failed", "smtp-starttls-missing", "smtp-starttls-injection", "smtp-cert-expired",
        "smtp-cert-self-signed", "smtp-cert-untrusted", "smtp-cert-name", "smtp-cert-expiring",
        "tlsrpt-missing", "tlsrpt-multiple", "tlsrpt-invalid", "tlsrpt-rua-invalid",
        "mode-testing", "mode-none", "verdict-no-policy", "verdict-defer", "verdict-mx-skipped",
        "dane-applies", "dane-mx-bogus", "dane-tlsa-failed", "dane-tlsa-unusable", "dane-tlsa-mismatch",
    ]
}
