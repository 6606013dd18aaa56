// libFuzzer harness for the TLS-RPT parser (untrusted bytes from any mail sender or HTTPS client).
//
// Compiled by scripts/fuzz.sh together with the parser's sources in Sources/MTASTSReports (pure: bytes in, no I/O)
// and Tests/ReportsTests/GzipSupport.swift (deflate through the system zlib) into one module. Every check is an
// `invariant` (a `precondition` that keeps its message in -O).
//
// The input goes through `extract` as it is, and the same bytes are fed back three other ways that must agree:
// as a JSON body (`parse`), gzip-compressed, and as the base64 report part of a mail. A small cap exercises the
// bomb check on every compressible input.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReports(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let results = TLSReportParser.extract(input)
    invariant(!results.isEmpty, "extract returned nothing")
    results.forEach(check)
    // The JSON kept with each report is text that reads back to that same report.
    let extracted = TLSReportParser.reports(in: input)
    invariant(extracted.map { $0.map(\.report) } == results, "reports(in:) and extract disagree")
    for case .success(let e) in extracted {
        invariant(TLSReportParser.parse(json: e.json) == .success(e.report), "the kept JSON reads back differently")
    }

    // What the bytes say as a report body: JSON (or gzip) read directly.
    let direct = TLSReportParser.report(in: input, max: 10 << 20).map(\.report)
    check(direct)
    if input.first == UInt8(ascii: "{") {
        invariant(results == [direct], "extract and parse disagree on a JSON body")
    }
    // The same body gzip-compressed: the same outcome, unless the body itself was gzip or too large for a cap.
    if !Gzip.isGzip(input) {
        // Once, at zlib's smallest memory level: deflate's state is ASan's most costly allocation here.
        let compressed = gzip(input, memoryLevel: 1)
        let gzipped = TLSReportParser.report(in: compressed, max: 10 << 20).map(\.report)
        invariant(gzipped == TLSReportParser.parse(json: input), "gzip changed the outcome")
        let capped = TLSReportParser.report(in: compressed, max: 64).map(\.report)
        if input.count > 64 {
            invariant(capped.failureReason?.hasPrefix("gzip: decompresses to more than 64 bytes") == true, "cap not enforced")
        } else {
            invariant(capped == gzipped, "a cap above the size changed the outcome")
        }
    }
    // The same body as the base64 application/tlsrpt+gzip part of a report mail.
    let encoded = Data(input).base64EncodedString(options: .lineLength76Characters)
    let mail = "From: r@sender.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=tlsrpt;\r\n"
        + " boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nreport\r\n--b\r\n"
        + "Content-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n\(encoded)\r\n--b--\r\n"
    invariant(TLSReportParser.extract(Array(mail.utf8)) == [direct], "the mail's part read differently")
    return 0
}

private func check(_ result: Result<TLSReport, TLSReportRejection>) {
    switch result {
    case .failure(let rejection):
        invariant(!rejection.reason.isEmpty, "rejection without a reason")
    case .success(let report):
        for policy in report.policies {
            invariant(policy.successful >= 0 && policy.failed >= 0, "negative count")
            invariant(policy.failures.allSatisfy { $0.failedSessions >= 0 }, "negative failed-session-count")
            invariant(policy.policyDomain == policy.policyDomain.lowercased() && !policy.policyDomain.hasSuffix("."),
                      "policy-domain not normalized: \(policy.policyDomain)")
        }
        invariant(Set(report.notes).count == report.notes.count, "a note twice")
    }
}

extension Result where Failure == TLSReportRejection {
    fileprivate var failureReason: String? {
        if case .failure(let r) = self { return r.reason }
        return nil
    }
}

private func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("invariant violated: \(message())") }
}
