/// Bytes → reports. Pure: no I/O, no clock reads.
public enum TLSReportParser {
    /// JSON bytes → report, or a rejection with a reason (not JSON, no `policies`, no `report-id`, ...).
    public static func parse(json: [UInt8]) -> Result<TLSReport, TLSReportRejection> {
        ReportJSON.parse(json)
    }

    /// Whatever arrived (JSON, gzip, one RFC 5322 message with an application/tlsrpt+gzip or +json part, base64
    /// or not, or an mbox of such messages) → every report found, each parsed or rejected.
    public static func extract(_ bytes: [UInt8], maxDecompressedBytes: Int = 10 << 20) -> [Result<TLSReport, TLSReportRejection>] {
        [.failure(TLSReportRejection("not implemented yet"))]
    }
}
