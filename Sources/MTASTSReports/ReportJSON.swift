import Foundation

/// RFC 8460 §4 JSON → TLSReport: strict about what makes it a report (an object with `organization-name`,
/// `date-range`, `report-id` and `policies`), tolerant of what real senders get wrong, each such deviation kept
/// as a note in words (docs/reports.md, "What is accepted").
enum ReportJSON {
    static let topKeys: Set = ["organization-name", "date-range", "contact-info", "report-id", "policies"]
    static let policyKeys: Set = ["policy-type", "policy-string", "policy-domain", "mx-host"]
    static let detailKeys: Set = ["result-type", "sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo",
                                  "receiving-ip", "failed-session-count", "additional-information", "failure-reason-code"]
    static let policyTypes: Set = ["sts", "tlsa", "no-policy-found"]

    static func parse(_ bytes: [UInt8]) -> Result<TLSReport, TLSReportRejection> {
        var body = bytes[...]
        var notes = Notes()
        if body.starts(with: [0xEF, 0xBB, 0xBF]) {
            body = body.dropFirst(3)
            notes.add("UTF-8 byte order mark before the JSON")
        }
        switch JSONValue.decode(Array(body)) {
        case .failure(let rejection): return .failure(rejection)
        case .success(let value): return report(value, notes: notes)
        }
    }

    static func report(_ value: JSONValue, notes initial: Notes) -> Result<TLSReport, TLSReportRejection> {
        guard case .object(let top) = value else {
            return .failure(TLSReportRejection("not a report: the JSON is \(value.kind), not an object"))
        }
        var notes = initial
        func required(_ key: String) -> Result<String, TLSReportRejection> {
            switch top[key] {
            case nil, .null?: return .failure(TLSReportRejection("not a report: no `\(key)`"))
            case .string(let s)?: return .success(s)
            case let v?:
                guard let text = v.scalarText else {
                    return .failure(TLSReportRejection("not a report: `\(key)` is \(v.kind), not a string"))
                }
                notes.add("\(key) is \(v.kind), not a string")
                return .success(text)
            }
        }
        let organization: String, reportID: String
        switch (required("organization-name"), required("report-id")) {
        case (.failure(let r), _), (_, .failure(let r)): return .failure(r)
        case (.success(let o), .success(let i)): (organization, reportID) = (o, i)
        }
        // RFC 8460 §4.4: `policies` MUST be an array, even of one policy.
        let entries: [JSONValue]
        switch top["policies"] {
        case nil, .null?: return .failure(TLSReportRejection("not a report: no `policies`"))
        case .array(let a)?: entries = a
        case .object?:
            entries = [top["policies"]!]
            notes.add("policies is one object, not an array")
        case let v?: return .failure(TLSReportRejection("not a report: `policies` is \(v.kind), not an array"))
        }
        if entries.isEmpty { notes.add("policies is empty") }
        guard case .object(let range)? = top["date-range"] else {
            return .failure(TLSReportRejection("not a report: no `date-range` object"))
        }
        let (startText, start) = datetime(range["start-datetime"], "start-datetime", &notes)
        let (endText, end) = datetime(range["end-datetime"], "end-datetime", &notes)
        if let start, let end, end <= start { notes.add("end-datetime not after start-datetime") }
        for key in range.keys.sorted() where key != "start-datetime" && key != "end-datetime" {
            notes.add("extra date-range key \(key)")
        }
        let contact = optionalString(top, "contact-info", &notes)
        if top["contact-info"] == nil { notes.add("missing contact-info") }
        for key in top.keys.sorted() where !topKeys.contains(key) { notes.add("extra key \(key)") }
        var policies: [TLSReport.Policy] = []
        for (index, entry) in entries.enumerated() {
            guard case .object(let fields) = entry else {
                notes.add("policies[\(index)] is \(entry.kind), not an object (skipped)")
                continue
            }
            policies.append(policy(fields, &notes))
        }
        return .success(TLSReport(organizationName: organization, reportID: reportID, contactInfo: contact,
                                  startDatetime: startText, endDatetime: endText, start: start, end: end,
                                  policies: policies, notes: notes.list))
    }

