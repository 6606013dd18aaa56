import Foundation
import GRDB
import MTASTSReports

/// The dashboard's queries (`mta-sts reports dashboard`): a daily series per domain and the newest failing reports.
extension SQLiteReportStore {
    /// The day of a report: its period start, else its receipt, floored to 00:00 UTC (SQLite's `/` and `%` truncate
    /// toward zero, so the remainder is made positive first).
    static let reportTime = "COALESCE(r.start_at, r.received_at)"
    static let reportDay = "(\(reportTime) - ((\(reportTime) % 86400) + 86400) % 86400)"

    public func dailySessions(domain: String?, since: Int64?) async throws -> [DailySessions] {
        try await pool.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT \(Self.reportDay) AS day, p.domain, SUM(p.successful) AS successful, SUM(p.failed) AS failed
                FROM report_policies p JOIN reports r ON r.id = p.report
                WHERE (?1 IS NULL OR p.domain = ?1) AND \(Self.reportTime) >= ?2
                GROUP BY day, p.domain ORDER BY day, p.domain
                """, arguments: [domain, since ?? Int64.min])
            var out: [DailySessions] = []
            while let row = try rows.next() {
                out.append(DailySessions(day: row["day"], domain: row["domain"], successful: row["successful"], failed: row["failed"]))
            }
            return out
        }
    }

    public func failingReports(domain: String?, since: Int64?, limit: Int) async throws -> [StoredReport] {
        try await pool.read { db in
            let ids = try Int64.fetchAll(db, sql: """
                SELECT r.id FROM reports r WHERE \(Self.reportTime) >= ?2 AND EXISTS (
                  SELECT 1 FROM report_policies p WHERE p.report = r.id AND p.failed > 0 AND (?1 IS NULL OR p.domain = ?1))
                ORDER BY \(Self.reportTime) DESC, r.id DESC LIMIT ?3
                """, arguments: [domain, since ?? Int64.min, max(0, limit)])
            guard !ids.isEmpty else { return [] }
            // The ids are the store's own integers: listing them in the statement is safe.
            let found = try Self.infos(db, where: "r.id IN (\(ids.map(String.init).joined(separator: ",")))", arguments: [])
            // infos lists oldest first (period start, else receipt, then id): the reverse of the order above.
            return found.reversed().map { StoredReport(info: $0.info, json: $0.json) }
        }
    }
}
