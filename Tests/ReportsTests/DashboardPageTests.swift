@testable import MTASTSReports
import Testing

/// The dashboard's page and /metrics, rendered from values (no store, no server): the numbers it shows, and that
/// nothing a report's sender chose can become markup.
@Suite("Reports dashboard rendering")
struct DashboardPageTests {
    static let day: Int64 = 1_796_083_200  // 2026-12-01T00:00:00Z

    static let hostileOrg = #"<script>alert(1)</script> & "Evil" 'Org'"#
    static let hostileDomain = #"<img src=x onerror=alert(1)>.example"#
    static let hostileType = #"</code><b onmouseover="x">"#
    static let hostileMX = #"mx" onload="alert(3)"#
    static let hostileCode = #""><svg onload=alert(2)>"#

    /// A failing report from a hostile sender about a hostile domain, and a plain one about example.com.
    static func dashboard() -> Dashboard {
        let rows = [
            ReportPolicyRow(organization: "Example Sender Inc.", reportID: "r1", domain: "example.com", successful: 970, failed: 30,
                            failures: [.init(resultType: "certificate-expired", receivingMX: "mx2.example.com", sessions: 30)]),
            ReportPolicyRow(organization: hostileOrg, reportID: "r2", domain: hostileDomain, successful: 1234567, failed: 7,
                            failures: [.init(resultType: hostileType, receivingMX: hostileMX, sessions: 7)]),
        ]
        let info = StoredReportInfo(organizationName: hostileOrg, reportID: "<r2>", startDatetime: "<start>", endDatetime: "e",
                                    receivedAt: day, domains: [hostileDomain], successful: 1234567, failed: 7)
        let failing = Dashboard.FailingReport(info: info, failures: [
            .init(domain: hostileDomain, resultType: hostileType, receivingMX: hostileMX, sendingMTAIP: "<ip>", sessions: 7,
                  additionalInformation: "<i>more</i>", failureReasonCode: hostileCode),
        ])
        return Dashboard(summary: ReportSummary(rows: rows, rejected: 2),
                         daily: [DailySessions(day: day, domain: "example.com", successful: 970, failed: 30),
                                 DailySessions(day: day - 86400, domain: hostileDomain, successful: 1234567, failed: 7)],
                         failing: [failing], allDomains: ["example.com", hostileDomain], domain: nil,
                         since: day - 6 * 86400, now: day + 3600)
    }

    @Test("Strings from reports are escaped everywhere: organization, domain, result type, MX, reason code, report-id")
    func escaping() {
        let html = DashboardPage.html(Self.dashboard())
        for raw in [Self.hostileOrg, Self.hostileDomain, Self.hostileType, Self.hostileMX, Self.hostileCode, "<i>more</i>", "<ip>",
                    "<r2>", "<start>", "<script", "<img", "<svg onload", "onerror=alert(1)>", "\" onload="] {
            #expect(!html.contains(raw), "unescaped: \(raw)")
        }
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Evil&quot; &#39;Org&#39;"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;.example"))
        #expect(html.contains("&quot;&gt;&lt;svg onload=alert(2)&gt;"))
        // In an attribute (the domain filter's option, the card) the value stays inside its quotes.
        #expect(html.contains(#"<option value="&lt;img src=x onerror=alert(1)&gt;.example">"#))
        // The link to a domain's view percent-encodes it.
        #expect(html.contains("?domain=%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.example&amp;since=2026-11-25"))
        #expect(!html.lowercased().contains("<script") && !html.contains("javascript:"))
        #expect(DashboardPage.escape("a\u{0}b\u{1B}c\td") == "a\u{FFFD}b\u{FFFD}c\td")
    }

