import Foundation
import MTASTSCore
import MTASTSDiscovery
import MTASTSHTTPFetch
import TestSupport
import Testing

/// `mta-sts serve` as real processes over real HTTPS with the test CA, checked by real clients: openssl
/// s_client, curl, our strict fetcher and `mta-sts lookup` against NSD (checklist L107–L109, C34–C44).
@Suite("mta-sts serve: real HTTPS, real clients", .serialized)
struct ServeTests {
    static let hosted = ["static", "file", "deflt", "customer", "guarded", "provider"]

    @Test("Per-SNI certificates: each name gets its own chain; an unknown name gets the default (L108, C43)")
    func sni() async throws {
        let w = try await HostWorld.shared()
        for name in ["static", "file", "deflt", "customer", "guarded", "moved"] {
            let host = "mta-sts.\(name).host.test"
            #expect(try w.certificate(sni: host) == "subject=CN = \(host) X509v3 Subject Alternative Name: DNS:\(host)", "\(name)")
        }
        #expect(try w.certificate(sni: "mta-sts.unknown.host.test").contains("DNS:default.host.test"))
        // curl verifies chain and name with the test CA for every hosted name.
        for name in Self.hosted {
            let address = name == "provider" ? HostWorld.providerAddr : HostWorld.hostAddr
            let r = try w.curl("mta-sts.\(name).host.test", at: address)
            #expect(r.status == 0 && r.stdout.hasPrefix("version: STSv1"), "\(name): \(r.stderr)")
        }
    }

    @Test("TLS 1.2 and later only (RFC 8461 §7.2)")
    func tlsVersions() async throws {
        let w = try await HostWorld.shared()
        #expect(try w.status("mta-sts.static.host.test", ["--tlsv1.2", "--tls-max", "1.2"]) == 200)
        #expect(try w.status("mta-sts.static.host.test", ["--tlsv1.3"]) == 200)
        let old = try runProgram("/bin/sh", ["-c", "openssl s_client -connect \(HostWorld.hostAddr):443 -servername mta-sts.static.host.test"
            + " -tls1_1 < /dev/null > /dev/null 2>&1; echo $?"])
        #expect(old.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != "0")
    }

    @Test("The response: 200, text/plain; charset=utf-8, CRLF lines, final newline, Cache-Control; HEAD has no body (L107, L109)")
    func response() async throws {
        let w = try await HostWorld.shared()
        let r = try w.curl("mta-sts.static.host.test", ["-D", "-"])
        let parts = r.stdout.components(separatedBy: "\r\n\r\n")
        let head = parts[0].lowercased()
        #expect(head.hasPrefix("http/1.1 200 ok"))
        #expect(head.contains("\r\ncontent-type: text/plain; charset=utf-8"))
        #expect(head.contains("\r\ncache-control: max-age=60"))
        #expect(!head.contains("location:"))
        let body = parts.dropFirst().joined(separator: "\r\n\r\n")
        #expect(body == "version: STSv1\r\nmode: enforce\r\nmx: mx1.static.host.test\r\nmx: *.mx.static.host.test\r\nmax_age: 604800\r\n")
        let headOnly = try w.curl("mta-sts.static.host.test", ["-I"])
        #expect(headOnly.stdout.hasPrefix("HTTP/1.1 200 OK") && headOnly.stdout.contains("Content-Length: \(body.utf8.count)"))
        // The file policy (written with LF) is served in canonical CRLF form; the default covers deflt.
        #expect(try w.curl("mta-sts.file.host.test").stdout == "version: STSv1\r\nmode: testing\r\nmx: mx.file.host.test\r\nmax_age: 86400\r\n")
        #expect(try w.curl("mta-sts.deflt.host.test").stdout == "version: STSv1\r\nmode: testing\r\nmx: mx.deflt.host.test\r\nmax_age: 86400\r\n")
    }

