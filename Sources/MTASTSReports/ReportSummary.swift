/// What the stored reports say per policy domain: the sessions that succeeded and failed (RFC 8460 §4.4
/// `summary`), why they failed (§4.3 result types), which senders reported them and which receiving MX failed.
/// Pure: computed from ``ReportPolicyRow``s, so the same numbers come out of every store.
public struct ReportSummary: Sendable, Equatable {
    public struct Sessions: Sendable, Equatable {
        public var successful = 0
        public var failed = 0

        public init(successful: Int = 0, failed: Int = 0) {
            self.successful = successful
            self.failed = failed
        }
    }

    public struct Domain: Sendable, Equatable {
        public var domain: String
        public var sessions = Sessions()
        /// Failed sessions per result type (the failure details' `failed-session-count`s).
        public var resultTypes: [String: Int] = [:]
        /// Sessions per reporting organization (organization-name).
        public var organizations: [String: Sessions] = [:]
        /// Failed sessions per receiving MX (hostname, else IP; ``unnamedMX`` when a detail names neither).
        public var mx: [String: Int] = [:]

        public init(domain: String) { self.domain = domain }

        /// failed / (successful + failed); 0 when no session was reported.
        public var failureRate: Double {
            let total = sessions.successful + sessions.failed
            return total == 0 ? 0 : Double(sessions.failed) / Double(total)
        }
    }

    /// The key of failures whose detail names no receiving MX (hostname or IP).
    public static let unnamedMX = "(not named)"

    /// Distinct reports (organization-name, report-id) the rows came from.
    public var reports: Int
    /// Inputs that held no usable report.
    public var rejected: Int
    /// Sorted by domain name.
    public var domains: [Domain]

    public init(rows: [ReportPolicyRow], rejected: Int) {
        var byDomain: [String: Domain] = [:]
        var reports = Set<ReportKey>()
        for row in rows {
            reports.insert(ReportKey(organization: row.organization, reportID: row.reportID))
            var d = byDomain[row.domain] ?? Domain(domain: row.domain)
            d.sessions.successful += row.successful
            d.sessions.failed += row.failed
            d.organizations[row.organization, default: Sessions()].successful += row.successful
            d.organizations[row.organization, default: Sessions()].failed += row.failed
            for f in row.failures {
                d.resultTypes[f.resultType, default: 0] += f.sessions
                d.mx[f.receivingMX ?? Self.unnamedMX, default: 0] += f.sessions
            }
            byDomain[row.domain] = d
        }
        self.reports = reports.count
        self.rejected = rejected
        domains = byDomain.values.sorted { $0.domain < $1.domain }
    }

    /// The domains whose failure rate is above `rate` (`--fail-above`).
    public func domains(failingAbove rate: Double) -> [Domain] {
        domains.filter { $0.failureRate > rate }
    }

    private struct ReportKey: Hashable {
        let organization: String
        let reportID: String
    }
}
