/// RFC 8460 §4 JSON → TLSReport.
enum ReportJSON {
    static func parse(_ bytes: [UInt8]) -> Result<TLSReport, TLSReportRejection> {
        .failure(TLSReportRejection("not implemented yet"))
    }
}
