import Foundation
import MTASTSCore
import MTASTSReports

/// `reports summary --json`: the contract of docs/reports.md (keys may be added, never renamed).
struct SummaryJSON: Encodable {
    struct Sessions: Encodable {
        let successful: Int
        let failed: Int
    }

    struct MX: Encodable {
        let failed: Int
    }

    struct Domain: Encodable {
        let domain: String
        let successful: Int
        let failed: Int
        let failure_rate: Double
        let result_types: [String: Int]
        let organizations: [String: Sessions]
        let mx: [String: MX]
        /// `--check`: the re-check now (absent without it).
        var check: SummaryCheck.JSON?
    }

    let reports: Int
    let rejected: Int
    let domains: [Domain]

    init(_ s: ReportSummary, checks: [String: SummaryCheck.Domain] = [:]) {
        reports = s.reports
        rejected = s.rejected
        domains = s.domains.map { d in
            Domain(domain: d.domain, successful: d.sessions.successful, failed: d.sessions.failed, failure_rate: d.failureRate,
                   result_types: d.resultTypes,
                   organizations: d.organizations.mapValues { Sessions(successful: $0.successful, failed: $0.failed) },
                   mx: d.mx.mapValues { MX(failed: $0) }, check: checks[d.domain].map(SummaryCheck.JSON.init))
        }
    }
}

/// A stored report in `reports list --json` (one per line) and `reports show --json` (with `report` and
/// `explanations`).
struct StoredReportJSON: Encodable {
    struct Explanation: Encodable {
        let cause: String
        let fix: String
    }

    let organization_name: String
    let report_id: String
    let start_datetime: String
    let end_datetime: String
    let received_at: String
    let domains: [String]
    let successful: Int
    let failed: Int
    /// `show`: the report as the parser reads it now, in RFC 8460's form.
    var report: ReportJSONForm?
    /// `show`: the deviations from RFC 8460 that the parser tolerated.
    var notes: [String]?
    /// `show`: a cause and a fix per result type of the report's failures.
    var explanations: [String: Explanation]?

    init(_ info: StoredReportInfo, report: TLSReport?) {
        organization_name = info.organizationName
        report_id = info.reportID
        start_datetime = info.startDatetime
        end_datetime = info.endDatetime
        received_at = CacheCommand.iso(Double(info.receivedAt))
        domains = info.domains
        successful = info.successful
        failed = info.failed
        guard let report else { return }
        self.report = ReportJSONForm(report)
        notes = report.notes
        let types = Set(report.policies.flatMap { $0.failures.map(\.resultType) })
        explanations = Dictionary(uniqueKeysWithValues: types.map { t in
            let e = TLSReport.explain(resultType: t)
            return (t, Explanation(cause: e.cause, fix: e.fix))
        })
    }
}

/// `reports summary` as text: per domain the sessions, then each failing result type with its cause and fix.
enum SummaryText {
    static func render(_ s: ReportSummary, failAbove: Double?, checks: [String: SummaryCheck.Domain] = [:]) -> String {
        // Reports are third parties' text: every value from one is escaped (TerminalText).
        var out: [TerminalText] = ["\(s.reports) report\(s.reports == 1 ? "" : "s"), \(s.rejected) rejected input\(s.rejected == 1 ? "" : "s")"]
        if s.domains.isEmpty { out.append("no sessions reported") }
        for d in s.domains {
            let over = failAbove.map { d.failureRate > $0 ? "  ABOVE \(percent($0))" : "" } ?? ""
            out.append("")
            out.append("\(d.domain.isEmpty ? "(no policy-domain)" : d.domain): \(d.sessions.successful) successful, "
                       + "\(d.sessions.failed) failed (\(percent(d.failureRate)))\(over)")
            for (org, n) in d.organizations.sorted(by: { $0.key < $1.key }) {
                out.append("  from \(org): \(n.successful) successful, \(n.failed) failed")
            }
            for (mx, n) in d.mx.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
                out.append("  MX \(mx): \(n) failed")
            }
            for (type, n) in d.resultTypes.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
                let e = TLSReport.explain(resultType: type)
                out += ["  \(type): \(n) failed session\(n == 1 ? "" : "s")", "    cause: \(e.cause)", "    fix: \(e.fix)"]
                if let outcome = checks[d.domain]?.results[type] { out.append("    \(SummaryCheck.line(outcome))") }
            }
        }
        return out.map(\.description).joined(separator: "\n")
    }

    static func percent(_ rate: Double) -> String { String(format: "%.2f%%", rate * 100) }
}

/// `reports show` as text.
enum ReportText {
    static func render(_ info: StoredReportInfo, report: TLSReport?) -> String {
        var out: [TerminalText] = ["report-id: \(info.reportID)", "organization: \(info.organizationName)",
                   "period: \(info.startDatetime) to \(info.endDatetime)", "received: \(CacheCommand.iso(Double(info.receivedAt)))",
                   "sessions: \(info.successful) successful, \(info.failed) failed"]
        guard let report else { return (out + ["(the stored JSON cannot be read by this version)"]).map(\.description).joined(separator: "\n") }
        if let contact = report.contactInfo { out.insert("contact: \(contact)", at: 2) }
        for p in report.policies {
            out.append("policy \(p.policyType) \(p.policyDomain.isEmpty ? "(no policy-domain)" : p.policyDomain): "
                       + "\(p.successful) successful, \(p.failed) failed")
            if !p.mxHosts.isEmpty { out.append("  mx: \(p.mxHosts.joined(separator: ", "))") }
            for f in p.failures {
                let place = [f.receivingMX.map { "MX \($0)" }, f.sendingMTAIP.map { "from \($0)" }].compactMap { $0 }.joined(separator: ", ")
                out.append("  \(f.resultType): \(f.failedSessions) failed\(place.isEmpty ? "" : ", ")\(place)")
                if let info = f.additionalInformation { out.append("    additional-information: \(info)") }
                if let code = f.failureReasonCode { out.append("    failure-reason-code: \(code)") }
                let e = TLSReport.explain(resultType: f.resultType)
                out += ["    cause: \(e.cause)", "    fix: \(e.fix)"]
            }
        }
        out += report.notes.map { "note: \($0)" }
        return out.map(\.description).joined(separator: "\n")
    }
}
