/// A POST to a report host (RFC 8460 §3, §5.3), decided on its head alone, without I/O: whether to read the body
/// or to answer at once (and close, the body unread).
public enum ReportPost {
    /// What a report POST ends in; the `outcome` label of `mtasts_host_reports_total`.
    public enum Outcome: String, Sendable, CaseIterable {
        /// 201: the report was new and is stored.
        case stored
        /// 200: the same report (organization-name, report-id) was stored before; a retried POST is a success.
        case duplicate
        /// 400: the body holds no report (the parser's reason is the answer's body).
        case rejected
        /// 411: no `Content-Length` (chunked bodies are not read).
        case lengthRequired = "length-required"
        /// 413: `Content-Length` over `reports.max_body`.
        case tooLarge = "too-large"
        /// 415: a `Content-Type` other than the two report types.
        case unsupportedType = "unsupported-type"
        /// 503: the store cannot be used now; the sender retries later (RFC 8460 §5.5).
        case storeUnavailable = "store-unavailable"

        public var status: Int {
            switch self {
            case .stored: 201
            case .duplicate: 200
            case .rejected: 400
            case .lengthRequired: 411
            case .tooLarge: 413
            case .unsupportedType: 415
            case .storeUnavailable: 503
            }
        }
    }

    public enum Decision: Equatable, Sendable {
        /// Read exactly this many body bytes, then parse and store them.
        case read(Int)
        case refuse(Outcome)
    }

    /// The report media types (RFC 8460 §6.4, §6.5). Either is read by the same parser, which tells gzip from JSON
    /// by the bytes (the body is authoritative, §5.6).
    public static let mediaTypes = ["application/tlsrpt+gzip", "application/tlsrpt+json"]

    /// The body is read only when it is framed by `Content-Length` (a chunked body → 411: one framing to get right,
    /// and a sender knows a report's size before it sends), is not larger than `maxBody` (413, decided before a byte
    /// of it is read), and is declared as a report (415).
    public static func decide(_ head: RequestHead, maxBody: Int) -> Decision {
        guard !head.transferEncoding, let length = head.contentLength else { return .refuse(.lengthRequired) }
        guard let type = head.contentType, isReportType(type) else { return .refuse(.unsupportedType) }
        guard length <= UInt64(maxBody) else { return .refuse(.tooLarge) }
        return .read(Int(length))
    }

    /// `type/subtype` compared without case, parameters (`; charset=utf-8`) ignored (RFC 9110 §8.3.1).
    public static func isReportType(_ value: String) -> Bool {
        let bare = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let type = bare.trimmingSpaces().lowercased()
        return mediaTypes.contains(type)
    }
}

private extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