    @Test("Our strict discovery fetcher accepts every served policy (C34–C44)")
    func fetcher() async throws {
        let w = try await HostWorld.shared()
        let fetcher = try HTTPPolicyFetcher(.init(extraTrustRootsFile: w.testbed.caFile, timeout: .seconds(10)))
        for name in Self.hosted {
            let address = IPAddress(bytes: name == "provider" ? [127, 0, 4, 2] : [127, 0, 4, 1])!
            let result = await fetcher.fetch(host: try DomainName("mta-sts.\(name).host.test"), addresses: [address])
            guard case .body(let body) = result.outcome else { Issue.record("\(name): \(result.outcome)"); continue }
            let parsed = STSPolicy.parse(body)
            #expect(parsed.policy != nil && !parsed.diagnostics.hasErrors, "\(name)")
        }
    }

    struct LookupCase: Sendable, CustomTestStringConvertible {
        let domain: String, id: String, mode: String
        var testDescription: String { domain }
    }

    @Test("mta-sts lookup end to end against NSD and this host: static, file, default, proxied with a CNAME-delegated _mta-sts",
          arguments: [LookupCase(domain: "static.host.test", id: "static1", mode: "enforce"),
                      LookupCase(domain: "file.host.test", id: "file1", mode: "testing"),
                      LookupCase(domain: "deflt.host.test", id: "deflt1", mode: "testing"),
                      LookupCase(domain: "customer.host.test", id: "prov1", mode: "enforce")])
    func lookup(_ c: LookupCase) async throws {
        let (domain, id, mode) = (c.domain, c.id, c.mode)
        let w = try await HostWorld.shared()
        // A proxied domain serves once the first upstream fetch is in.
        #expect(await HostWorld.eventually { try w.status("mta-sts.\(domain)") == 200 })
        let r = try runMTASTS(["lookup", "--json", "--dns-server", w.testbed.dnsServer, "--ca-file", w.testbed.caFile, domain])
        #expect(r.status == 0, "\(r.stdout) \(r.stderr)")
        #expect(r.json["outcome"] as? String == "valid")
        #expect((r.json["record"] as? [String: Any])?["id"] as? String == id)
        #expect((r.json["policy"] as? [String: Any])?["mode"] as? String == mode)
    }

