/// What `mta-sts reports dashboard` shows, computed from what the store returns: the summary of a window of days,
/// the daily series per domain, and the newest failing reports with their failure details. Pure: the page
/// (``DashboardPage``) and `/metrics` (``DashboardMetrics``) are rendered from it.
public struct Dashboard: Sendable, Equatable {
    /// One failure detail of a failing report (RFC 8460 §4.3), with what the explanation needs.
    public struct Failure: Sendable, Equatable {
        public var domain: String
        public var resultType: String
        public var receivingMX: String?
        public var sendingMTAIP: String?
        public var sessions: Int
        public var additionalInformation: String?
        public var failureReasonCode: String?

        public init(domain: String, resultType: String, receivingMX: String? = nil, sendingMTAIP: String? = nil, sessions: Int,
                    additionalInformation: String? = nil, failureReasonCode: String? = nil) {
            self.domain = domain
            self.resultType = resultType
            self.receivingMX = receivingMX
            self.sendingMTAIP = sendingMTAIP
            self.sessions = sessions
            self.additionalInformation = additionalInformation
            self.failureReasonCode = failureReasonCode
        }
    }

    /// A stored report with failed sessions, and its failure details for the domains shown.
    public struct FailingReport: Sendable, Equatable {
        public var info: StoredReportInfo
        /// Empty when the stored JSON no longer parses (the totals in `info` still say how many failed).
        public var failures: [Failure]

        public init(info: StoredReportInfo, failures: [Failure]) {
            self.info = info
            self.failures = failures
        }

        /// `stored`'s failure details of `domain` (nil: all), read from its JSON.
        public init(_ stored: StoredReport, domain: String?) {
            info = stored.info
            guard case .success(let report) = TLSReportParser.parse(json: stored.json) else {
                failures = []
                return
            }
            failures = report.policies.filter { domain == nil || $0.storedDomain == domain }.flatMap { p in
                p.failures.map { f in
                    Failure(domain: p.storedDomain, resultType: f.resultType, receivingMX: f.receivingMX, sendingMTAIP: f.sendingMTAIP,
                            sessions: f.failedSessions, additionalInformation: f.additionalInformation,
                            failureReasonCode: f.failureReasonCode)
                }
            }
        }
    }

    /// The reports of the window, added up per domain (only the filtered domain when there is a filter).
    public var summary: ReportSummary
    /// Sessions per day and domain in the window.
    public var daily: [DailySessions]
    /// Newest first.
    public var failing: [FailingReport]
    /// Every domain with reports in the window (for the domain filter), sorted.
    public var allDomains: [String]
    /// The `?domain=` filter, nil for all domains.
    public var domain: String?
    /// The first day of the window (00:00 UTC) and now, in seconds since 1970.
    public var since: Int64
    public var now: Int64

    public init(summary: ReportSummary, daily: [DailySessions], failing: [FailingReport], allDomains: [String], domain: String?,
                since: Int64, now: Int64) {
        self.summary = summary
        self.daily = daily
        self.failing = failing
        self.allDomains = allDomains
        self.domain = domain
        self.since = since
        self.now = now
    }

    /// The days of the window, oldest first: from `since` to today (UTC), at most `maxDays` (the newest ones).
    public func days(maxDays: Int = 400) -> [Int64] {
        let first = DailySessions.day(of: since), last = DailySessions.day(of: now)
        guard last >= first else { return [] }
        let count = min(Int((last - first) / 86400) + 1, maxDays)
        return (0..<count).map { last - Int64(count - 1 - $0) * 86400 }
    }

    /// Failed sessions per result type over the domains shown, most first.
    public var failuresByResultType: [(resultType: String, sessions: Int)] {
        var out: [String: Int] = [:]
        for d in summary.domains { for (t, n) in d.resultTypes { out[t, default: 0] += n } }
        return out.map { ($0.key, $0.value) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    }

    /// Sessions per reporting organization over the domains shown, most failed first.
    public var sessionsBySender: [(organization: String, sessions: ReportSummary.Sessions)] {
        var out: [String: ReportSummary.Sessions] = [:]
        for d in summary.domains {
            for (o, s) in d.organizations {
                out[o, default: .init()].successful += s.successful
                out[o, default: .init()].failed += s.failed
            }
        }
        return out.map { ($0.key, $0.value) }.sorted {
            $0.1.failed != $1.1.failed ? $0.1.failed > $1.1.failed : $0.0 < $1.0
        }
    }

    /// Failed sessions per receiving MX over the domains shown, most first.
    public var failuresByMX: [(mx: String, sessions: Int)] {
        var out: [String: Int] = [:]
        for d in summary.domains { for (mx, n) in d.mx { out[mx, default: 0] += n } }
        return out.map { ($0.key, $0.value) }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    }
}
