import Foundation
import TestSupport
import Testing

/// `mta-sts reports dashboard` as a process, looked at by a real browser: headless Chromium (Debian `chromium`, in
/// scripts/setup.sh) dumps the DOM it rendered and takes a screenshot, kept in .build/test-artifacts/; curl reads
/// /metrics. The reports are synthetic, dated in the default 30-day window, one of them from a hostile sender.
@Suite("mta-sts reports dashboard", .serialized)
struct ReportsDashboardTests {
    static let chromium = "/usr/bin/chromium"
    static let curl = "/usr/bin/curl"
    /// Deadlines that are not the subject of the test: CI is slower and loaded.
    static let deadline: Double = 3600
    static let hostileOrg = "<script>alert(1)</script> Evil & Co"

    /// A report of `policies` (domain, successful, failures as (result type, MX, sessions)) starting `daysAgo` days before today.
    static func report(_ org: String, _ id: String, daysAgo: Int, _ policies: [(String, Int, [(String, String, Int)])],
                       info: String? = nil) -> [UInt8] {
        let day = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 86400).rounded(.down) * 86400 - Double(daysAgo) * 86400)
        let date = ISO8601DateFormatter().string(from: day).prefix(10)
        let object: [String: Any] = [
            "organization-name": org, "report-id": id, "contact-info": "tlsrpt@sender.example",
            "date-range": ["start-datetime": "\(date)T00:00:00Z", "end-datetime": "\(date)T23:59:59Z"],
            "policies": policies.map { domain, ok, failures in
                ["policy": ["policy-type": "sts", "policy-domain": domain, "mx-host": ["mx1.\(domain)", "mx2.\(domain)"]],
                 "summary": ["total-successful-session-count": ok, "total-failure-session-count": failures.reduce(0) { $0 + $1.2 }],
                 "failure-details": failures.map { type, mx, n in
                     ["result-type": type, "receiving-mx-hostname": mx, "sending-mta-ip": "192.0.2.9", "failed-session-count": n]
                         .merging(info.map { ["additional-information": $0] } ?? [:]) { a, _ in a }
                 }] as [String: Any]
            },
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
    }

    @Test("Chromium renders the dashboard: domains, counts, escaped hostile text, a screenshot; /metrics; a new import shows on reload")
    func chromiumRendersTheDashboard() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.chromium),
                     "chromium is not installed at \(Self.chromium) (Debian package chromium; scripts/setup.sh installs it)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-dashboard-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = "sqlite:" + dir.appendingPathComponent("reports.sqlite").path
        var files: [String] = []
        for (i, bytes) in [
            Self.report("Example Sender Inc.", "a", daysAgo: 2, [("example.com", 970, [("certificate-expired", "mx2.example.com", 30)])]),
            Self.report("Google Inc.", "b", daysAgo: 1, [("example.com", 1000, []), ("example.net", 500, [("sts-policy-fetch-error", "mx1.example.net", 5)])]),
            Self.report(Self.hostileOrg, "c", daysAgo: 1, [("example.net", 10, [("validation-failure", "mx1.example.net", 2)])],
                        info: "<img src=x onerror=alert(1)>"),
        ].enumerated() {
            let path = dir.appendingPathComponent("r\(i).json").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            files.append(path)
        }
        let imports = files
        let imported = try await offPool { try runMTASTS(["reports", "import", "--store", store] + imports) }
        #expect(imported.status == 0, "\(imported.stderr)")

        let port = freePort()
        let log = dir.appendingPathComponent("dashboard.log").path
        let dashboard = try #require(Spawned.start(mtastsBinary, ["reports", "dashboard", "--store", store, "--listen", "127.0.0.1:\(port)"],
                                                    output: log))
        defer { dashboard.stop() }
        let listening = try await offPool { dashboard.waitForPort(port, seconds: Self.deadline) }
        #expect(listening, "the dashboard did not listen: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let url = "http://127.0.0.1:\(port)/"

        // The DOM as Chromium built it from the page.
        let home = dir.appendingPathComponent("home").path
        let browser = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(home)/profile", "--no-first-run"]
        let dom = try await offPool { Spawned.run(Self.chromium, browser + ["--dump-dom", url], home: home, seconds: Self.deadline) }
        #expect(dom.status == 0, "chromium --dump-dom: \(dom.stderr)")
        let com = Self.card("example.com", in: dom.stdout), net = Self.card("example.net", in: dom.stdout)
        #expect(com.contains(#"<b class="successful">1,970</b>"#) && com.contains(#"<b class="failed">30</b>"#) && com.contains("1.50%"), "\(com)")
        #expect(net.contains(#"<b class="successful">510</b>"#) && net.contains(#"<b class="failed">7</b>"#) && net.contains("1.35%"), "\(net)")
        #expect(dom.stdout.contains("3 reports, 0 rejected inputs"))
        #expect(dom.stdout.contains("<code>certificate-expired</code>") && dom.stdout.contains("<code>sts-policy-fetch-error</code>"))
        // The hostile sender's name and text are text in the DOM, not elements.
        #expect(dom.stdout.contains("&lt;script&gt;alert(1)&lt;/script&gt; Evil &amp; Co"))
        #expect(dom.stdout.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(!dom.stdout.contains("<script") && !dom.stdout.contains("<img"))
        #expect(dom.stdout.contains("<svg class=\"chart\""))

        // The screenshot: a PNG of the window's size with something on it, kept for a human to look at.
        let shot = dir.appendingPathComponent("dashboard.png").path
        let taken = try await offPool {
            Spawned.run(Self.chromium, browser + ["--screenshot=\(shot)", "--window-size=1280,2000", "--hide-scrollbars", url],
                        home: home, seconds: Self.deadline)
        }
        #expect(taken.status == 0, "chromium --screenshot: \(taken.stderr)")
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        #expect(png.count > 30_000, "a dashboard with charts is more than a blank page: \(png.count) bytes")
        #expect(png.count >= 24 && Self.bigEndian(png, 16) == 1280 && Self.bigEndian(png, 20) == 2000)
        let artifacts = repositoryRoot.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let kept = artifacts.appendingPathComponent("reports-dashboard.png")
        try? FileManager.default.removeItem(at: kept)
        try FileManager.default.copyItem(atPath: shot, toPath: kept.path)

        // /metrics and the page's headers, by curl.
        let metrics = try await offPool { Spawned.run(Self.curl, ["-sS", "--max-time", "600", url + "metrics"], home: home, seconds: Self.deadline) }
        let lines = metrics.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains(#"mtasts_tlsrpt_sessions_total{domain="example.com",result="successful"} 1970"#), "\(metrics.stdout)")
        #expect(lines.contains(#"mtasts_tlsrpt_sessions_total{domain="example.net",result="failed"} 7"#))
        #expect(lines.contains(#"mtasts_tlsrpt_failed_sessions_total{domain="example.com",result_type="certificate-expired"} 30"#))
        #expect(lines.contains("mtasts_tlsrpt_reports_total 3"))
        let head = try await offPool { Spawned.run(Self.curl, ["-sS", "-D", "-", "-o", "/dev/null", "--max-time", "600", url], home: home, seconds: Self.deadline) }
        #expect(head.stdout.contains("Content-Security-Policy: default-src 'none'; style-src 'sha256-"))
        let post = try await offPool {
            Spawned.run(Self.curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--max-time", "600", url], home: home, seconds: Self.deadline)
        }
        #expect(post.stdout == "404")

        // A report imported while the dashboard runs is on the next page.
        let late = dir.appendingPathComponent("late.json").path
        try Data(Self.report("Late Sender", "d", daysAgo: 0, [("example.com", 30, [])])).write(to: URL(fileURLWithPath: late))
        #expect(try await offPool { try runMTASTS(["reports", "import", "--store", store, late]) }.status == 0)
        let again = try await offPool { Spawned.run(Self.curl, ["-sS", "--max-time", "600", url + "?domain=example.com"], home: home, seconds: Self.deadline) }
        #expect(Self.card("example.com", in: again.stdout).contains(#"<b class="successful">2,000</b>"#))
        #expect(!again.stdout.contains(#"data-domain="example.net""#))

        // SIGTERM stops it with status 0.
        #expect(try await offPool { dashboard.stop(signal: SIGTERM, seconds: Self.deadline) } == 0)
    }

    @Test("A missing SQLite store is exit 2 before anything listens; a bad --listen is a usage error")
    func missingStore() throws {
        let missing = try runMTASTS(["reports", "dashboard", "--store", "sqlite:/nonexistent/reports.sqlite", "--listen", "127.0.0.1:\(freePort())"])
        #expect(missing.status == 2 && missing.stderr.contains("no report store at /nonexistent/reports.sqlite"), "\(missing.stderr)")
        let bad = try runMTASTS(["reports", "dashboard", "--listen", "8462"])
        #expect(bad.status == 64 && bad.stderr.contains("--listen must be HOST:PORT"), "\(bad.stderr)")
    }

    /// The domain's card in the page: from its `data-domain` to the end of the card.
    static func card(_ domain: String, in html: String) -> String {
        guard let start = html.range(of: "data-domain=\"\(domain)\"") else { return "" }
        let rest = html[start.lowerBound...]
        return String(rest.prefix(while: { $0 != "\n" }))
    }

    static func bigEndian(_ data: Data, _ at: Int) -> UInt32 {
        data[data.startIndex + at..<data.startIndex + at + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }
}
