import Foundation
import MTASTSReports
import MTASTSRuntime
import TestSupport
import Testing

/// The dashboard's store queries on both stores (`reports dashboard`): the daily series per domain and the newest
/// failing reports, opened as the command opens them.
@Suite("Report stores: the dashboard's queries (SQLite and PostgreSQL)")
struct ReportStoreDashboardTests {
    typealias Kind = ReportStoreTests.Kind
    static let day: Int64 = 1_796_083_200  // 2026-12-01T00:00:00Z

    static func policy(_ domain: String, ok: Int, failed: Int = 0, type: String = "certificate-expired") -> TLSReport.Policy {
        TLSReport.Policy(policyType: "sts", policyDomain: domain, successful: ok, failed: failed,
                         failures: failed == 0 ? [] : [.init(resultType: type, receivingMXHostname: "mx.\(domain)", failedSessions: failed)])
    }

    @Test("Sessions per UTC day and domain: a report counts on the day its period starts, else the day it was received",
          arguments: Kind.allCases)
    func daily(_ kind: Kind) async throws {
        let store = try await ReportStoreTests.freshSetting(kind).openReportStore(creating: true)
        // Two reports on 1 December (one of them late in the day), one on 2 December, one undated received on the 2nd,
        // one before the window.
        _ = try await store.save(ReportStoreTests.report("G", "1", start: Self.day, policies: [Self.policy("a.example", ok: 90, failed: 10),
                                                                                               Self.policy("b.example", ok: 5)]),
                                 json: [], receivedAt: Self.day + 90000)
        _ = try await store.save(ReportStoreTests.report("M", "2", start: Self.day + 86399, policies: [Self.policy("a.example", ok: 1, failed: 2)]),
                                 json: [], receivedAt: Self.day + 90000)
        _ = try await store.save(ReportStoreTests.report("G", "3", start: Self.day + 86400, policies: [Self.policy("a.example", ok: 7)]),
                                 json: [], receivedAt: Self.day + 180000)
        _ = try await store.save(ReportStoreTests.report("X", "4", start: nil, policies: [Self.policy("a.example", ok: 3, failed: 1)]),
                                 json: [], receivedAt: Self.day + 86400 + 5)
        _ = try await store.save(ReportStoreTests.report("G", "0", start: Self.day - 86400, policies: [Self.policy("a.example", ok: 1000)]),
                                 json: [], receivedAt: Self.day)

        #expect(try await store.dailySessions(domain: nil, since: Self.day) == [
            DailySessions(day: Self.day, domain: "a.example", successful: 91, failed: 12),
            DailySessions(day: Self.day, domain: "b.example", successful: 5, failed: 0),
            DailySessions(day: Self.day + 86400, domain: "a.example", successful: 10, failed: 1),
        ])
        #expect(try await store.dailySessions(domain: "b.example", since: nil) == [
            DailySessions(day: Self.day, domain: "b.example", successful: 5, failed: 0),
        ])
        #expect(try await store.dailySessions(domain: "a.example", since: nil).first
                == DailySessions(day: Self.day - 86400, domain: "a.example", successful: 1000, failed: 0))
        #expect(try await store.dailySessions(domain: "c.example", since: nil).isEmpty)
        await store.close()
    }

    @Test("The newest failing reports: newest period first, only those with failures (of the domain), at most the limit, with JSON",
          arguments: Kind.allCases)
    func failing(_ kind: Kind) async throws {
        let store = try await ReportStoreTests.freshSetting(kind).openReportStore(creating: true)
        for i in 0..<5 {
            let failed = i == 3 ? 0 : i + 1  // report 3 has no failure
            let report = ReportStoreTests.report("Org \(i % 2)", "r\(i)", start: Self.day + Int64(i) * 86400,
                                                 policies: [Self.policy(i == 4 ? "b.example" : "a.example", ok: 100, failed: failed),
                                                            Self.policy("c.example", ok: 50)])
            _ = try await store.save(report, json: Array(#"{"n":\#(i)}"#.utf8), receivedAt: Self.day + 10)
        }
        let all = try await store.failingReports(domain: nil, since: nil, limit: 10)
        #expect(all.map(\.info.reportID) == ["r4", "r2", "r1", "r0"])
        #expect(all[1].info == StoredReportInfo(organizationName: "Org 0", reportID: "r2", startDatetime: "2023-11-14T22:13:20Z",
                                                endDatetime: "2023-11-15T22:13:19Z", receivedAt: Self.day + 10,
                                                domains: ["a.example", "c.example"], successful: 150, failed: 3))
        #expect(all[1].json == Array(#"{"n":2}"#.utf8))
        #expect(try await store.failingReports(domain: nil, since: nil, limit: 2).map(\.info.reportID) == ["r4", "r2"])
        #expect(try await store.failingReports(domain: "a.example", since: Self.day + 86400, limit: 10).map(\.info.reportID) == ["r2", "r1"])
        // c.example is in every report but never failed.
        #expect(try await store.failingReports(domain: "c.example", since: nil, limit: 10).isEmpty)
        await store.close()
    }
}