    static func datetime(_ value: JSONValue?, _ key: String, _ notes: inout Notes) -> (String, Int64?) {
        guard case .string(let text)? = value else {
            notes.add(value == nil ? "date-range without \(key)" : "\(key) is \(value!.kind), not a string")
            return (value?.scalarText ?? "", nil)
        }
        switch DateTime.read(text) {
        case .exact(let t): return (text, t)
        case .tolerated(let t, let why):
            notes.add(why)
            return (text, t)
        case .invalid:
            notes.add("invalid \(key) '\(text)'")
            return (text, nil)
        }
    }

    static func policy(_ entry: [String: JSONValue], _ notes: inout Notes) -> TLSReport.Policy {
        for key in entry.keys.sorted() where !["policy", "summary", "failure-details"].contains(key) {
            notes.add("extra policies[] key \(key)")
        }
        var fields: [String: JSONValue] = [:]
        if case .object(let p)? = entry["policy"] { fields = p } else { notes.add("policy object missing") }
        var type = optionalString(fields, "policy-type", &notes) ?? ""
        if fields["policy-type"] == nil { notes.add("policy-type absent") }
        if !policyTypes.contains(type) {
            notes.add("non-standard policy-type '\(type)'")
            if policyTypes.contains(type.lowercased()) { type = type.lowercased() }
        }
        let strings = stringList(fields["policy-string"], "policy-string", type, &notes)
        let hosts = stringList(fields["mx-host"], "mx-host", type, &notes)
        var domain = optionalString(fields, "policy-domain", &notes) ?? ""
        if fields["policy-domain"] == nil, type != "no-policy-found" { notes.add("policy-domain absent (\(type))") }
        let normalized = String(domain.lowercased().reversed().drop { $0 == "." }.reversed())
        if normalized != domain {
            notes.add("policy-domain not normalized (case or trailing dot)")
            domain = normalized
        }
        // RFC 8460 §4.4: policy-domain and mx-host are A-labels; a U-label is kept as written.
        if !domain.utf8.allSatisfy({ $0 < 0x80 }) { notes.add("policy-domain is not an A-label (non-ASCII)") }
        if !hosts.allSatisfy({ $0.utf8.allSatisfy { $0 < 0x80 } }) { notes.add("mx-host is not an A-label (non-ASCII)") }
        for key in fields.keys.sorted() where !policyKeys.contains(key) { notes.add("extra policy key \(key)") }
        var summary: [String: JSONValue] = [:]
        if case .object(let s)? = entry["summary"] { summary = s } else { notes.add("summary object missing") }
        let successful = count(summary["total-successful-session-count"], "total-successful-session-count", &notes)
        let failed = count(summary["total-failure-session-count"], "total-failure-session-count", &notes)
        if summary["total-successful-session-count"] == nil { notes.add("summary missing total-successful-session-count") }
        if summary["total-failure-session-count"] == nil { notes.add("summary missing total-failure-session-count") }
        var failures: [TLSReport.Failure] = []
        switch entry["failure-details"] {
        case nil, .null?: if failed > 0 { notes.add("failure-details absent despite failures") }
        case .array(let details)?:
            if details.isEmpty { notes.add("failure-details empty array") }
            for detail in details {
                guard case .object(let d) = detail else {
                    notes.add("failure detail is \(detail.kind), not an object (skipped)")
                    continue
                }
                failures.append(failure(d, &notes))
            }
        case let v?: notes.add("failure-details is \(v.kind), not an array (ignored)")
        }
        let sum = failures.reduce(0) { $0 + $1.failedSessions }
        if !failures.isEmpty, sum != failed { notes.add("failure-details sum \(sum) != total-failure-session-count \(failed)") }
        return TLSReport.Policy(policyType: type, policyDomain: domain, policyStrings: strings, mxHosts: hosts,
                                successful: successful, failed: failed, failures: failures)
    }

