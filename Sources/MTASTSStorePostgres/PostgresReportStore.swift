import Foundation
import Logging
import MTASTSReports
import PostgresNIO
import Synchronization

/// The fleet ``ReportStore``: the SQLite report store's tables in PostgreSQL, so every MX host's MDA (and the HTTPS
/// receivers of `serve`) store into one place and one `reports summary` sees everything.
///
/// Schema (created at first use when missing, in one transaction under the advisory lock the policy store uses):
/// `mta_sts_reports` (one row per (organization_name, report_id), the JSON as received), `mta_sts_report_policies`,
/// `mta_sts_report_failures` (the rows the summary adds up) and `mta_sts_report_rejections` (one per distinct
/// rejected input). A report and its rows are one transaction: a crash leaves all of it or nothing.
public final class PostgresReportStore: ReportStore {
    public let configuration: PostgresStoreConfiguration
    let connections: PostgresConnections
    var logger: Logger { connections.logger }
    private let schemaReady = Mutex(false)

    /// Reads a `postgres://` URL (see ``PostgresStoreConfiguration``); no server contact until the first operation.
    public convenience init(url: String, logger: Logger? = nil) throws {
        try self.init(configuration: PostgresStoreConfiguration(url: url), logger: logger)
    }

    public init(configuration: PostgresStoreConfiguration, logger: Logger? = nil) throws {
        self.configuration = configuration
        connections = try PostgresConnections(configuration: configuration, logger: logger)
    }

    /// Connects and creates the tables when missing. Every operation does this first; call it to fail early.
    public func prepare() async throws {
        if schemaReady.withLock({ $0 }) { return }
        try await connections.withConnection { [logger] connection in
            let rows = try await connection.query("""
                SELECT to_regclass('mta_sts_reports') IS NOT NULL AND to_regclass('mta_sts_report_policies') IS NOT NULL
                   AND to_regclass('mta_sts_report_failures') IS NOT NULL AND to_regclass('mta_sts_report_rejections') IS NOT NULL
                """, logger: logger)
            var complete = false
            for try await value in rows.decode(Bool.self) { complete = value }
            guard !complete else { return }
            try await connection.withTransaction(logger: logger) { connection in
                for statement in Self.schema { try await PostgresConnections.execute(connection, logger, statement) }
            }
        }
        schemaReady.withLock { $0 = true }
    }

