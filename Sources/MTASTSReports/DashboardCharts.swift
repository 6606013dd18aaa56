/// The dashboard's inline SVG charts: plain rectangles and text, each chart with a `<title>` (its accessible name,
/// `role="img"`) and each bar with a `<title>` (its tooltip). Coloured by the page's stylesheet classes (`s`:
/// successful, `f`: failed), so the Content-Security-Policy needs no inline style attribute.
enum DashboardCharts {
    /// Stacked daily bars (successful below, failed on top) over `days`, and, when anything failed, a strip of the
    /// failed sessions on their own scale (a few failures among thousands of sessions are invisible in the stack).
    static func daily(_ series: [DailySessions], days: [Int64], domain: String, id: Int) -> String {
        let byDay = Dictionary(series.map { ($0.day, $0) }, uniquingKeysWith: { a, b in
            DailySessions(day: a.day, domain: a.domain, successful: a.successful + b.successful, failed: a.failed + b.failed)
        })
        let (width, height, left, bottom, top) = (1000.0, 150.0, 56.0, 20.0, 8.0)
        let plot = (width: width - left - 8, height: height - bottom - top)
        let peak = niceCeiling(days.map { (byDay[$0]?.successful ?? 0) + (byDay[$0]?.failed ?? 0) }.max() ?? 0)
        let slot = plot.width / Double(max(days.count, 1))
        let barWidth = max(1, slot * 0.78)
        let failed = series.reduce(0) { $0 + $1.failed }, successful = series.reduce(0) { $0 + $1.successful }
        var out = "<svg class=\"chart\" id=\"daily-\(id)\" role=\"img\" aria-labelledby=\"daily-\(id)-title\" "
            + "viewBox=\"0 0 \(fmt(width)) \(fmt(height))\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\">"
            + "<title id=\"daily-\(id)-title\">\(DashboardPage.escape("Daily sessions of \(domain): \(successful) successful, \(failed) failed"))</title>\n"
        // Grid lines and the y axis's numbers: 0, half, the peak.
        for fraction in [0.0, 0.5, 1.0] {
            let y = top + plot.height * (1 - fraction)
            out += "<line class=\"grid\" x1=\"\(fmt(left))\" x2=\"\(fmt(width - 8))\" y1=\"\(fmt(y))\" y2=\"\(fmt(y))\"/>"
                + "<text class=\"lbl\" x=\"\(fmt(left - 6))\" y=\"\(fmt(y + 4))\" text-anchor=\"end\">"
                + "\(DashboardPage.number(Int(Double(peak) * fraction)))</text>\n"
        }
        for (i, day) in days.enumerated() {
            let x = left + Double(i) * slot + (slot - barWidth) / 2
            guard let d = byDay[day], d.successful + d.failed > 0 else { continue }
            let hs = plot.height * Double(d.successful) / Double(peak), hf = plot.height * Double(d.failed) / Double(peak)
            let total = d.successful + d.failed
            let tip = "\(CivilDate.string(day)): \(d.successful) successful, \(d.failed) failed "
                + "(\(DashboardPage.percent(Double(d.failed) / Double(total))))"
            out += "<g class=\"day\" data-day=\"\(CivilDate.string(day))\"><title>\(DashboardPage.escape(tip))</title>"
                + "<rect class=\"s\" x=\"\(fmt(x))\" y=\"\(fmt(top + plot.height - hs))\" width=\"\(fmt(barWidth))\" height=\"\(fmt(hs))\"/>"
            if d.failed > 0 {
                // At least a pixel: one failed session in a million must still show.
                let h = max(hf, 1.5)
                out += "<rect class=\"f\" x=\"\(fmt(x))\" y=\"\(fmt(top + plot.height - hs - h))\" width=\"\(fmt(barWidth))\" height=\"\(fmt(h))\"/>"
            }
            out += "</g>\n"
        }
        out += dateLabels(days, left: left, slot: slot, y: height - 5)
        out += "</svg>\n"
        if failed > 0 { out += failedStrip(byDay, days: days, domain: domain, id: id) }
        return out
    }

    /// The failed sessions per day on their own scale.
    static func failedStrip(_ byDay: [Int64: DailySessions], days: [Int64], domain: String, id: Int) -> String {
        let (width, height, left, top) = (1000.0, 54.0, 56.0, 4.0)
        let plotHeight = height - top - 4
        let peak = niceCeiling(days.map { byDay[$0]?.failed ?? 0 }.max() ?? 0)
        let slot = (width - left - 8) / Double(max(days.count, 1))
        let barWidth = max(1, slot * 0.78)
        var out = "<svg class=\"chart strip\" role=\"img\" aria-labelledby=\"failed-\(id)-title\" "
            + "viewBox=\"0 0 \(fmt(width)) \(fmt(height))\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\">"
            + "<title id=\"failed-\(id)-title\">\(DashboardPage.escape("Failed sessions per day of \(domain), own scale up to \(peak)"))</title>\n"
            + "<line class=\"grid\" x1=\"\(fmt(left))\" x2=\"\(fmt(width - 8))\" y1=\"\(fmt(top + plotHeight))\" y2=\"\(fmt(top + plotHeight))\"/>"
            + "<text class=\"lbl f-lbl\" x=\"\(fmt(left - 6))\" y=\"\(fmt(top + 10))\" text-anchor=\"end\">\(DashboardPage.number(peak))</text>"
            + "<text class=\"lbl f-lbl\" x=\"\(fmt(left - 6))\" y=\"\(fmt(top + plotHeight))\" text-anchor=\"end\">failed</text>\n"
        for (i, day) in days.enumerated() {
            guard let d = byDay[day], d.failed > 0 else { continue }
            let h = max(1.5, plotHeight * Double(d.failed) / Double(peak))
            let x = left + Double(i) * slot + (slot - barWidth) / 2
            out += "<rect class=\"f\" x=\"\(fmt(x))\" y=\"\(fmt(top + plotHeight - h))\" width=\"\(fmt(barWidth))\" height=\"\(fmt(h))\">"
                + "<title>\(CivilDate.string(day)): \(d.failed) failed</title></rect>\n"
        }
        return out + "</svg>\n"
    }

