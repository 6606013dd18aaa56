/// The dashboard's `/metrics`: what the whole store holds, in the Prometheus text exposition (format 0.0.4) and the
/// naming of the policy host's and the resolver's metrics (`mtasts_` prefix, `_total` counters, HELP and TYPE lines).
/// The numbers grow as reports arrive; deleting old reports (`import --keep-days`) lowers them, which Prometheus
/// reads as a counter reset.
public enum DashboardMetrics {
    /// `summary` of every stored report (no window, no domain filter).
    public static func exposition(_ summary: ReportSummary) -> String {
        var out = """
            # HELP mtasts_tlsrpt_reports_total TLS reports stored (distinct organization-name and report-id).
            # TYPE mtasts_tlsrpt_reports_total counter
            mtasts_tlsrpt_reports_total \(summary.reports)
            # HELP mtasts_tlsrpt_rejected_inputs_total Inputs that held no usable TLS report (distinct by content).
            # TYPE mtasts_tlsrpt_rejected_inputs_total counter
            mtasts_tlsrpt_rejected_inputs_total \(summary.rejected)
            # HELP mtasts_tlsrpt_sessions_total TLS sessions the stored reports count, by policy domain and result.
            # TYPE mtasts_tlsrpt_sessions_total counter

            """
        for d in summary.domains {
            let domain = label(d.domain)
            out += "mtasts_tlsrpt_sessions_total{domain=\"\(domain)\",result=\"successful\"} \(d.sessions.successful)\n"
            out += "mtasts_tlsrpt_sessions_total{domain=\"\(domain)\",result=\"failed\"} \(d.sessions.failed)\n"
        }
        out += """
            # HELP mtasts_tlsrpt_failed_sessions_total Failed TLS sessions by policy domain and result type (RFC 8460 section 4.3).
            # TYPE mtasts_tlsrpt_failed_sessions_total counter

            """
        for d in summary.domains {
            for (type, n) in d.resultTypes.sorted(by: { $0.key < $1.key }) {
                out += "mtasts_tlsrpt_failed_sessions_total{domain=\"\(label(d.domain))\",result_type=\"\(label(type))\"} \(n)\n"
            }
        }
        return out
    }

    /// A label value: backslash, double quote and line feed escaped as the exposition format requires (the domains
    /// and result types come from reports, which anyone can send).
    static func label(_ value: String) -> String {
        var out = ""
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
