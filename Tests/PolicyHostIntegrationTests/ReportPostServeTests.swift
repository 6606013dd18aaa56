import Foundation
import TestSupport
import Testing

/// TLS reports by HTTPS POST (RFC 8460 §5.3) to a real `mta-sts serve` on 127.0.4.13, sent by curl over HTTPS with the
/// test CA: `default.host.test` (the default certificate) and `tlsrpt.t.test` (its own, by SNI) receive reports into a
/// SQLite store; `mta-sts.static.host.test` serves its policy beside them. The store is read back with `mta-sts reports`.
@Suite("mta-sts serve: TLS reports by HTTPS POST", .serialized)
struct ReportPostServeTests {
    static let addr = "127.0.4.13"
    static let maxBody = 65536

    struct World: Sendable {
        let testbed: Testbed
        let serve: ServeProcess
        let directory: URL
        var store: String { "sqlite:" + directory.appendingPathComponent("db/reports.sqlite").path }

        /// curl POSTs `file` (or `bytes`, written to a file) to `https://<name><path>`: the status and the answer's body.
        func post(name: String = "default.host.test", path: String = "/tlsrpt", file: String? = nil, bytes: [UInt8] = [],
                  type: String? = "application/tlsrpt+json", method: String = "POST", _ extra: [String] = []) throws -> (status: Int, body: String) {
            let source = try file ?? temporaryFile(bytes, suffix: ".body")
            let output = directory.appendingPathComponent("answer-\(UUID().uuidString)").path
            let r = try runProgram("/usr/bin/curl", ["-sS", "--max-time", "60", "--cacert", testbed.caFile, "--resolve", "\(name):443:\(ReportPostServeTests.addr)",
                                                     "-X", method, "--data-binary", "@\(source)", "-o", output, "-w", "%{http_code}"]
                                   + (type.map { ["-H", "Content-Type: \($0)"] } ?? ["-H", "Content-Type:"]) + extra + ["https://\(name)\(path)"])
            return (Int(r.stdout) ?? -1, (try? String(contentsOfFile: output, encoding: .utf8)) ?? r.stderr)
        }

        /// `mta-sts reports list --json`: one (organization, report-id) per stored report.
        func stored() throws -> [String] {
            let r = try runMTASTS(["reports", "list", "--json", "--store", store])
            return r.stdout.split(separator: "\n").compactMap { line in
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
                return "\(o["organization_name"] ?? "") \(o["report_id"] ?? "")"
            }
        }

        func policyStatus() throws -> Int {
            Int(try runProgram("/usr/bin/curl", ["-sS", "--max-time", "30", "--cacert", testbed.caFile, "--resolve",
                                                 "mta-sts.static.host.test:443:\(ReportPostServeTests.addr)", "-o", "/dev/null", "-w", "%{http_code}",
                                                 "https://mta-sts.static.host.test/.well-known/mta-sts.txt"]).stdout) ?? -1
        }
    }

    static func world() async throws -> World { try await offPool { try started.get() } }

    private static let started: Result<World, TestbedError> = {
        do {
            let testbed = try Testbed.shared()
            let certs = (testbed.caFile as NSString).deletingLastPathComponent + "/certs"
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reportpost-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let serve = try ServeProcess("reports", yaml: config(certs: certs, store: "\(directory.path)/db/reports.sqlite"), ready: (addr, 443))
            atexit { ReportPostServeTests.process.withLock { $0 }?.stop() }
            process.withLock { $0 = serve }
            return .success(World(testbed: testbed, serve: serve, directory: directory))
        } catch let e as TestbedError { return .failure(e) } catch { return .failure(TestbedError(description: "\(error)")) }
    }()

    static let process = LockedValue<ServeProcess?>(nil)

    /// The configuration; `extraHosts`: more lines under `reports.hosts`.
    static func config(certs: String, store: String, extraHosts: String = "") -> String {
        """
        https: \(addr):443
        http: \(addr):80
        admin: \(addr):9461
        certificate: \(certs)/host-default.chain.pem
        key: \(certs)/host-default.key
        request_timeout: 2
        domains:
          static.host.test: {mode: enforce, mx: [mx1.static.host.test], max_age: 86400,
                             certificate: \(certs)/host-static.chain.pem, key: \(certs)/host-static.key}
        reports:
          store: sqlite:\(store)
          max_body: \(maxBody)
          hosts:
            default.host.test:
            tlsrpt.t.test: {certificate: \(certs)/wildcard.chain.pem, key: \(certs)/wildcard.key}
        \(extraHosts)
        """
    }

