import Foundation
import MTASTSReports
import MTASTSRuntime
import TestSupport
import Testing

/// The ReportStore contract on both stores, each opened as `mta-sts reports` opens it (StoreSetting.openReportStore):
/// SQLite in a temporary file, PostgreSQL in a fresh schema of the real server.
@Suite("Report stores (SQLite and PostgreSQL)")
struct ReportStoreTests {
    enum Kind: String, CaseIterable, Sendable { case sqlite, postgres }

    /// A new, empty store's setting.
    static func freshSetting(_ kind: Kind) async throws -> StoreSetting {
        switch kind {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-reports-\(UUID().uuidString)")
            return .sqlite(path: dir.appendingPathComponent("reports.sqlite").path)  // the directory is created on open
        case .postgres:
            return .postgres(url: try await PostgresServer.freshURL())
        }
    }

    static func report(_ org: String, _ id: String, start: Int64? = 1_700_000_000, policies: [TLSReport.Policy]) -> TLSReport {
        TLSReport(organizationName: org, reportID: id, contactInfo: "tlsrpt@\(org)", startDatetime: "2023-11-14T22:13:20Z",
                  endDatetime: "2023-11-15T22:13:19Z", start: start, end: start.map { $0 + 86399 }, policies: policies)
    }

    static let failing = TLSReport.Policy(
        policyType: "sts", policyDomain: "a.example", policyStrings: ["version: STSv1", "mode: enforce"], mxHosts: ["mx1.a.example"],
        successful: 90, failed: 10,
        failures: [.init(resultType: "certificate-expired", sendingMTAIP: "192.0.2.1", receivingMXHostname: "MX1.a.example.",
                         failedSessions: 7),
                   .init(resultType: "starttls-not-supported", receivingIP: "198.51.100.7", failedSessions: 3)])
    static let clean = TLSReport.Policy(policyType: "sts", policyDomain: "b.example", successful: 5)

    @Test("A report is stored once per (organization-name, report-id); its JSON and rows come back", arguments: Kind.allCases)
    func deduplication(_ kind: Kind) async throws {
        let store = try await Self.freshSetting(kind).openReportStore(creating: true)
        let google = Self.report("Google Inc.", "r1", policies: [Self.failing, Self.clean])
        let json = Array(#"{"organization-name":"Google Inc."}"#.utf8)
        #expect(try await store.save(google, json: json, receivedAt: 1_700_100_000) == .inserted)
        // A re-delivery, even one that reads differently, changes nothing.
        #expect(try await store.save(Self.report("Google Inc.", "r1", policies: [Self.clean]), json: [0x7B, 0x7D], receivedAt: 1) == .duplicate)
        // The same report-id from another organization is another report.
        #expect(try await store.save(Self.report("Microsoft", "r1", policies: [Self.clean]), json: [0x7B, 0x7D], receivedAt: 2) == .inserted)

        let list = try await store.list()
        #expect(list.map(\.organizationName) == ["Google Inc.", "Microsoft"])
        #expect(list[0] == StoredReportInfo(organizationName: "Google Inc.", reportID: "r1", startDatetime: "2023-11-14T22:13:20Z",
                                            endDatetime: "2023-11-15T22:13:19Z", receivedAt: 1_700_100_000,
                                            domains: ["a.example", "b.example"], successful: 95, failed: 10))
        let loaded = try await store.load(reportID: "r1")
        #expect(loaded.count == 2 && loaded[0].json == json)
        #expect(try await store.load(reportID: "nothing").isEmpty)