    /// At most about eight dates under the bars, the last day always.
    static func dateLabels(_ days: [Int64], left: Double, slot: Double, y: Double) -> String {
        guard !days.isEmpty else { return "" }
        let step = max(1, Int((Double(days.count) / 8).rounded(.up)))
        var out = ""
        for i in stride(from: days.count - 1, through: 0, by: -step) {
            let x = left + (Double(i) + 0.5) * slot
            out += "<text class=\"lbl\" x=\"\(fmt(x))\" y=\"\(fmt(y))\" text-anchor=\"middle\">\(CivilDate.string(days[i]).dropFirst(5))</text>"
        }
        return out + "\n"
    }

    /// A horizontal bar of `value` out of `of`, for a table cell.
    static func bar(_ value: Int, of top: Int, title: String) -> String {
        let w = top <= 0 ? 0 : max(0.5, 100 * Double(value) / Double(top))
        return "<svg class=\"hbar\" viewBox=\"0 0 100 10\" width=\"160\" height=\"12\" preserveAspectRatio=\"none\" role=\"img\">"
            + "<title>\(DashboardPage.escape(title))</title><rect class=\"track\" width=\"100\" height=\"10\"/>"
            + "<rect class=\"f\" width=\"\(fmt(w))\" height=\"10\"/></svg>"
    }

    /// The smallest 1, 2, 3, 4, 5, 6 or 8 × 10ⁿ at or above `n` (at least 1): a round top for the y axis whose half
    /// is round too, and no more than a third of the chart left empty.
    static func niceCeiling(_ n: Int) -> Int {
        guard n > 1 else { return 1 }
        var magnitude = 1
        while magnitude * 10 <= n { magnitude *= 10 }
        for m in [1, 2, 3, 4, 5, 6, 8, 10] where m * magnitude >= n { return m * magnitude }
        return 10 * magnitude
    }

    /// A coordinate with at most one decimal.
    static func fmt(_ v: Double) -> String {
        let tenths = Int((v * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(abs(tenths % 10))"
    }
}

extension DashboardPage {
    /// The page's only style: allowed by its hash in the Content-Security-Policy (no `unsafe-inline`).
    public static let stylesheet = """
        body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:#f3f4f6;color:#1f2933}\
        header{background:#1f2933;color:#fff;padding:12px 24px;display:flex;flex-wrap:wrap;align-items:center;gap:12px}\
        header h1{font-size:19px;margin:0;font-weight:600;flex:1}header h1 span{font-size:13px;font-weight:400;color:#9aa5b1;margin-left:8px}\
        header form{display:flex;gap:6px;align-items:center;flex-wrap:wrap}header label{font-size:12px;color:#cbd2d9}\
        header select,header input,header button{font:inherit;padding:3px 8px;border-radius:4px;border:1px solid #52606d}\
        header button{background:#2563eb;color:#fff;border-color:#2563eb}\
        main{padding:16px 24px;max-width:1400px;margin:0 auto}.meta,.muted,.legend{color:#616e7c}.meta{margin:0 0 14px}\
        .cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px;margin-bottom:18px}\
        .card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.1);border-left:5px solid #2f855a}\
        .card.warn{border-left-color:#d97706}.card.bad{border-left-color:#c53030}\
        .card h3{margin:0 0 4px;font-size:15px;overflow-wrap:anywhere}.card a{color:inherit;text-decoration:none}\
        .card .rate{font-size:24px;font-weight:650}.card .rate small{font-size:13px;font-weight:400;color:#616e7c}\
        .card.good .rate{color:#2f855a}.card.warn .rate{color:#b45309}.card.bad .rate{color:#c53030}\
        .ok{color:#2f855a}.fail{color:#c53030}\
        .panel{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.1);margin-bottom:18px;overflow-x:auto}\
        .panel h2{font-size:16px;margin:0 0 8px}.panel h3{font-size:14px;margin:14px 0 2px;overflow-wrap:anywhere}\
        .grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px}@media(max-width:1000px){.grid2{grid-template-columns:1fr}}\
        table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}\
        th{font-size:12px;color:#616e7c;font-weight:600}td{overflow-wrap:anywhere}.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
        tr.sub td{border-bottom:1px solid #d2d6dc;padding-top:0}tbody tr:not(.sub):has(+tr.sub) td{border-bottom:0}\
        .explain{color:#52606d;font-size:12.5px}.nowrap{white-space:nowrap}.barcell{width:170px}.empty{color:#616e7c;font-style:italic}\
        code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}\
        .key{display:inline-block;width:11px;height:11px;border-radius:2px;vertical-align:-1px;margin-left:6px}\
        .key.s{background:#68b984}.key.f{background:#d64545}\
        svg .s{fill:#68b984}svg .f{fill:#d64545}svg .track{fill:#eef0f2}svg .grid{stroke:#e4e7eb;stroke-width:1}\
        svg .lbl{fill:#7b8794;font-size:11px}svg .f-lbl{fill:#c53030}svg g.day:hover rect{opacity:.75}\
        .chart{display:block;max-height:170px}.chart.strip{max-height:60px;margin-bottom:6px}
        """
}