    @Test("Proxy: the customer's host serves the provider's policy byte for byte, under the customer's certificate")
    func proxy() async throws {
        let w = try await HostWorld.shared()
        #expect(await HostWorld.eventually { try w.status("mta-sts.customer.host.test") == 200 })
        let upstream = try w.curl("mta-sts.provider.host.test", at: HostWorld.providerAddr).stdout
        #expect(upstream == HostWorld.providerPolicy)
        #expect(try w.curl("mta-sts.customer.host.test").stdout == upstream)
        #expect(try metricValue(host: HostWorld.hostAddr, port: HostWorld.adminPort,
                                "mtasts_upstream_fetches_total{upstream=\"provider.host.test\",outcome=\"valid\"}") ?? 0 >= 1)
    }

    @Test("MX guard: served while the MX matches the upstream policy, 404 once the domain's mail goes elsewhere")
    func mxGuard() async throws {
        let w = try await HostWorld.shared()
        #expect(await HostWorld.eventually { try w.status("mta-sts.guarded.host.test") == 200 })
        #expect(await HostWorld.eventually { try w.status("mta-sts.moved.host.test") == 404 })
        #expect(try w.status("mta-sts.moved.host.test") == 404)
    }

    @Test("A changed policy file is served at once; an invalid one is refused and the previous one stays")
    func fileReload() async throws {
        let w = try await HostWorld.shared()
        defer { try? Data(HostWorld.filePolicy.utf8).write(to: URL(fileURLWithPath: w.policyFile)) }
        try Data("version: STSv1\nmode: testing\nmx: mx.file.host.test\nmax_age: 172800\n".utf8).write(to: URL(fileURLWithPath: w.policyFile))
        #expect(await HostWorld.eventually { try w.curl("mta-sts.file.host.test").stdout.contains("max_age: 172800\r\n") })
        try Data("<html>not a policy</html>\n".utf8).write(to: URL(fileURLWithPath: w.policyFile))
        #expect(await HostWorld.eventually { w.host.logText.contains("policy file changed but is not valid") })
        #expect(try w.curl("mta-sts.file.host.test").stdout.contains("max_age: 172800\r\n"))
    }

    @Test("SIGHUP reloads configuration and certificates; a kept-alive connection is not dropped")
    func sighup() async throws {
        let w = try await HostWorld.shared()
        let fd = try connectTCP(host: HostWorld.hostAddr, port: 80)
        defer { close(fd) }
        func get(_ host: String) throws -> String {
            try sendAll(fd, Data("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: \(host)\r\n\r\n".utf8))
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &buf, buf.count)
            return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
        }
        #expect(try get("mta-sts.added.host.test").hasPrefix("HTTP/1.1 404 "))
        #expect(try w.certificate(sni: "mta-sts.added.host.test").contains("DNS:default.host.test"))
        // A new domain with its own certificate (any leaf of the test CA will do to see it chosen by SNI).
        let leaf = "certificate: \(w.certs)/host-flaky.chain.pem, key: \(w.certs)/host-flaky.key"
        try w.host.rewrite(HostWorld.hostConfig(certs: w.certs, testbed: w.testbed, policyFile: w.policyFile,
                                                extraDomains: "  added.host.test: {mode: none, max_age: 86400, \(leaf)}"))
        let before = w.host.logText.components(separatedBy: "configuration reloaded").count
        w.host.signal(SIGHUP)
        #expect(await HostWorld.eventually { w.host.logText.components(separatedBy: "configuration reloaded").count > before })
        let after = try get("mta-sts.added.host.test")
        #expect(after.hasPrefix("HTTP/1.1 200 ") && after.hasSuffix("version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n"))
        // New handshakes get the reloaded certificates.
        #expect(try w.certificate(sni: "mta-sts.added.host.test").contains("DNS:mta-sts.flaky.host.test"))
        // A bad configuration is refused; the running one stays.
        try w.host.rewrite("domains: {added.host.test: {mode: bogus, max_age: 1}}")
        w.host.signal(SIGHUP)
        #expect(await HostWorld.eventually { w.host.logText.contains("reload failed; the running configuration stays") })
        #expect(try get("mta-sts.added.host.test").hasPrefix("HTTP/1.1 200 "))
        try w.host.rewrite(HostWorld.hostConfig(certs: w.certs, testbed: w.testbed, policyFile: w.policyFile))
    }

    @Test("Admin listener: Prometheus metrics by host and status, /healthz; neither on the policy listener")
    func admin() async throws {
        let w = try await HostWorld.shared()
        _ = try w.status("mta-sts.static.host.test")
        #expect(try metricValue(host: HostWorld.hostAddr, port: HostWorld.adminPort,
                                "mtasts_host_requests_total{host=\"mta-sts.static.host.test\",status=\"200\"}") ?? 0 >= 1)
        #expect(await HostWorld.eventually {
            try runProgram("/usr/bin/curl", ["-s", "http://\(HostWorld.hostAddr):\(HostWorld.adminPort)/healthz"]).stdout == "ok\n"
        })
        #expect(try w.status("mta-sts.static.host.test", path: "/healthz") == 404)
        #expect(try w.status("mta-sts.static.host.test", path: "/metrics") == 404)
    }
}

/// The seed's whole deployment, checked as a strict sender: `_mta-sts` CNAME-delegated to the provider, the policy
/// proxied by the customer's `mta-sts serve` from the provider's `mta-sts serve`, the provider's MX (a real Postfix
/// smtpd with a certificate for `*.mx.provider.host.test`), a TLS-RPT record.
@Suite("The seed deployment, end to end")
struct SeedDeploymentTests {
    @Test("mta-sts check of a CNAME-delegated, proxied customer domain with the provider's MX is clean")
    func seedChecksClean() async throws {
        let w = try await HostWorld.shared()
        #expect(await HostWorld.eventually { try w.status("mta-sts.customer.host.test") == 200 })
        let run = try await offPool {
            try runMTASTS(["check", "customer.host.test", "--json", "--dns-server", w.testbed.dnsServer, "--ca-file", w.testbed.caFile,
                           "--smtp-port", "2525"])
        }
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let findings = run.json["findings"] as? [[String: Any]] ?? []
        let notable = findings.filter { ($0["severity"] as? String) != "info" }
        #expect(notable.isEmpty, "\(notable)")
        #expect(findings.contains { $0["code"] as? String == "txt-cname" }, "the delegation is shown")
        let verdict = try #require(run.json["verdict"] as? [String: Any])
        #expect(verdict["action"] as? String == "deliver" && verdict["deliver_to"] as? [String] == ["a.mx.provider.host.test"])
    }
}