        let rows = try await store.summaryRows(domain: "a.example", since: nil)
        #expect(rows == [ReportPolicyRow(organization: "Google Inc.", reportID: "r1", domain: "a.example", successful: 90, failed: 10,
                                         failures: [.init(resultType: "certificate-expired", receivingMX: "mx1.a.example", sessions: 7),
                                                    .init(resultType: "starttls-not-supported", receivingMX: "198.51.100.7", sessions: 3)])])
        #expect(try await store.summaryRows(domain: nil, since: nil).count == 3)
        await store.close()
    }

    @Test("A batch: an outcome per report in order; a report stored before or twice in the batch is a duplicate", arguments: Kind.allCases)
    func batch(_ kind: Kind) async throws {
        let store = try await Self.freshSetting(kind).openReportStore(creating: true)
        #expect(try await store.save(Self.report("O", "before", policies: [Self.clean]), json: [0x7B, 0x7D], receivedAt: 1) == .inserted)
        let json = Array(#"{"report-id":"a"}"#.utf8)
        let batch = [ReportToSave(report: Self.report("O", "a", policies: [Self.failing, Self.clean]), json: json, receivedAt: 2),
                     ReportToSave(report: Self.report("O", "before", policies: [Self.failing]), json: [], receivedAt: 3),
                     ReportToSave(report: Self.report("O", "a", policies: [Self.failing]), json: [], receivedAt: 4),
                     ReportToSave(report: Self.report("P", "a", policies: [Self.failing]), json: [], receivedAt: 5)]
        #expect(try await store.save(batch: batch) == [.inserted, .duplicate, .duplicate, .inserted])
        #expect(try await store.save(batch: []) == [])
        // Each inserted report with all its rows, as one by one.
        let rows = try await store.summaryRows(domain: "a.example", since: nil)
        #expect(rows.map(\.organization).sorted() == ["O", "P"])
        #expect(rows.allSatisfy { $0.failed == 10 && $0.failures.map(\.sessions) == [7, 3] })
        #expect(try await store.summaryRows(domain: "b.example", since: nil).count == 2)  // "before" and O's "a"
        #expect(try await store.load(reportID: "a").first { $0.info.organizationName == "O" }?.json == json)
        await store.close()
    }

    @Test("--since: the report's start, else its receipt; rejections are counted once per input", arguments: Kind.allCases)
    func sinceAndRejections(_ kind: Kind) async throws {
        let store = try await Self.freshSetting(kind).openReportStore(creating: true)
        _ = try await store.save(Self.report("O", "old", start: 1_000, policies: [Self.clean]), json: [], receivedAt: 5_000)
        _ = try await store.save(Self.report("O", "new", start: 9_000, policies: [Self.clean]), json: [], receivedAt: 9_500)
        _ = try await store.save(Self.report("O", "undated", start: nil, policies: [Self.clean]), json: [], receivedAt: 8_000)
        #expect(Set(try await store.summaryRows(domain: "b.example", since: 7_000).map(\.reportID)) == ["new", "undated"])
        #expect(try await store.summaryRows(domain: "c.example", since: nil).isEmpty)

        let bad = StoredRejection(source: "<stdin>", reason: "not JSON", digest: "aa", receivedAt: 100)
        try await store.recordRejection(bad)
        try await store.recordRejection(bad)  // the MTA retried the same message
        try await store.recordRejection(StoredRejection(source: "x.eml", reason: "no report part", digest: "bb", receivedAt: 200))
        #expect(try await store.rejectionCount(since: nil) == 2)
        #expect(try await store.rejectionCount(since: 150) == 1)
        await store.close()
    }

    @Test("Deleting by age removes old reports with their rows and old rejections, nothing else", arguments: Kind.allCases)
    func deleteByAge(_ kind: Kind) async throws {
        let store = try await Self.freshSetting(kind).openReportStore(creating: true)
        _ = try await store.save(Self.report("O", "old", start: 1_000, policies: [Self.failing]), json: [], receivedAt: 9_000)
        _ = try await store.save(Self.report("O", "undated", start: nil, policies: [Self.failing]), json: [], receivedAt: 4_000)
        _ = try await store.save(Self.report("O", "new", start: 6_000, policies: [Self.failing]), json: [], receivedAt: 9_000)
        try await store.recordRejection(StoredRejection(source: "a", reason: "r", digest: "a", receivedAt: 4_000))
        try await store.recordRejection(StoredRejection(source: "b", reason: "r", digest: "b", receivedAt: 6_000))
        #expect(try await store.deleteReports(before: 5_000) == 2)
        #expect(try await store.list().map(\.reportID) == ["new"])
        #expect(try await store.summaryRows(domain: nil, since: nil).map(\.reportID) == ["new"])
        #expect(try await store.rejectionCount(since: nil) == 1)
        // Deleted means gone: the same report can be stored again.
        #expect(try await store.save(Self.report("O", "old", start: 1_000, policies: []), json: [], receivedAt: 9_500) == .inserted)
        await store.close()
    }

    @Test("What was stored is there after the store is closed and opened again; a view does not create a store",
          arguments: Kind.allCases)
    func reopen(_ kind: Kind) async throws {
        let setting = try await Self.freshSetting(kind)
        if case .sqlite(let path) = setting {
            await #expect(throws: ConfigurationError.self) { _ = try await setting.openReportStore(creating: false) }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
        let first = try await setting.openReportStore(creating: true)
        _ = try await first.save(Self.report("O", "r", policies: [Self.failing]), json: [1, 2, 3], receivedAt: 10)
        try await first.recordRejection(StoredRejection(source: "f", reason: "r", digest: "d", receivedAt: 10))
        await first.close()

        let second = try await setting.openReportStore(creating: false)
        #expect(try await second.list().map(\.reportID) == ["r"])
        #expect(try await second.load(reportID: "r").first?.json == [1, 2, 3])
        #expect(try await second.summaryRows(domain: nil, since: nil).first?.failures.count == 2)
        #expect(try await second.rejectionCount(since: nil) == 1)
        #expect(try await second.save(Self.report("O", "r", policies: []), json: [], receivedAt: 11) == .duplicate)
        await second.close()
    }
}
