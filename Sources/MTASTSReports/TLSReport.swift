/// An SMTP TLS report (RFC 8460 §4) as it was sent, with the deviations the parser tolerated named in `notes`.
///
/// Strings are kept as written (the body is authoritative, RFC 8460 §5.6); only `policyDomain` is normalized
/// (lowercased, trailing dot dropped) so reports for one domain group together.
public struct TLSReport: Sendable, Hashable {
    public var organizationName: String
    public var reportID: String
    public var contactInfo: String?
    /// `date-range.start-datetime` as written (RFC 3339 date-time).
    public var startDatetime: String
    public var endDatetime: String
    /// Unix seconds parsed from `startDatetime` when parseable (a missing offset is read as UTC and noted).
    public var start: Int64?
    public var end: Int64?
    public var policies: [TLSReport.Policy]
    /// Each tolerated deviation, in words ("mx-host is a string (RFC 8460 text form)").
    public var notes: [String]

    public init(organizationName: String, reportID: String, contactInfo: String? = nil, startDatetime: String,
                endDatetime: String, start: Int64? = nil, end: Int64? = nil, policies: [TLSReport.Policy] = [],
                notes: [String] = []) {
        self.organizationName = organizationName
        self.reportID = reportID
        self.contactInfo = contactInfo
        self.startDatetime = startDatetime
        self.endDatetime = endDatetime
        self.start = start
        self.end = end
        self.policies = policies
        self.notes = notes
    }

    /// One element of `policies`: the policy applied (§4.3 `policy`), its summary and failure details.
    public struct Policy: Sendable, Hashable {
        /// "sts", "tlsa", "no-policy-found", or what was written.
        public var policyType: String
        /// Lowercased, trailing dot dropped; "" when absent.
        public var policyDomain: String
        public var policyStrings: [String]
        public var mxHosts: [String]
        /// `summary.total-successful-session-count` (0 when missing).
        public var successful: Int
        /// `summary.total-failure-session-count` (0 when missing).
        public var failed: Int
        public var failures: [TLSReport.Failure]

        public init(policyType: String, policyDomain: String, policyStrings: [String] = [], mxHosts: [String] = [],
                    successful: Int = 0, failed: Int = 0, failures: [TLSReport.Failure] = []) {
            self.policyType = policyType
            self.policyDomain = policyDomain
            self.policyStrings = policyStrings
            self.mxHosts = mxHosts
            self.successful = successful
            self.failed = failed
            self.failures = failures
        }
    }

    /// One element of `failure-details` (§4.3).
    public struct Failure: Sendable, Hashable {
        /// RFC 8460 §4.3 name, or what was written.
        public var resultType: String
        public var sendingMTAIP: String?
        public var receivingMXHostname: String?
        public var receivingMXHelo: String?
        public var receivingIP: String?
        /// `failed-session-count` (0 when missing).
        public var failedSessions: Int
        public var additionalInformation: String?
        public var failureReasonCode: String?

        public init(resultType: String, sendingMTAIP: String? = nil, receivingMXHostname: String? = nil,
                    receivingMXHelo: String? = nil, receivingIP: String? = nil, failedSessions: Int = 0,
                    additionalInformation: String? = nil, failureReasonCode: String? = nil) {
            self.resultType = resultType
            self.sendingMTAIP = sendingMTAIP
            self.receivingMXHostname = receivingMXHostname
            self.receivingMXHelo = receivingMXHelo
            self.receivingIP = receivingIP
            self.failedSessions = failedSessions
            self.additionalInformation = additionalInformation
            self.failureReasonCode = failureReasonCode
        }
    }
}

extension TLSReport {
    /// Sessions over all policies.
    public var totalSuccessful: Int { policies.reduce(0) { $0 + $1.successful } }
    public var totalFailed: Int { policies.reduce(0) { $0 + $1.failed } }
}

/// Why bytes are not a report ("not JSON: ...", "no `policies`", "gzip: truncated", ...).
public struct TLSReportRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
    public init(_ reason: String) { self.reason = reason }
}
