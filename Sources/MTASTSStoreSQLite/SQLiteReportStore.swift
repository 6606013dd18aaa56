import Foundation
import GRDB
import MTASTSReports

/// The default ``ReportStore``: one SQLite file (default `/var/lib/mta-sts/reports.sqlite`) in WAL mode. A report
/// and its rows are one transaction, so a crash or `kill -9` in the middle of an import leaves either the whole
/// report or nothing, and the import that is retried stores it then; readers (`reports summary`) and an importing
/// MDA may use the file at the same time.
public final class SQLiteReportStore: ReportStore {
    let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    public init(path: String) throws {
        self.path = path
        // Several deliveries may be piped in at once (one process each): a writer waits for the others.
        pool = try SQLiteFile.open(path, busyTimeout: 30)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("reports-v1") { db in
            try db.execute(sql: """
                CREATE TABLE reports (
                  id INTEGER PRIMARY KEY,
                  organization_name TEXT NOT NULL,
                  report_id TEXT NOT NULL,
                  contact_info TEXT,
                  start_datetime TEXT NOT NULL,
                  end_datetime TEXT NOT NULL,
                  start_at INTEGER,
                  end_at INTEGER,
                  received_at INTEGER NOT NULL,
                  json BLOB NOT NULL,
                  UNIQUE (organization_name, report_id));
                CREATE TABLE report_policies (
                  report INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
                  position INTEGER NOT NULL,
                  policy_type TEXT NOT NULL,
                  domain TEXT NOT NULL,
                  successful INTEGER NOT NULL,
                  failed INTEGER NOT NULL,
                  PRIMARY KEY (report, position));
                CREATE INDEX report_policies_domain ON report_policies(domain);
                CREATE TABLE report_failures (
                  report INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
                  position INTEGER NOT NULL,
                  result_type TEXT NOT NULL,
                  receiving_mx TEXT,
                  sending_mta_ip TEXT,
                  sessions INTEGER NOT NULL);
                CREATE INDEX report_failures_report ON report_failures(report, position);
                CREATE TABLE report_rejections (
                  digest TEXT PRIMARY KEY,
                  source TEXT NOT NULL,
                  reason TEXT NOT NULL,
                  received_at INTEGER NOT NULL);
                """)
        }
        try migrator.migrate(pool)
    }

    public func save(_ report: TLSReport, json: [UInt8], receivedAt: Int64) async throws -> ReportSaveOutcome {
        try await pool.write { db in try Self.insert(report, json: json, receivedAt: receivedAt, db) }
    }

    public func save(batch: [ReportToSave]) async throws -> [ReportSaveOutcome] {
        try await pool.write { db in try batch.map { try Self.insert($0.report, json: $0.json, receivedAt: $0.receivedAt, db) } }
    }

    /// A report and its rows, in the caller's transaction. Cached statements: compiling the three INSERTs again for
    /// every report cost more than running them.
    private static func insert(_ report: TLSReport, json: [UInt8], receivedAt: Int64, _ db: Database) throws -> ReportSaveOutcome {
        try db.cachedStatement(sql: """
            INSERT INTO reports (organization_name, report_id, contact_info, start_datetime, end_datetime, start_at, end_at,
                                 received_at, json)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization_name, report_id) DO NOTHING
            """).execute(arguments: [report.organizationName, report.reportID, report.contactInfo, report.startDatetime,
                                     report.endDatetime, report.start, report.end, receivedAt, Data(json)])
        guard db.changesCount == 1 else { return .duplicate }
        let id = db.lastInsertedRowID
        let policy = try db.cachedStatement(sql: """
            INSERT INTO report_policies (report, position, policy_type, domain, successful, failed) VALUES (?, ?, ?, ?, ?, ?)
            """)
        let failure = try db.cachedStatement(sql: """
            INSERT INTO report_failures (report, position, result_type, receiving_mx, sending_mta_ip, sessions)
            VALUES (?, ?, ?, ?, ?, ?)
            """)
        for (position, p) in report.policies.enumerated() {
            try policy.execute(arguments: [id, position, p.policyType, p.storedDomain, p.successful, p.failed])
            for f in p.failures {
                try failure.execute(arguments: [id, position, f.resultType, f.receivingMX, f.sendingMTAIP, f.failedSessions])
            }
        }
        return .inserted
    }

