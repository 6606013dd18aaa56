import Foundation

/// A report in RFC 8460 §4.4's JSON form, as the parser read it.
public struct ReportJSONForm: Encodable, Sendable {
    struct DateRange: Encodable, Sendable {
        let start: String, end: String
        enum CodingKeys: String, CodingKey { case start = "start-datetime", end = "end-datetime" }
    }

    struct Policy: Encodable, Sendable {
        struct Applied: Encodable, Sendable {
            let type: String, strings: [String], domain: String, mx: [String]
            enum CodingKeys: String, CodingKey { case type = "policy-type", strings = "policy-string", domain = "policy-domain", mx = "mx-host" }
        }

        struct Summary: Encodable, Sendable {
            let successful: Int, failed: Int
            enum CodingKeys: String, CodingKey { case successful = "total-successful-session-count", failed = "total-failure-session-count" }
        }

        struct Failure: Encodable, Sendable {
            let resultType: String, sendingMTAIP: String?, receivingMXHostname: String?, receivingMXHelo: String?
            let receivingIP: String?, failedSessions: Int, additionalInformation: String?, failureReasonCode: String?
            enum CodingKeys: String, CodingKey {
                case resultType = "result-type", sendingMTAIP = "sending-mta-ip", receivingMXHostname = "receiving-mx-hostname"
                case receivingMXHelo = "receiving-mx-helo", receivingIP = "receiving-ip", failedSessions = "failed-session-count"
                case additionalInformation = "additional-information", failureReasonCode = "failure-reason-code"
            }
        }

        let policy: Applied, summary: Summary, failures: [Failure]
        enum CodingKeys: String, CodingKey { case policy, summary, failures = "failure-details" }
    }

    let organization: String, dateRange: DateRange, contactInfo: String?, reportID: String, policies: [Policy]
    enum CodingKeys: String, CodingKey {
        case organization = "organization-name", dateRange = "date-range", contactInfo = "contact-info", reportID = "report-id", policies
    }

    public init(_ r: TLSReport) {
        organization = r.organizationName
        dateRange = DateRange(start: r.startDatetime, end: r.endDatetime)
        contactInfo = r.contactInfo
        reportID = r.reportID
        policies = r.policies.map { p in
            Policy(policy: .init(type: p.policyType, strings: p.policyStrings, domain: p.policyDomain, mx: p.mxHosts),
                   summary: .init(successful: p.successful, failed: p.failed),
                   failures: p.failures.map {
                       .init(resultType: $0.resultType, sendingMTAIP: $0.sendingMTAIP, receivingMXHostname: $0.receivingMXHostname,
                             receivingMXHelo: $0.receivingMXHelo, receivingIP: $0.receivingIP, failedSessions: $0.failedSessions,
                             additionalInformation: $0.additionalInformation, failureReasonCode: $0.failureReasonCode)
                   })
        }
    }
}
