/// What RFC 8461 §3.1 makes of the whole TXT RRset at `_mta-sts.<domain>`.
public enum RecordSelection: Sendable {
    /// Exactly one record begins with `v=STSv1;` and it is valid.
    case record(STSRecord, diagnostics: [Diagnostic])
    /// No record begins with `v=STSv1;`. Diagnostics explain records that look like STS but were discarded.
    case none(diagnostics: [Diagnostic])
    /// More than one record begins with `v=STSv1;`: there is no usable policy.
    case multiple(count: Int, diagnostics: [Diagnostic])
    /// Exactly one record begins with `v=STSv1;` but it is malformed: there is no usable policy.
    case invalid(diagnostics: [Diagnostic])

    /// The usable record, if any.
    public var record: STSRecord? {
        if case .record(let record, _) = self { return record }
        return nil
    }

    public var diagnostics: [Diagnostic] {
        switch self {
        case .record(_, let d), .none(let d), .multiple(_, let d), .invalid(let d): d
        }
    }

    /// Applies the RFC 8461 §3.1 selection rule to the records of one RRset, each already joined from its
    /// strings without spaces: discard the records that do not begin with `v=STSv1;`; if not exactly one
    /// remains, or that one is invalid, the sender must assume there is no available policy.
    public init(rrset records: [[UInt8]]) {
        let candidates = records.filter { STSRecord.isCandidate($0) }
        switch candidates.count {
        case 0:
            // Records that look like an attempt at STS get a word on why they were discarded.
            let near = records.filter { $0.prefix(5).map(ASCII.lowercased).elementsEqual("v=sts".utf8) }
            self = .none(diagnostics: near.map { rec in
                let why = RecordSelection.whyIgnored(rec)
                return Diagnostic(.recordIgnored, .warning, "the record \(ASCII.quoted(rec)) was ignored: \(why)",
                                  fix: "begin the record with exactly `v=STSv1;`")
            } + [Diagnostic(.recordNone, .error,
                            records.isEmpty ? "there is no TXT record" : "none of the \(records.count) TXT record(s) begins with `v=STSv1;`",
                            fix: "publish one TXT record `v=STSv1; id=<id>;` at `_mta-sts.<domain>`")])
        case 1:
            let result = STSRecord.parse(candidates[0])
            if let record = result.record {
                self = .record(record, diagnostics: result.diagnostics)
            } else {
                self = .invalid(diagnostics: result.diagnostics)
            }
        default:
            self = .multiple(count: candidates.count, diagnostics: [
                Diagnostic(.recordMultiple, .error,
                           "\(candidates.count) TXT records begin with `v=STSv1;`; senders treat that as no policy at all",
                           fix: "keep exactly one `v=STSv1` record and delete the others")
            ])
        }
    }

    /// Convenience for text records.
    public init(rrset records: [String]) { self.init(rrset: records.map { Array($0.utf8) }) }

    private static func whyIgnored(_ rec: [UInt8]) -> String {
        let version = Array("v=STSv1".utf8)
        if !rec.starts(with: version) { return "the version must be exactly `v=STSv1` (case-sensitive)" }
        let rest = rec.dropFirst(version.count)
        if rest.allSatisfy(ASCII.isWSP) { return "`v=STSv1` must be followed by `;` and an id" }
        return "`v=STSv1` is followed by \(ASCII.quoted(rest.prefix(8))) instead of `;`"
    }
}