    static func report(_ id: String, organization: String = "Sender Inc.") -> String {
        """
        {"organization-name":"\(organization)","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},\
        "contact-info":"tlsrpt@sender.example","report-id":"\(id)","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1",\
        "mode: enforce","mx: mx.example.com","max_age: 86400"],"policy-domain":"example.com","mx-host":["mx.example.com"]},"summary":\
        {"total-successful-session-count":970,"total-failure-session-count":30},"failure-details":[{"result-type":"certificate-expired",\
        "sending-mta-ip":"203.0.113.25","receiving-mx-hostname":"mx.example.com","failed-session-count":30}]}]}
        """
    }

    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let path = try temporaryFile(bytes, suffix: ".raw")
        let r = try runProgram("/bin/sh", ["-c", "gzip -c '\(path)' | base64 -w0"])
        return [UInt8](Data(base64Encoded: r.stdout) ?? Data())
    }

    @Test("A JSON and a gzip report are stored once each (201); the same POST again is a duplicate (200), on either report host")
    func storedOnce() async throws {
        let w = try await Self.world()
        let json = Array(Self.report("post-json-1").utf8)
        let gz = try await offPool { try Self.gzip(Array(Self.report("post-gzip-1").utf8)) }
        try #require(gz.starts(with: [0x1F, 0x8B]))
        let answers = try await offPool {
            [try w.post(bytes: json),
             try w.post(name: "tlsrpt.t.test", path: "/", bytes: json, type: "application/tlsrpt+json; charset=utf-8"),
             try w.post(bytes: gz, type: "application/tlsrpt+gzip"),
             try w.post(name: "tlsrpt.t.test", bytes: gz, type: "application/tlsrpt+gzip")]
        }
        #expect(answers[0].status == 201 && answers[0].body == "stored Sender Inc. post-json-1\n", "\(answers[0])")
        #expect(answers[1].status == 200 && answers[1].body.contains("duplicate"), "\(answers[1])")
        #expect(answers[2].status == 201, "\(answers[2])")
        #expect(answers[3].status == 200, "\(answers[3])")
        let (stored, shown) = try await offPool { (try w.stored(), try runMTASTS(["reports", "show", "--store", w.store, "post-gzip-1"]).stdout) }
        #expect(stored.filter { $0 == "Sender Inc. post-json-1" }.count == 1, "\(stored)")
        #expect(stored.filter { $0 == "Sender Inc. post-gzip-1" }.count == 1, "\(stored)")
        #expect(shown.contains("certificate-expired: 30 failed"), "\(shown)")
        let metrics = try await offPool {
            (try metricValue(host: Self.addr, port: 9461, "mtasts_host_reports_total{outcome=\"stored\"}"),
             try metricValue(host: Self.addr, port: 9461, "mtasts_host_requests_total{host=\"tlsrpt.t.test\",status=\"200\"}"))
        }
        #expect((metrics.0 ?? 0) >= 2)
        #expect((metrics.1 ?? 0) >= 2)
    }

    /// ../shared/realworld/tlsrpt (or $MTASTS_REALWORLD/tlsrpt), read in place.
    static func corpus() -> URL? {
        let base = ProcessInfo.processInfo.environment["MTASTS_REALWORLD"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/realworld")
        let folder = base.appendingPathComponent("tlsrpt")
        return FileManager.default.fileExists(atPath: folder.appendingPathComponent("INDEX.tsv").path) ? folder : nil
    }

    @Test("Every JSON and gzip report of the real-world corpus, POSTed as sent, is accepted (2xx) and stored once per (organization, report-id)")
    func corpusReports() async throws {
        guard let folder = Self.corpus() else {
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("the TLS-RPT corpus (../shared/realworld/tlsrpt or $MTASTS_REALWORLD/tlsrpt) is missing")
            } else {
                print("WARNING: SKIPPED corpusReports: no ../shared/realworld/tlsrpt beside the package and no $MTASTS_REALWORLD")
            }
            return
        }
        let w = try await Self.world()
        let rows = try String(contentsOf: folder.appendingPathComponent("INDEX.tsv"), encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            .filter { $0.count > 6 && ($0[4] == "json" || $0[4] == "json.gz") }
        #expect(rows.count >= 40)
        let answers = try await offPool {
            try rows.map { row in
                try w.post(file: folder.appendingPathComponent("reports/\(row[0])").path,
                           type: row[4] == "json.gz" ? "application/tlsrpt+gzip" : "application/tlsrpt+json")
            }
        }
        var seen = Set<String>()
        for (row, answer) in zip(rows, answers) {
            let key = "\(row[5]) \(row[6])"
            #expect(answer.status == (seen.contains(key) ? 200 : 201), "\(row[0]): \(answer)")
            seen.insert(key)
        }
        let stored = try await offPool { try w.stored() }
        for key in seen { #expect(stored.filter { $0 == key }.count == 1, "\(key)") }
    }

    @Test("Bad input: each a clear status and reason, nothing stored, the daemon keeps serving the policy")
    func badInput() async throws {
        let w = try await Self.world()
        let report = Array(Self.report("never-stored").utf8)
        let (before, gz, bomb) = try await offPool {
            (try w.stored(), try Self.gzip(report), try Self.gzip([UInt8](repeating: 0x20, count: 12 << 20)))
        }
        try #require(bomb.count < Self.maxBody, "the bomb is \(bomb.count) bytes compressed")
        let noPolicies = Array(#"{"organization-name":"x","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-02T00:00:00Z"},"report-id":"y"}"#.utf8)
        let answers = try await offPool {
            [("truncated gzip", try w.post(bytes: Array(gz.prefix(gz.count / 2)), type: "application/tlsrpt+gzip")),
             ("gzip bomb", try w.post(bytes: bomb, type: "application/tlsrpt+gzip")),
             ("not JSON", try w.post(bytes: Array("{\"organization-name\": ".utf8))),
             ("JSON without policies", try w.post(bytes: noPolicies)),
             ("oversized", try w.post(bytes: [UInt8](repeating: 0x7B, count: Self.maxBody + 1))),
             ("wrong content type", try w.post(bytes: report, type: "application/json")),
             ("no content type", try w.post(bytes: report, type: nil)),
             ("chunked", try w.post(bytes: report, ["-H", "Transfer-Encoding: chunked"])),
             ("POST to a policy host", try w.post(name: "mta-sts.static.host.test", path: "/.well-known/mta-sts.txt", bytes: report)),
             ("GET on a report host", try w.post(bytes: [], method: "GET")),
             ("an unknown name", try w.post(name: "unknown.host.test", bytes: report, ["-k"]))]
        }
        let want: [String: (Int, String)] = [
            "truncated gzip": (400, "gzip: truncated"), "gzip bomb": (400, "decompresses to more than 10485760 bytes"),
            "not JSON": (400, "not JSON"), "JSON without policies": (400, "no `policies`"),
            "oversized": (413, "larger than \(Self.maxBody) bytes"), "wrong content type": (415, "application/tlsrpt+gzip or application/tlsrpt+json"),
            "no content type": (415, "application/tlsrpt+gzip"), "chunked": (411, "Content-Length"),
            "POST to a policy host": (405, "only GET and HEAD"), "GET on a report host": (405, "only POST"), "an unknown name": (404, "not found"),
        ]
        for (what, answer) in answers {
            let expected = try #require(want[what])
            #expect(answer.status == expected.0 && answer.body.contains(expected.1), "\(what): \(answer)")
        }
        let (after, policy, rejected) = try await offPool {
            (try w.stored(), try w.policyStatus(), try metricValue(host: Self.addr, port: 9461, "mtasts_host_reports_total{outcome=\"rejected\"}"))
        }
        #expect(after == before)
        #expect(policy == 200)
        #expect((rejected ?? 0) >= 4)
    }

    /// One exchange on the plain-HTTP listener: everything the server sends until it closes (or 60 s pass).
    static func exchange(_ request: [UInt8]) throws -> String {
        let fd = try connectTCP(host: addr, port: 80, timeout: 60)
        defer { close(fd) }
        try sendAll(fd, Data(request))
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test("A body never sent is not waited for: a huge Content-Length is 413 at once; a body that stalls is cut at request_timeout, unanswered")
    func unreadBodies() async throws {
        let w = try await Self.world()
        let before = try await offPool { try w.stored() }
        let huge = try await offPool {
            try Self.exchange(Array("POST / HTTP/1.1\r\nHost: default.host.test\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Length: 50000000000\r\n\r\n".utf8))
        }
        #expect(huge.hasPrefix("HTTP/1.1 413 Content Too Large\r\n") && huge.contains("Connection: close\r\n"), "\(huge)")
        // Half a report, then silence: the server closes at request_timeout (2 s here) without an answer or a store.
        let half = Array(Self.report("stalled").utf8)
        let stalled = try await offPool {
            try Self.exchange(Array("POST / HTTP/1.1\r\nHost: default.host.test\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: \(half.count)\r\n\r\n".utf8)
                              + half.prefix(half.count / 2))
        }
        #expect(stalled == "")
        // Expect: 100-continue is answered before the body, and the report then stored (plain HTTP, as behind a proxy).
        let body = Array(Self.report("continued").utf8)
        let continued = try await offPool {
            let fd = try connectTCP(host: Self.addr, port: 80, timeout: 60)
            defer { close(fd) }
            try sendAll(fd, Data("POST /r HTTP/1.1\r\nHost: default.host.test\r\nContent-Type: application/tlsrpt+json\r\nExpect: 100-continue\r\nContent-Length: \(body.count)\r\n\r\n".utf8))
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &buf, buf.count)
            let interim = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
            try sendAll(fd, Data(body))
            var rest = ""
            while true {
                let m = read(fd, &buf, buf.count)
                if m <= 0 { break }
                rest += String(decoding: buf[0..<m], as: UTF8.self)
            }
            return (interim, rest)
        }
        #expect(continued.0 == "HTTP/1.1 100 Continue\r\n\r\n")
        #expect(continued.1.hasPrefix("HTTP/1.1 201 Created\r\n"), "\(continued.1)")
        let after = try await offPool { try w.stored() }
        #expect(after.sorted() == (before + ["Sender Inc. continued"]).sorted())
    }

    @Test("SIGHUP applies reports changes: a host added is served at once, a store changed takes the next report; the old store keeps what it had")
    func reload() async throws {
        let w = try await Self.world()
        let certs = (w.testbed.caFile as NSString).deletingLastPathComponent + "/certs"
        let second = w.directory.appendingPathComponent("second/reports.sqlite").path
        let before = try await offPool { try w.stored() }
        try w.serve.rewrite(Self.config(certs: certs, store: second, extraHosts: "    added.t.test:"))
        w.serve.signal(SIGHUP)
        let report = Array(Self.report("after-reload").utf8)
        #expect(await HostWorld.eventually { try w.post(name: "added.t.test", bytes: report, ["-k"]).status == 201 })
        let (old, new) = try await offPool {
            (try w.stored(), try runMTASTS(["reports", "list", "--store", "sqlite:\(second)"]).stdout)
        }
        #expect(old == before)
        #expect(new.contains("after-reload"), "\(new)")
        // Back to the first store and without the added name: 404 there again.
        try w.serve.rewrite(Self.config(certs: certs, store: w.directory.appendingPathComponent("db/reports.sqlite").path))
        w.serve.signal(SIGHUP)
        #expect(await HostWorld.eventually { try w.post(name: "added.t.test", bytes: report, ["-k"]).status == 404 })
    }

    @Test("serve --check judges each report host's certificate by its own name, as a posting sender will (the default one too)")
    func checkCertificates() async throws {
        let w = try await Self.world()
        let certs = (w.testbed.caFile as NSString).deletingLastPathComponent + "/certs"
        let yaml = Self.config(certs: certs, store: "/nonexistent/never-created.sqlite", extraHosts: "    reports.host.test:")
            + "\nca_file: \(w.testbed.caFile)\n"
        let r = try await offPool { try runMTASTS(["serve", "--check", "--config", try temporaryFile(Array(yaml.utf8), suffix: "-check.yml")]) }
        #expect(r.status == 0, "\(r.stderr)")
        let warnings = r.stderr.split(separator: "\n").filter { $0.hasPrefix("warning:") }
        #expect(warnings == ["warning: reports.host.test (certificate \(certs)/host-default.chain.pem): the certificate is for default.host.test, "
                             + "not the TLS report host reports.host.test (SAN DNS-IDs only, never the subject CN; `*` covers one label)"], "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "/nonexistent/never-created.sqlite"))
    }

    @Test("Bytes after a report's body are never read as a request: one answer, then the connection closes")
    func nothingAfterTheBody() async throws {
        let body = Array(Self.report("pipelined").utf8)
        let smuggled = "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.static.host.test\r\n\r\n"
        let answer = try await offPool {
            try Self.exchange(Array("POST / HTTP/1.1\r\nHost: default.host.test\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
                              + body + Array(smuggled.utf8))
        }
        #expect(answer.hasPrefix("HTTP/1.1 201 Created\r\n"), "\(answer)")
        #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 2, "\(answer)")
    }
}
