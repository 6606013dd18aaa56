/// The dashboard's HTML page: server-rendered, one document, no script, nothing fetched (the stylesheet is inline
/// and allowed by its hash in the Content-Security-Policy, the charts are inline SVG). Every string that comes from
/// a report (organization-name, report-id, domains, result types, MX names, additional information) is chosen by
/// whoever sent the report, so it goes through ``DashboardPage/escape(_:)`` and into text or a quoted attribute only.
public enum DashboardPage {
    /// The newest failing reports shown.
    public static let failingLimit = 20

    /// The page for `dashboard`.
    public static func html(_ d: Dashboard) -> String {
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>TLS-RPT dashboard\(d.domain.map { " – " + escape($0) } ?? "")</title>
            <style>\(stylesheet)</style>
            </head><body>

            """
        out += header(d)
        out += "<main>\n"
        let s = d.summary
        let window = "\(CivilDate.string(d.since)) to \(CivilDate.string(d.now)) (UTC)"
        out += "<p class=\"meta\">\(number(s.reports)) \(s.reports == 1 ? "report" : "reports"), "
            + "\(number(s.rejected)) rejected \(s.rejected == 1 ? "input" : "inputs") · reports whose period starts \(window)"
            + " · generated \(CivilDate.minute(d.now)) UTC</p>\n"
        if s.domains.isEmpty {
            out += "<p class=\"empty\" id=\"no-reports\">No reports in this period. Import some with "
                + "<code>mta-sts reports import</code> (docs/reports.md).</p>\n</main></body></html>\n"
            return out
        }
        out += cards(d)
        out += "<section class=\"panel\" id=\"daily\"><h2>Daily sessions per domain</h2>\n"
        out += "<p class=\"legend\"><span class=\"key s\"></span> successful <span class=\"key f\"></span> failed "
            + "(by the day each report's period starts)</p>\n"
        for (i, domain) in s.domains.enumerated() {
            out += "<h3>\(escape(label(domain.domain)))</h3>\n"
            out += DashboardCharts.daily(d.daily.filter { $0.domain == domain.domain }, days: d.days(), domain: label(domain.domain),
                                         id: i)
        }
        out += "</section>\n<div class=\"grid2\">\n"
        out += resultTypes(d)
        out += senders(d)
        out += "</div>\n"
        out += mx(d)
        out += failing(d)
        out += "</main></body></html>\n"
        return out
    }

    static func header(_ d: Dashboard) -> String {
        var out = "<header><h1>TLS-RPT dashboard <span>mta-sts · RFC 8460 reports</span></h1>\n"
        out += "<form method=\"get\" action=\"/\"><label for=\"domain\">domain</label> <select id=\"domain\" name=\"domain\">"
        out += "<option value=\"\">all domains</option>"
        for name in d.allDomains where !name.isEmpty {
            out += "<option value=\"\(escape(name))\"\(name == d.domain ? " selected" : "")>\(escape(name))</option>"
        }
        out += "</select> <label for=\"since\">since</label> <input id=\"since\" name=\"since\" type=\"date\" "
            + "value=\"\(CivilDate.string(d.since))\"> <button type=\"submit\">Show</button></form></header>\n"
        return out
    }

    static func cards(_ d: Dashboard) -> String {
        var out = "<section class=\"cards\" id=\"domains\">\n"
        for domain in d.summary.domains {
            let rate = domain.failureRate
            let tone = domain.sessions.failed == 0 ? "good" : rate >= 0.05 ? "bad" : "warn"
            out += "<div class=\"card \(tone)\" data-domain=\"\(escape(domain.domain))\">"
                + "<h3><a href=\"?domain=\(queryEscape(domain.domain))&amp;since=\(CivilDate.string(d.since))\">"
                + "\(escape(label(domain.domain)))</a></h3>"
                + "<div class=\"rate\">\(percent(rate)) <small>failed</small></div>"
                + "<div><span class=\"ok\"><b class=\"successful\">\(number(domain.sessions.successful))</b> successful</span> · "
                + "<span class=\"fail\"><b class=\"failed\">\(number(domain.sessions.failed))</b> failed</span></div>"
                + "<div class=\"muted\">\(domain.organizations.count) \(domain.organizations.count == 1 ? "sender" : "senders")</div>"
                + "</div>\n"
        }
        return out + "</section>\n"
    }

    static func resultTypes(_ d: Dashboard) -> String {
        let rows = d.failuresByResultType
        var out = "<section class=\"panel\" id=\"result-types\"><h2>Failures by result type</h2>\n"
        guard let top = rows.first?.sessions else { return out + "<p class=\"empty\">No failed sessions.</p></section>\n" }
        out += "<table><thead><tr><th>result type</th><th class=\"n\">failed sessions</th><th></th></tr></thead><tbody>\n"
        for (type, n) in rows {
            let e = TLSReport.explain(resultType: type)
            out += "<tr><td><code>\(escape(type))</code></td><td class=\"n\">\(number(n))</td>"
                + "<td class=\"barcell\">\(DashboardCharts.bar(n, of: top, title: "\(type): \(n) failed sessions"))</td></tr>\n"
                + "<tr class=\"sub\"><td colspan=\"3\" class=\"explain\"><b>Cause:</b> \(escape(e.cause))<br>"
                + "<b>Fix:</b> \(escape(e.fix))</td></tr>\n"
        }
        return out + "</tbody></table></section>\n"
    }

    static func senders(_ d: Dashboard) -> String {
        let rows = d.sessionsBySender
        var out = "<section class=\"panel\" id=\"senders\"><h2>Sessions by sender</h2>\n"
        out += "<table><thead><tr><th>organization</th><th class=\"n\">successful</th><th class=\"n\">failed</th>"
            + "<th class=\"n\">failed %</th><th></th></tr></thead><tbody>\n"
        let top = max(1, rows.map(\.sessions.failed).max() ?? 1)
        for (org, s) in rows {
            let total = s.successful + s.failed
            out += "<tr><td>\(escape(org))</td><td class=\"n\">\(number(s.successful))</td>"
                + "<td class=\"n fail\">\(number(s.failed))</td>"
                + "<td class=\"n\">\(percent(total == 0 ? 0 : Double(s.failed) / Double(total)))</td>"
                + "<td class=\"barcell\">\(s.failed == 0 ? "" : DashboardCharts.bar(s.failed, of: top, title: "\(org): \(s.failed) failed sessions"))</td></tr>\n"
        }
        return out + "</tbody></table></section>\n"
    }

    static func mx(_ d: Dashboard) -> String {
        let rows = d.failuresByMX
        guard let top = rows.first?.sessions else { return "" }
        var out = "<section class=\"panel\" id=\"mx\"><h2>Failures by receiving MX</h2>\n"
        out += "<table><thead><tr><th>MX (hostname, else IP)</th><th class=\"n\">failed sessions</th><th></th></tr></thead><tbody>\n"
        for (mx, n) in rows {
            out += "<tr><td><code>\(escape(mx))</code></td><td class=\"n\">\(number(n))</td>"
                + "<td class=\"barcell\">\(DashboardCharts.bar(n, of: top, title: "\(mx): \(n) failed sessions"))</td></tr>\n"
        }
        return out + "</tbody></table></section>\n"
    }

    static func failing(_ d: Dashboard) -> String {
        var out = "<section class=\"panel\" id=\"failing\"><h2>Newest failing reports</h2>\n"
        guard !d.failing.isEmpty else { return out + "<p class=\"empty\">No report with failed sessions.</p></section>\n" }
        out += "<table><thead><tr><th>period</th><th>sender</th><th>report-id</th><th>domain</th><th>result type</th>"
            + "<th>receiving MX</th><th>sending MTA</th><th class=\"n\">sessions</th></tr></thead><tbody>\n"
        for r in d.failing {
            let head = "<td class=\"nowrap\">\(escape(r.info.startDatetime))</td><td>\(escape(r.info.organizationName))</td>"
                + "<td><code>\(escape(r.info.reportID))</code></td>"
            guard !r.failures.isEmpty else {
                out += "<tr>\(head)<td>\(escape(r.info.domains.map(label).joined(separator: ", ")))</td>"
                    + "<td colspan=\"3\" class=\"muted\">no failure details</td><td class=\"n fail\">\(number(r.info.failed))</td></tr>\n"
                continue
            }
            for f in r.failures {
                let e = TLSReport.explain(resultType: f.resultType)
                var detail = "<b>Cause:</b> \(escape(e.cause)) <b>Fix:</b> \(escape(e.fix))"
                if let code = f.failureReasonCode { detail += "<br><b>Reason code:</b> <code>\(escape(code))</code>" }
                if let info = f.additionalInformation { detail += "<br><b>Additional information:</b> \(escape(info))" }
                out += "<tr>\(head)<td>\(escape(label(f.domain)))</td><td class=\"nowrap\"><code>\(escape(f.resultType))</code></td>"
                    + "<td>\(escape(f.receivingMX ?? ReportSummary.unnamedMX))</td><td>\(escape(f.sendingMTAIP ?? "–"))</td>"
                    + "<td class=\"n fail\">\(number(f.sessions))</td></tr>\n"
                    + "<tr class=\"sub\"><td></td><td colspan=\"7\" class=\"explain\">\(detail)</td></tr>\n"
            }
        }
        return out + "</tbody></table></section>\n"
    }

    /// The name shown for a policy domain; `""` is a policy that names none.
    static func label(_ domain: String) -> String { domain.isEmpty ? "(no policy-domain)" : domain }

    /// Text for HTML content and quoted attribute values: the five markup characters as references, C0 controls
    /// (other than tab and line feed) and DEL as U+FFFD, which HTML does not allow as characters.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A query value: every byte but the unreserved ones percent-encoded (RFC 3986 §2.3).
    static func queryEscape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%"
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 15)])
            }
        }
        return out
    }

    /// 1234567 → `1,234,567`.
    static func number(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// 0.03 → `3.00%` (as `reports summary` prints it).
    static func percent(_ rate: Double) -> String {
        let hundredths = Int((rate * 10000).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)%"
    }
}
