import MTASTSReports
import Testing

/// ReportSummary: the numbers `reports summary` prints, from policy rows (no store).
@Suite("Report summary")
struct ReportSummaryTests {
    typealias F = ReportPolicyRow.Failure

    static func row(_ org: String, _ id: String, _ domain: String, _ ok: Int, _ failed: Int, _ failures: [F] = []) -> ReportPolicyRow {
        ReportPolicyRow(organization: org, reportID: id, domain: domain, successful: ok, failed: failed, failures: failures)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let rows: [ReportPolicyRow]
        /// domain → (successful, failed, failure rate)
        let sessions: [String: (Int, Int, Double)]
        let reports: Int
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "nothing stored", rows: [], sessions: [:], reports: 0),
        Case(name: "no session reported: rate 0, not a division by zero",
             rows: [row("G", "1", "a.example", 0, 0)], sessions: ["a.example": (0, 0, 0)], reports: 1),
        Case(name: "two senders, one domain: sums and rate",
             rows: [row("G", "1", "a.example", 90, 10), row("M", "1", "a.example", 100, 0)],
             sessions: ["a.example": (190, 10, 0.05)], reports: 2),
        Case(name: "one report with two policies counts once; domains apart",
             rows: [row("G", "1", "a.example", 3, 1), row("G", "1", "b.example", 0, 4)],
             sessions: ["a.example": (3, 1, 0.25), "b.example": (0, 4, 1)], reports: 1),
        Case(name: "the same report-id from two organizations is two reports",
             rows: [row("G", "x", "a.example", 1, 0), row("M", "x", "a.example", 1, 0)],
             sessions: ["a.example": (2, 0, 0)], reports: 2),
    ]

    @Test(arguments: cases)
    func sessions(_ c: Case) {
        let s = ReportSummary(rows: c.rows, rejected: 7)
        #expect(s.reports == c.reports)
        #expect(s.rejected == 7)
        #expect(s.domains.map(\.domain) == c.sessions.keys.sorted())
        for d in s.domains {
            let (ok, failed, rate) = c.sessions[d.domain]!
            #expect(d.sessions == .init(successful: ok, failed: failed))
            #expect(abs(d.failureRate - rate) < 1e-12)
        }
    }

    @Test("Result types and MX add up the failure details; organizations their sessions")
    func breakdown() {
        let s = ReportSummary(rows: [
            Self.row("Google Inc.", "1", "a.example", 10, 5, [F(resultType: "certificate-expired", receivingMX: "mx1.a.example", sessions: 3),
                                                              F(resultType: "starttls-not-supported", receivingMX: nil, sessions: 2)]),
            Self.row("Microsoft", "2", "a.example", 4, 1, [F(resultType: "certificate-expired", receivingMX: "mx1.a.example", sessions: 1)]),
            Self.row("Google Inc.", "3", "a.example", 6, 0),
        ], rejected: 0)
        let d = s.domains[0]
        #expect(d.resultTypes == ["certificate-expired": 4, "starttls-not-supported": 2])
        #expect(d.mx == ["mx1.a.example": 4, ReportSummary.unnamedMX: 2])
        #expect(d.organizations == ["Google Inc.": .init(successful: 16, failed: 5), "Microsoft": .init(successful: 4, failed: 1)])
        #expect(s.reports == 3)
    }

    @Test("--fail-above: only domains strictly above the rate")
    func failingAbove() {
        let s = ReportSummary(rows: [Self.row("G", "1", "a.example", 95, 5), Self.row("G", "1", "b.example", 90, 10)], rejected: 0)
        #expect(s.domains(failingAbove: 0.05).map(\.domain) == ["b.example"])
        #expect(s.domains(failingAbove: 0.04).map(\.domain) == ["a.example", "b.example"])
        #expect(s.domains(failingAbove: 0.1).isEmpty)
    }

    @Test("A failure's receiving MX: the hostname normalized, else the IP, else none")
    func receivingMX() {
        #expect(TLSReport.Failure(resultType: "x", receivingMXHostname: "MX1.Example.", receivingIP: "192.0.2.1").receivingMX == "mx1.example")
        #expect(TLSReport.Failure(resultType: "x", receivingMXHostname: "", receivingIP: "192.0.2.1").receivingMX == "192.0.2.1")
        #expect(TLSReport.Failure(resultType: "x").receivingMX == nil)
    }
}