    public func recordRejection(_ r: StoredRejection) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO report_rejections (digest, source, reason, received_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (digest) DO NOTHING
                """, arguments: [r.digest, r.source, r.reason, r.receivedAt])
        }
    }

    public func rejectionCount(since: Int64?) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM report_rejections WHERE received_at >= ?",
                             arguments: [since ?? Int64.min]) ?? 0
        }
    }

    public func list() async throws -> [StoredReportInfo] {
        try await pool.read { db in try Self.infos(db, where: "1", arguments: []).map(\.info) }
    }

    public func load(reportID: String) async throws -> [StoredReport] {
        try await pool.read { db in
            try Self.infos(db, where: "r.report_id = ?", arguments: [reportID]).map { StoredReport(info: $0.info, json: $0.json) }
        }
    }

    /// The reports matching `condition` (on `reports r`), oldest period first, with their policies' domains and totals.
    static func infos(_ db: Database, where condition: String, arguments: StatementArguments) throws
        -> [(info: StoredReportInfo, json: [UInt8])] {
        var out: [(info: StoredReportInfo, json: [UInt8])] = []
        var index: [Int64: Int] = [:]
        let rows = try Row.fetchCursor(db, sql: """
            SELECT id, organization_name, report_id, start_datetime, end_datetime, received_at, json FROM reports r
            WHERE \(condition) ORDER BY COALESCE(start_at, received_at), id
            """, arguments: arguments)
        while let row = try rows.next() {
            index[row["id"]] = out.count
            out.append((StoredReportInfo(organizationName: row["organization_name"], reportID: row["report_id"],
                                         startDatetime: row["start_datetime"], endDatetime: row["end_datetime"],
                                         receivedAt: row["received_at"], domains: [], successful: 0, failed: 0),
                        Array(row["json"] as Data)))
        }
        let policies = try Row.fetchCursor(db, sql: """
            SELECT p.report, p.domain, p.successful, p.failed FROM report_policies p JOIN reports r ON r.id = p.report
            WHERE \(condition) ORDER BY p.report, p.position
            """, arguments: arguments)
        while let row = try policies.next() {
            guard let i = index[row["report"]] else { continue }
            out[i].info.domains.append(row["domain"])
            out[i].info.successful += row["successful"] as Int
            out[i].info.failed += row["failed"] as Int
        }
        return out
    }

    public func summaryRows(domain: String?, since: Int64?) async throws -> [ReportPolicyRow] {
        try await pool.read { db in
            let filter = "(?1 IS NULL OR p.domain = ?1) AND COALESCE(r.start_at, r.received_at) >= ?2"
            let arguments: StatementArguments = [domain, since ?? Int64.min]
            var rows: [PolicyKey: ReportPolicyRow] = [:]
            var order: [PolicyKey] = []
            let policies = try Row.fetchCursor(db, sql: """
                SELECT p.report, p.position, r.organization_name, r.report_id, p.domain, p.successful, p.failed
                FROM report_policies p JOIN reports r ON r.id = p.report WHERE \(filter)
                """, arguments: arguments)
            while let row = try policies.next() {
                let key = PolicyKey(report: row["report"], position: row["position"])
                order.append(key)
                rows[key] = ReportPolicyRow(organization: row["organization_name"], reportID: row["report_id"], domain: row["domain"],
                                            successful: row["successful"], failed: row["failed"], failures: [])
            }
            let failures = try Row.fetchCursor(db, sql: """
                SELECT f.report, f.position, f.result_type, f.receiving_mx, f.sessions
                FROM report_failures f JOIN report_policies p ON p.report = f.report AND p.position = f.position
                JOIN reports r ON r.id = p.report WHERE \(filter)
                """, arguments: arguments)
            while let row = try failures.next() {
                let key = PolicyKey(report: row["report"], position: row["position"])
                rows[key]?.failures.append(.init(resultType: row["result_type"], receivingMX: row["receiving_mx"], sessions: row["sessions"]))
            }
            return order.compactMap { rows[$0] }
        }
    }

    public func deleteReports(before time: Int64) async throws -> Int {
        // GRDB turns foreign keys on: the policies and failure details go with their report.
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM reports WHERE COALESCE(start_at, received_at) < ?", arguments: [time])
            let deleted = db.changesCount
            try db.execute(sql: "DELETE FROM report_rejections WHERE received_at < ?", arguments: [time])
            return deleted
        }
    }

    public func close() async {}

    private struct PolicyKey: Hashable {
        let report: Int64
        let position: Int
    }
}

/// How the stores open their SQLite file.
enum SQLiteFile {
    /// A pool on `path` (created if missing) in WAL mode (GRDB's default for a pool) with `synchronous = NORMAL`:
    /// durable across process crashes, only a power loss can drop the last commits. A writer waits up to
    /// `busyTimeout` seconds for another process's transaction.
    static func open(_ path: String, busyTimeout: Double, pragmas: [String] = []) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            for pragma in pragmas { try db.execute(sql: pragma) }
        }
        configuration.busyMode = .timeout(busyTimeout)
        return try DatabasePool(path: path, configuration: configuration)
    }
}
