import Crypto
import Foundation
import MTASTSReports

/// The one way an input that arrived (a file, a mail on standard input, an HTTPS POST body) goes into a report store,
/// shared by `reports import` and `serve`'s report hosts: every report of the input is stored, or, when one of them
/// is rejected, none, and the input is counted once as rejected.
public enum ReportIngest {
    public enum Outcome: Sendable {
        /// Every report of the input, each inserted or a duplicate (the same organization-name and report-id before).
        case stored([(report: TLSReport, outcome: ReportSaveOutcome)])
        /// Nothing stored; the reason (the parser's words, one per rejected report when there were several).
        case rejected(String)
    }

    /// Stores what `TLSReportParser.reports(in:)` found in `input`; `source` names it in the rejection record. Throws
    /// when the store fails (the caller retries later; nothing was half stored: each report is one transaction).
    public static func store(_ results: [Result<ExtractedReport, TLSReportRejection>], input: [UInt8], source: String,
                             into store: any ReportStore, now: Int64) async throws -> Outcome {
        if let reason = rejection(results) {
            try await recordRejection(reason, input: input, source: source, into: store, now: now)
            return .rejected(reason)
        }
        let batch = toSave(results, now: now)
        return .stored(zip(batch, try await store.save(batch: batch)).map { ($0.report, $1) })
    }

    /// The reports of an input that ``rejection(_:)`` accepts, each with the JSON it was read from, kept as it came
    /// (`reports import` saves the reports of many files in one batch).
    public static func toSave(_ results: [Result<ExtractedReport, TLSReportRejection>], now: Int64) -> [ReportToSave] {
        results.compactMap { result in
            guard case .success(let extracted) = result else { return nil }
            return ReportToSave(report: extracted.report, json: extracted.json, receivedAt: now)
        }
    }

    /// Why nothing of the input is stored (nil: every result is a report).
    public static func rejection<T>(_ results: [Result<T, TLSReportRejection>]) -> String? {
        let reasons = results.enumerated().compactMap { i, r -> String? in
            guard case .failure(let rejection) = r else { return nil }
            return results.count == 1 ? rejection.reason : "report \(i + 1) of \(results.count): \(rejection.reason)"
        }
        if results.isEmpty { return "no TLS report found" }
        return reasons.isEmpty ? nil : reasons.joined(separator: "; ")
    }

    /// Counts the input as rejected, once per distinct input (a SHA-256 of its bytes: an MTA that retries it, or a
    /// sender that posts it again, does not count it twice).
    public static func recordRejection(_ reason: String, input: [UInt8], source: String, into store: any ReportStore,
                                       now: Int64) async throws {
        let digest = SHA256.hash(data: input).map { String(format: "%02x", $0) }.joined()
        try await store.recordRejection(StoredRejection(source: source, reason: reason, digest: digest, receivedAt: now))
    }
}