    @Test("The page shows each domain's sessions, failure rate, result types, senders, MX and the explanation")
    func numbers() {
        let html = DashboardPage.html(Self.dashboard())
        #expect(html.contains("2 reports, 2 rejected inputs"))
        #expect(html.contains(#"<b class="successful">970</b> successful"#) && html.contains(#"<b class="failed">30</b> failed"#))
        #expect(html.contains(#"<b class="successful">1,234,567</b>"#))
        #expect(html.contains("3.00% <small>failed</small>"))
        // A bar per day with its numbers as the tooltip; 7 days in the window, the last one today.
        #expect(html.contains("<title>2026-12-01: 970 successful, 30 failed (3.00%)</title>"))
        #expect(html.contains(#"data-day="2026-11-25""#) == false)  // no reports that day: no bar
        #expect(Self.dashboard().days().map(CivilDate.string) == (25...30).map { "2026-11-\($0)" } + ["2026-12-01"])
        let cause = TLSReport.explain(resultType: "certificate-expired").cause
        #expect(html.contains(DashboardPage.escape(cause)))
        #expect(html.contains("<code>certificate-expired</code></td><td class=\"n\">30</td>"))
        #expect(html.contains("<td>Example Sender Inc.</td><td class=\"n\">970</td><td class=\"n fail\">30</td><td class=\"n\">3.00%</td>"))
        #expect(html.contains("<code>mx2.example.com</code>"))
        #expect(html.contains("<b>Additional information:</b> &lt;i&gt;more&lt;/i&gt;"))
        #expect(html.contains(#"aria-labelledby="daily-0-title""#))
    }

    @Test("An empty window says so")
    func empty() {
        let d = Dashboard(summary: ReportSummary(rows: [], rejected: 0), daily: [], failing: [], allDomains: [], domain: nil,
                          since: Self.day, now: Self.day)
        let html = DashboardPage.html(d)
        #expect(html.contains(#"id="no-reports""#) && html.contains("0 reports, 0 rejected inputs"))
    }

    @Test("/metrics: sessions by domain and result, failures by result type; label values escaped")
    func metrics() {
        let rows = [
            ReportPolicyRow(organization: "O", reportID: "1", domain: "example.com", successful: 970, failed: 30,
                            failures: [.init(resultType: "certificate-expired", receivingMX: nil, sessions: 30)]),
            ReportPolicyRow(organization: "O", reportID: "2", domain: "a\"b\\c\nd", successful: 1, failed: 2,
                            failures: [.init(resultType: "x\"y", receivingMX: nil, sessions: 2)]),
        ]
        let lines = DashboardMetrics.exposition(ReportSummary(rows: rows, rejected: 4)).split(separator: "\n").map(String.init)
        #expect(lines.contains("mtasts_tlsrpt_reports_total 2"))
        #expect(lines.contains("mtasts_tlsrpt_rejected_inputs_total 4"))
        #expect(lines.contains(#"mtasts_tlsrpt_sessions_total{domain="example.com",result="successful"} 970"#))
        #expect(lines.contains(#"mtasts_tlsrpt_sessions_total{domain="example.com",result="failed"} 30"#))
        #expect(lines.contains(#"mtasts_tlsrpt_failed_sessions_total{domain="example.com",result_type="certificate-expired"} 30"#))
        #expect(lines.contains(#"mtasts_tlsrpt_sessions_total{domain="a\"b\\c\nd",result="failed"} 2"#))
        #expect(lines.contains(#"mtasts_tlsrpt_failed_sessions_total{domain="a\"b\\c\nd",result_type="x\"y"} 2"#))
        #expect(lines.contains("# TYPE mtasts_tlsrpt_sessions_total counter"))
        // Every sample is one line: name, optional labels, a number.
        #expect(lines.filter { !$0.hasPrefix("#") }.allSatisfy { $0.split(separator: " ").last.flatMap { Int($0) } != nil })
    }

    @Test("Civil dates and round axis maxima")
    func helpers() {
        #expect(CivilDate.string(0) == "1970-01-01" && CivilDate.string(951_782_400) == "2000-02-29")
        #expect(CivilDate.string(-1) == "1969-12-31" && CivilDate.minute(Self.day + 3 * 3600 + 7 * 60 + 59) == "2026-12-01 03:07")
        #expect(DailySessions.day(of: Self.day + 86399) == Self.day && DailySessions.day(of: -1) == -86400)
        #expect([0, 1, 7, 10, 11, 230, 999, 5001].map(DashboardCharts.niceCeiling) == [1, 1, 8, 10, 20, 300, 1000, 6000])
        #expect(DashboardPage.percent(0.03) == "3.00%" && DashboardPage.percent(0.0005) == "0.05%" && DashboardPage.percent(1) == "100.00%")
    }
}
