/// Bytes → reports. Pure: no I/O, no clock reads; the caller reads the file, the mail or the POST body.
public enum TLSReportParser {
    /// JSON bytes → report, or a rejection with a reason (not JSON, no `policies`, no `report-id`, ...).
    public static func parse(json: [UInt8]) -> Result<TLSReport, TLSReportRejection> {
        ReportJSON.parse(json)
    }

    /// Whatever arrived (JSON, gzip, one RFC 5322 message with an application/tlsrpt+gzip or +json part, base64
    /// or not, or an mbox of such messages) → every report found, each parsed or rejected.
    ///
    /// The form is told by the bytes, never by a file name or a declared type (RFC 8460 §5.6: the body is
    /// authoritative): gzip magic, a JSON value, an mbox `From ` line, or a header block.
    public static func extract(_ bytes: [UInt8], maxDecompressedBytes: Int = 10 << 20) -> [Result<TLSReport, TLSReportRejection>] {
        reports(in: bytes, maxDecompressedBytes: maxDecompressedBytes).map { $0.map(\.report) }
    }

    /// As ``extract(_:maxDecompressedBytes:)``, each report with the JSON text it was read from (decompressed and
    /// transfer-decoded): what a store keeps, as it came.
    public static func reports(in bytes: [UInt8], maxDecompressedBytes: Int = 10 << 20) -> [Result<ExtractedReport, TLSReportRejection>] {
        let start = bytes.firstIndex { ![0x20, 0x09, 0x0D, 0x0A].contains($0) } ?? bytes.endIndex
        let body = bytes[start...]
        if start == bytes.endIndex { return [.failure(TLSReportRejection("empty input"))] }
        if Gzip.isGzip(body) || body.first == 0x7B || body.first == 0x5B || body.starts(with: [0xEF, 0xBB, 0xBF]) {
            return [report(in: Array(body), max: maxDecompressedBytes)]
        }
        if body.starts(with: Array("From ".utf8)) {
            let messages = mbox(body)
            if messages.isEmpty { return [.failure(TLSReportRejection("an mbox without a message"))] }
            return messages.flatMap { message($0, max: maxDecompressedBytes) }
        }
        if MIME.looksLikeMessage(body) { return message(body, max: maxDecompressedBytes) }
        let head = String(decoding: body.prefix(24).map { (0x20...0x7E).contains($0) ? $0 : 0x2E }, as: UTF8.self)
        return [.failure(TLSReportRejection("not JSON, gzip or a mail message (it starts with \"\(head)\")"))]
    }

    /// One report body as sent: gzip (capped) or JSON, whatever the part's type said.
    static func report(in bytes: [UInt8], max: Int) -> Result<ExtractedReport, TLSReportRejection> {
        let json: [UInt8]
        if Gzip.isGzip(bytes) {
            switch Gzip.inflate(bytes, maxOutput: max) {
            case .success(let inflated): json = inflated
            case .failure(let rejection): return .failure(rejection)
            }
        } else {
            json = bytes
        }
        return parse(json: json).map { ExtractedReport(report: $0, json: json) }
    }

    static func message(_ bytes: ArraySlice<UInt8>, max: Int) -> [Result<ExtractedReport, TLSReportRejection>] {
        let (found, seen) = MIME.reportParts(of: bytes)
        guard !found.isEmpty else {
            var types: [String] = []
            for type in seen where !types.contains(type) { types.append(type) }
            let listed = types.prefix(8).joined(separator: ", ") + (types.count > 8 ? ", ..." : "")
            return [.failure(TLSReportRejection("no application/tlsrpt part (the message has \(listed))"))]
        }
        return found.map { report(in: $0, max: max) }
    }

    /// An mbox (RFC 4155): messages start at a `From ` line at the start of the file or after an empty line.
    static func mbox(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        var messages: [ArraySlice<UInt8>] = []
        var current: Int? = nil
        var i = bytes.startIndex, previousEmpty = true
        let from = Array("From ".utf8)
        while i < bytes.endIndex {
            let end = bytes[i...].firstIndex(of: 0x0A) ?? bytes.endIndex
            let line = MIME.trimCR(bytes[i..<end])
            let next = end < bytes.endIndex ? end + 1 : end
            if previousEmpty, line.starts(with: from) {
                if let c = current { messages.append(bytes[c..<i]) }
                current = next
            }
            previousEmpty = line.isEmpty
            i = next
        }
        if let c = current { messages.append(bytes[c...]) }
        return messages.filter { !$0.allSatisfy { [0x20, 0x09, 0x0D, 0x0A].contains($0) } }
    }
}

/// A report and the JSON text it was read from.
public struct ExtractedReport: Sendable, Hashable {
    public let report: TLSReport
    public let json: [UInt8]
}
