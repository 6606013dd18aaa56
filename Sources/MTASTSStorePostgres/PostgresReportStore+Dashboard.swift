import Foundation
import MTASTSReports
import PostgresNIO

/// The dashboard's queries (`mta-sts reports dashboard`), as the SQLite store's: a daily series per domain and the
/// newest failing reports.
extension PostgresReportStore {
    /// The day of a report: its period start, else its receipt, floored to 00:00 UTC (`%` truncates toward zero, so
    /// the remainder is made positive first).
    private static let reportDay = "(COALESCE(r.start_at, r.received_at) - ((COALESCE(r.start_at, r.received_at) % 86400) + 86400) % 86400)"

    public func dailySessions(domain: String?, since: Int64?) async throws -> [DailySessions] {
        try await prepare()
        let since = since ?? Int64.min
        return try await connections.withConnection { [logger] connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: Self.reportDay) AS day, p.domain, SUM(p.successful)::bigint, SUM(p.failed)::bigint
                FROM mta_sts_report_policies p JOIN mta_sts_reports r ON r.id = p.report
                WHERE (\(domain)::text IS NULL OR p.domain = \(domain)) AND COALESCE(r.start_at, r.received_at) >= \(since)
                GROUP BY day, p.domain ORDER BY day, p.domain
                """, logger: logger)
            var out: [DailySessions] = []
            for try await (day, domain, successful, failed) in rows.decode((Int64, String, Int, Int).self) {
                out.append(DailySessions(day: day, domain: domain, successful: successful, failed: failed))
            }
            return out
        }
    }

    public func failingReports(domain: String?, since: Int64?, limit: Int) async throws -> [StoredReport] {
        try await prepare()
        let since = since ?? Int64.min
        let limit = max(0, limit)
        let ids = try await connections.withConnection { [logger] connection in
            var ids: [Int64] = []
            let rows = try await connection.query("""
                SELECT r.id FROM mta_sts_reports r
                WHERE COALESCE(r.start_at, r.received_at) >= \(since) AND EXISTS (
                  SELECT 1 FROM mta_sts_report_policies p
                  WHERE p.report = r.id AND p.failed > 0 AND (\(domain)::text IS NULL OR p.domain = \(domain)))
                ORDER BY COALESCE(r.start_at, r.received_at) DESC, r.id DESC LIMIT \(limit)
                """, logger: logger)
            for try await id in rows.decode(Int64.self) { ids.append(id) }
            return ids
        }
        guard !ids.isEmpty else { return [] }
        // infos lists oldest first (period start, else receipt, then id): the reverse of the order above.
        return Array(try await infos(reportID: nil, ids: ids).reversed())
    }
}
