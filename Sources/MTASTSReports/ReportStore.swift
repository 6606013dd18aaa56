/// Where received TLS reports are kept (SQLite by default, PostgreSQL for a fleet): every ingest path saves into
/// one, every view reads from one. Implementations: `SQLiteReportStore` (MTASTSStoreSQLite) and
/// `PostgresReportStore` (MTASTSStorePostgres); `StoreSetting.openReportStore` (MTASTSRuntime) opens either.
///
/// A report is kept with the JSON it arrived as (decompressed), so a later parser can read it again; the
/// policies and failure details are also kept as rows, which is what ``summaryRows(domain:since:)`` reads.
public protocol ReportStore: Sendable {
    /// Saves `report` and its JSON in one transaction, unless a report with the same organization-name and report-id
    /// is stored already (RFC 8460 §4.4: the pair names a report; a re-delivered mail is the same report).
    func save(_ report: TLSReport, json: [UInt8], receivedAt: Int64) async throws -> ReportSaveOutcome

    /// Saves each report as ``save(_:json:receivedAt:)`` does, all in one transaction (`reports import` saves its files
    /// in batches): after a crash each report is whole or absent, and a report that appears twice in the batch is a
    /// duplicate the second time. The outcomes are in the batch's order.
    func save(batch: [ReportToSave]) async throws -> [ReportSaveOutcome]

    /// Counts an input that held no usable report, once per distinct input (`digest`: a hash of its bytes), so a
    /// message that an MTA retries is counted once.
    func recordRejection(_ rejection: StoredRejection) async throws

    /// The distinct rejected inputs received at or after `since` (seconds since 1970; nil: all).
    func rejectionCount(since: Int64?) async throws -> Int

    /// Every stored report, oldest report period first.
    func list() async throws -> [StoredReportInfo]

    /// The stored reports with this report-id (one per organization that used it; usually one).
    func load(reportID: String) async throws -> [StoredReport]

    /// One row per stored policy of `domain` (nil: every domain) from reports whose period starts at or after
    /// `since` (seconds since 1970; a report whose start-datetime could not be read counts from its receipt).
    func summaryRows(domain: String?, since: Int64?) async throws -> [ReportPolicyRow]

    /// Sessions per UTC day (of the report's period start, else its receipt) and policy domain (nil: every domain),
    /// from reports whose period starts at or after `since`; ordered by day, then domain (the dashboard's series).
    func dailySessions(domain: String?, since: Int64?) async throws -> [DailySessions]

    /// The newest reports (by period start, else receipt) with failed sessions for `domain` (nil: any domain) whose
    /// period starts at or after `since`, newest first, at most `limit`, with their JSON (the failure details'
    /// additional information is only there).
    func failingReports(domain: String?, since: Int64?, limit: Int) async throws -> [StoredReport]

    /// Deletes the reports whose period starts before `time` (seconds since 1970; a report whose start-datetime could
    /// not be read counts from its receipt), with their rows, and the rejections received before it; returns how many
    /// reports were deleted (`reports import --keep-days`).
    func deleteReports(before time: Int64) async throws -> Int

    /// Releases connections; operations after it fail.
    func close() async
}

public enum ReportSaveOutcome: String, Sendable, Equatable {
    case inserted
    /// The same (organization-name, report-id) was stored before; nothing changed.
    case duplicate
}

/// An input that was not stored, and why.
public struct StoredRejection: Sendable, Equatable {
    /// What was given: a file name or `<stdin>`.
    public var source: String
    public var reason: String
    /// A hash of the input's bytes, hex (the deduplication key).
    public var digest: String
    public var receivedAt: Int64

    public init(source: String, reason: String, digest: String, receivedAt: Int64) {
        self.source = source
        self.reason = reason
        self.digest = digest
        self.receivedAt = receivedAt
    }
}

/// A stored report as `reports list` shows it: who, which period, which domains, the session totals.
public struct StoredReportInfo: Sendable, Equatable {
    public var organizationName: String
    public var reportID: String
    public var startDatetime: String
    public var endDatetime: String
    public var receivedAt: Int64
    /// The policy domains, in the report's order (lowercased; empty for a policy without one).
    public var domains: [String]
    public var successful: Int
    public var failed: Int

    public init(organizationName: String, reportID: String, startDatetime: String, endDatetime: String, receivedAt: Int64,
                domains: [String], successful: Int, failed: Int) {
        self.organizationName = organizationName
        self.reportID = reportID
        self.startDatetime = startDatetime
        self.endDatetime = endDatetime
        self.receivedAt = receivedAt
        self.domains = domains
        self.successful = successful
        self.failed = failed
    }
}

/// A stored report with the JSON it arrived as.
public struct StoredReport: Sendable, Equatable {
    public var info: StoredReportInfo
    public var json: [UInt8]

    public init(info: StoredReportInfo, json: [UInt8]) {
        self.info = info
        self.json = json
    }
}

/// One policy of one stored report, with its failure details: what ``ReportSummary`` adds up.
public struct ReportPolicyRow: Sendable, Equatable {
    public struct Failure: Sendable, Equatable {
        public var resultType: String
        /// The receiving MX as the report names it (hostname, else IP), nil when it names neither.
        public var receivingMX: String?
        public var sessions: Int

        public init(resultType: String, receivingMX: String?, sessions: Int) {
            self.resultType = resultType
            self.receivingMX = receivingMX
            self.sessions = sessions
        }
    }

    /// The report's (organization-name, report-id), which tells reports apart.
    public var organization: String
    public var reportID: String
    /// The policy-domain, lowercased, without a trailing dot ("" when the policy names none).
    public var domain: String
    public var successful: Int
    public var failed: Int
    public var failures: [Failure]

    public init(organization: String, reportID: String, domain: String, successful: Int, failed: Int, failures: [Failure]) {
        self.organization = organization
        self.reportID = reportID
        self.domain = domain
        self.successful = successful
        self.failed = failed
        self.failures = failures
    }
}

extension TLSReport.Policy {
    /// The policy-domain as stores index it: lowercased, without a trailing dot.
    public var storedDomain: String {
        var d = policyDomain.lowercased()
        while d.hasSuffix(".") { d.removeLast() }
        return d
    }
}

extension TLSReport.Failure {
    /// The receiving MX a failure is counted against: its hostname (lowercased, without a trailing dot), else its IP.
    public var receivingMX: String? {
        if var h = receivingMXHostname?.lowercased() {
            while h.hasSuffix(".") { h.removeLast() }
            if !h.isEmpty { return h }
        }
        if let ip = receivingIP, !ip.isEmpty { return ip }
        return nil
    }
}
