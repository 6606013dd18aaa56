import Foundation
import Logging
import MTASTSReports
import MTASTSRuntime
import TestSupport
import Testing

/// The report store as `serve` opens it for HTTPS POSTs (StoreSetting.openReportStoreForDaemon) and fills it
/// (ReportIngest, shared with `reports import`), on SQLite and the real PostgreSQL.
@Suite("Report ingest into a daemon's store (SQLite and PostgreSQL)")
struct ReportIngestDaemonTests {
    static let json = Array("""
        {"organization-name":"Poster","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},\
        "report-id":"p-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},\
        "summary":{"total-successful-session-count":3,"total-failure-session-count":1}}]}
        """.utf8)

    @Test("Opened without a round trip; a report is inserted, then a duplicate; no report is counted once as rejected",
          arguments: ReportStoreTests.Kind.allCases)
    func ingest(_ kind: ReportStoreTests.Kind) async throws {
        let setting = try await ReportStoreTests.freshSetting(kind)
        let store = try setting.openReportStoreForDaemon(logger: Logger(label: "test"))
        for expected in [ReportSaveOutcome.inserted, .duplicate] {
            let outcome = try await ReportIngest.store(TLSReportParser.reports(in: Self.json), input: Self.json, source: "POST", into: store, now: 1)
            guard case .stored(let stored) = outcome else { Issue.record("\(outcome)"); continue }
            #expect(stored.map(\.outcome) == [expected])
        }
        let bad = Array(#"{"organization-name":"x"}"#.utf8)
        for _ in 0..<2 {
            let outcome = try await ReportIngest.store(TLSReportParser.reports(in: bad), input: bad, source: "POST", into: store, now: 1)
            guard case .rejected(let reason) = outcome else { Issue.record("\(outcome)"); continue }
            #expect(reason.hasPrefix("not a report: no `"))
        }
        #expect(try await store.list().map(\.reportID) == ["p-1"])
        #expect(try await store.rejectionCount(since: nil) == 1)
        await store.close()
    }

    @Test("A PostgreSQL server that is down does not stop the opening (the daemon starts); the first use fails")
    func postgresDown() async throws {
        let store = try StoreSetting.postgres(url: "postgres://nobody:x@127.0.0.1:1/none").openReportStoreForDaemon(logger: Logger(label: "test"))
        await #expect(throws: (any Error).self) { try await store.list() }
        await store.close()
    }
}