    static func failure(_ d: [String: JSONValue], _ notes: inout Notes) -> TLSReport.Failure {
        let type = optionalString(d, "result-type", &notes) ?? ""
        if d["result-type"] == nil { notes.add("failure detail without result-type") }
        if !TLSReport.resultTypes.contains(type) { notes.add("non-standard result-type '\(type)'") }
        // RFC 8460 §4.4 lists these three without "optional"; Microsoft and Mail.ru leave some out.
        for key in ["sending-mta-ip", "receiving-mx-hostname", "receiving-ip"] where d[key] == nil {
            notes.add("failure detail without \(key)")
        }
        if d["failed-session-count"] == nil { notes.add("failure detail without failed-session-count") }
        var info = optionalString(d, "additional-information", &notes)
        var reason = optionalString(d, "failure-reason-code", &notes)
        // Names from the drafts before RFC 8460, still emitted by some generators.
        if info == nil, let uri = optionalString(d, "additional-info-uri", &notes) {
            info = uri
            notes.add("additional-info-uri (a draft name) read as additional-information")
        }
        if reason == nil, let code = optionalString(d, "failure-error-code", &notes) {
            reason = code
            notes.add("failure-error-code (a draft name) read as failure-reason-code")
        }
        for key in d.keys.sorted() where !detailKeys.contains(key) { notes.add("extra failure-details key \(key)") }
        return TLSReport.Failure(
            resultType: type, sendingMTAIP: optionalString(d, "sending-mta-ip", &notes),
            receivingMXHostname: optionalString(d, "receiving-mx-hostname", &notes),
            receivingMXHelo: optionalString(d, "receiving-mx-helo", &notes),
            receivingIP: optionalString(d, "receiving-ip", &notes),
            failedSessions: count(d["failed-session-count"], "failed-session-count", &notes),
            additionalInformation: info, failureReasonCode: reason)
    }

    /// A string field; "" and null read as absent, other scalars as their text, each noted.
    static func optionalString(_ object: [String: JSONValue], _ key: String, _ notes: inout Notes) -> String? {
        switch object[key] {
        case nil: return nil
        case .string(let s)?:
            if s.isEmpty { notes.add("empty-string \(key)") }
            return s.isEmpty ? nil : s
        case .null?:
            notes.add("\(key) is null")
            return nil
        case let v?:
            notes.add("\(key) is \(v.kind), not a string")
            return v.scalarText
        }
    }

    /// `policy-string` / `mx-host`: an array of strings; a lone string is one element (RFC 8460 prints
    /// `mx-host` as a string, erratum 6241 and every real sender use an array).
    static func stringList(_ value: JSONValue?, _ key: String, _ type: String, _ notes: inout Notes) -> [String] {
        switch value {
        case nil:
            if type == "sts" || (type == "tlsa" && key == "policy-string") { notes.add("\(key) absent (\(type))") }
            return []
        case .null?:
            notes.add("\(key) is null")
            return []
        case .string(let s)?:
            notes.add(key == "mx-host" ? "mx-host is a string (RFC 8460 text form)" : "\(key) is a string, not an array")
            return [s]
        case .array(let items)?:
            return items.compactMap { item in
                if case .string(let s) = item { return s }
                notes.add("\(key) element is \(item.kind), not a string")
                return item.scalarText
            }
        case let v?:
            notes.add("\(key) is \(v.kind), not an array (ignored)")
            return []
        }
    }

    /// A session count: a JSON integer ≥ 0; a numeric string or a whole float is read and noted; missing is 0.
    static func count(_ value: JSONValue?, _ key: String, _ notes: inout Notes) -> Int {
        switch value {
        case nil: return 0
        case .int(let i)?:
            if i < 0 { notes.add("\(key) negative (read as 0)") }
            return i < 0 ? 0 : Int(clamping: i)
        case .string(let s)?:
            notes.add("\(key) is a string")
            guard let i = Int(s.trimmingCharacters(in: .whitespaces)), i >= 0 else {
                notes.add("\(key) '\(s)' is not a count (read as 0)")
                return 0
            }
            return i
        case .double(let d)? where d >= 0 && d < 1e15:
            notes.add("\(key) is a fractional number (truncated)")
            return Int(d)
        case let v?:
            notes.add("\(key) is \(v.kind), not a count (read as 0)")
            return 0
        }
    }
}

/// Notes in first-seen order, each once (the same deviation in every policy is one note).
struct Notes {
    private(set) var list: [String] = []
    private var seen: Set<String> = []
    mutating func add(_ note: String) {
        if seen.insert(note).inserted { list.append(note) }
    }
}