    public func save(_ report: TLSReport, json: [UInt8], receivedAt: Int64) async throws -> ReportSaveOutcome {
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            try await Self.insert(report, json: json, receivedAt: receivedAt, connection, logger)
        }
    }

    public func save(batch: [ReportToSave]) async throws -> [ReportSaveOutcome] {
        try await prepare()
        // One lease and one transaction for the whole batch.
        return try await connections.withConnection { [logger] connection in
            try await connection.withTransaction(logger: logger) { connection in
                var outcomes: [ReportSaveOutcome] = []
                for r in batch { outcomes.append(try await Self.insert(r.report, json: r.json, receivedAt: r.receivedAt, connection, logger)) }
                return outcomes
            }
        }
    }

    /// A report and its rows in one statement: atomic by itself (the report whole or absent) and one round trip instead
    /// of one INSERT per row. The policies and failure details come as arrays; when the report is a duplicate, `r` is
    /// empty and nothing else is inserted. A NULL cannot be an array element here, so the optional columns travel as
    /// a flag and a text.
    private static func insert(_ report: TLSReport, json: [UInt8], receivedAt: Int64, _ connection: PostgresConnection,
                               _ logger: Logger) async throws -> ReportSaveOutcome {
        let policies = report.policies
        let failures = policies.enumerated().flatMap { position, p in p.failures.map { (position: Int64(position), failure: $0) } }
        let query: PostgresQuery = """
            WITH r AS (
              INSERT INTO mta_sts_reports (organization_name, report_id, contact_info, start_datetime, end_datetime, start_at, end_at,
                                           received_at, json)
              VALUES (\(report.organizationName), \(report.reportID), \(report.contactInfo), \(report.startDatetime),
                      \(report.endDatetime), \(report.start), \(report.end), \(receivedAt), \(ByteBuffer(bytes: json)))
              ON CONFLICT (organization_name, report_id) DO NOTHING RETURNING id),
            p AS (
              INSERT INTO mta_sts_report_policies (report, position, policy_type, domain, successful, failed)
              SELECT r.id, x.position, x.policy_type, x.domain, x.successful, x.failed
              FROM r, unnest(\(policies.indices.map(Int64.init))::bigint[], \(policies.map(\.policyType))::text[],
                             \(policies.map(\.storedDomain))::text[], \(policies.map { Int64($0.successful) })::bigint[],
                             \(policies.map { Int64($0.failed) })::bigint[]) AS x(position, policy_type, domain, successful, failed)),
            f AS (
              INSERT INTO mta_sts_report_failures (report, position, result_type, receiving_mx, sending_mta_ip, sessions)
              SELECT r.id, y.position, y.result_type, CASE WHEN y.has_mx THEN y.mx END, CASE WHEN y.has_ip THEN y.ip END, y.sessions
              FROM r, unnest(\(failures.map(\.position))::bigint[], \(failures.map(\.failure.resultType))::text[],
                             \(failures.map { $0.failure.receivingMX != nil })::boolean[], \(failures.map { $0.failure.receivingMX ?? "" })::text[],
                             \(failures.map { $0.failure.sendingMTAIP != nil })::boolean[], \(failures.map { $0.failure.sendingMTAIP ?? "" })::text[],
                             \(failures.map { Int64($0.failure.failedSessions) })::bigint[])
                AS y(position, result_type, has_mx, mx, has_ip, ip, sessions))
            SELECT id FROM r
            """
        var inserted = false
        for try await _ in try await connection.query(query, logger: logger).decode(Int64.self) { inserted = true }
        return inserted ? .inserted : .duplicate
    }

    public func recordRejection(_ r: StoredRejection) async throws {
        try await prepare()
        try await connections.withConnection { [logger] connection in
            try await PostgresConnections.execute(connection, logger, """
                INSERT INTO mta_sts_report_rejections (digest, source, reason, received_at)
                VALUES (\(r.digest), \(r.source), \(r.reason), \(r.receivedAt)) ON CONFLICT (digest) DO NOTHING
                """)
        }
    }

    public func rejectionCount(since: Int64?) async throws -> Int {
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            let rows = try await connection.query(
                "SELECT count(*) FROM mta_sts_report_rejections WHERE received_at >= \(since ?? Int64.min)", logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    public func list() async throws -> [StoredReportInfo] {
        try await infos(reportID: nil).map(\.info)
    }

    public func load(reportID: String) async throws -> [StoredReport] {
        try await infos(reportID: reportID)
    }

    /// The reports with `reportID` (nil: all) and, when given, one of the row `ids`, oldest period first, with their
    /// policies' domains and totals.
    func infos(reportID: String?, ids: [Int64]? = nil) async throws -> [StoredReport] {
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            var out: [StoredReport] = []
            var index: [Int64: Int] = [:]
            let reports = try await connection.query("""
                SELECT id, organization_name, report_id, start_datetime, end_datetime, received_at, json FROM mta_sts_reports r
                WHERE (\(reportID)::text IS NULL OR r.report_id = \(reportID)) AND (\(ids)::bigint[] IS NULL OR r.id = ANY(\(ids)))
                ORDER BY COALESCE(start_at, received_at), id
                """, logger: logger)
            for try await (id, organization, reportID, start, end, receivedAt, json)
                in reports.decode((Int64, String, String, String, String, Int64, ByteBuffer).self) {
                index[id] = out.count
                out.append(StoredReport(info: StoredReportInfo(organizationName: organization, reportID: reportID, startDatetime: start,
                                                               endDatetime: end, receivedAt: receivedAt, domains: [],
                                                               successful: 0, failed: 0),
                                        json: Array(json.readableBytesView)))
            }
            let policies = try await connection.query("""
                SELECT p.report, p.domain, p.successful, p.failed FROM mta_sts_report_policies p JOIN mta_sts_reports r ON r.id = p.report
                WHERE (\(reportID)::text IS NULL OR r.report_id = \(reportID)) AND (\(ids)::bigint[] IS NULL OR r.id = ANY(\(ids)))
                ORDER BY p.report, p.position
                """, logger: logger)
            for try await (report, domain, successful, failed) in policies.decode((Int64, String, Int, Int).self) {
                guard let i = index[report] else { continue }
                out[i].info.domains.append(domain)
                out[i].info.successful += successful
                out[i].info.failed += failed
            }
            return out
        }
    }

    public func summaryRows(domain: String?, since: Int64?) async throws -> [ReportPolicyRow] {
        try await prepare()
        let since = since ?? Int64.min
        return try await connections.withConnection { [logger] connection in
            var rows: [PolicyKey: ReportPolicyRow] = [:]
            var order: [PolicyKey] = []
            let policies = try await connection.query("""
                SELECT p.report, p.position, r.organization_name, r.report_id, p.domain, p.successful, p.failed
                FROM mta_sts_report_policies p JOIN mta_sts_reports r ON r.id = p.report
                WHERE (\(domain)::text IS NULL OR p.domain = \(domain)) AND COALESCE(r.start_at, r.received_at) >= \(since)
                """, logger: logger)
            for try await (report, position, organization, reportID, domain, successful, failed)
                in policies.decode((Int64, Int, String, String, String, Int, Int).self) {
                let key = PolicyKey(report: report, position: position)
                order.append(key)
                rows[key] = ReportPolicyRow(organization: organization, reportID: reportID, domain: domain, successful: successful,
                                            failed: failed, failures: [])
            }
            let failures = try await connection.query("""
                SELECT f.report, f.position, f.result_type, f.receiving_mx, f.sessions
                FROM mta_sts_report_failures f
                JOIN mta_sts_report_policies p ON p.report = f.report AND p.position = f.position
                JOIN mta_sts_reports r ON r.id = p.report
                WHERE (\(domain)::text IS NULL OR p.domain = \(domain)) AND COALESCE(r.start_at, r.received_at) >= \(since)
                """, logger: logger)
            for try await (report, position, resultType, mx, sessions) in failures.decode((Int64, Int, String, String?, Int).self) {
                rows[PolicyKey(report: report, position: position)]?.failures
                    .append(.init(resultType: resultType, receivingMX: mx, sessions: sessions))
            }
            return order.compactMap { rows[$0] }
        }
    }

    public func deleteReports(before time: Int64) async throws -> Int {
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            try await connection.withTransaction(logger: logger) { connection in
                // The policies and failure details go with their report (ON DELETE CASCADE).
                let rows = try await connection.query(
                    "DELETE FROM mta_sts_reports WHERE COALESCE(start_at, received_at) < \(time) RETURNING id", logger: logger)
                var deleted = 0
                for try await _ in rows.decode(Int64.self) { deleted += 1 }
                try await PostgresConnections.execute(connection, logger,
                                                      "DELETE FROM mta_sts_report_rejections WHERE received_at < \(time)")
                return deleted
            }
        }
    }

    public func close() async { await connections.shutdown() }

    private struct PolicyKey: Hashable {
        let report: Int64
        let position: Int
    }

    /// Idempotent; run in one transaction under the schema's advisory lock.
    static let schema: [PostgresQuery] = [
        "SELECT pg_advisory_xact_lock(hashtext('mta_sts_schema'))",
        """
        CREATE TABLE IF NOT EXISTS mta_sts_reports (
          id bigserial PRIMARY KEY,
          organization_name text NOT NULL,
          report_id text NOT NULL,
          contact_info text,
          start_datetime text NOT NULL,
          end_datetime text NOT NULL,
          start_at bigint,
          end_at bigint,
          received_at bigint NOT NULL,
          json bytea NOT NULL,
          UNIQUE (organization_name, report_id))
        """,
        """
        CREATE TABLE IF NOT EXISTS mta_sts_report_policies (
          report bigint NOT NULL REFERENCES mta_sts_reports(id) ON DELETE CASCADE,
          position bigint NOT NULL,
          policy_type text NOT NULL,
          domain text NOT NULL,
          successful bigint NOT NULL,
          failed bigint NOT NULL,
          PRIMARY KEY (report, position))
        """,
        "CREATE INDEX IF NOT EXISTS mta_sts_report_policies_domain ON mta_sts_report_policies(domain)",
        """
        CREATE TABLE IF NOT EXISTS mta_sts_report_failures (
          report bigint NOT NULL REFERENCES mta_sts_reports(id) ON DELETE CASCADE,
          position bigint NOT NULL,
          result_type text NOT NULL,
          receiving_mx text,
          sending_mta_ip text,
          sessions bigint NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS mta_sts_report_failures_report ON mta_sts_report_failures(report, position)",
        """
        CREATE TABLE IF NOT EXISTS mta_sts_report_rejections (
          digest text PRIMARY KEY,
          source text NOT NULL,
          reason text NOT NULL,
          received_at bigint NOT NULL)
        """,
    ]
}
