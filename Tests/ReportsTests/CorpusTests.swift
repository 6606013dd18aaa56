import Foundation
import MTASTSReports
import Testing

/// The real-world corpus (../shared/realworld/tlsrpt, README.md there): every file yields its report, and the
/// report's totals equal the sums INDEX.tsv holds (computed by the corpus's own tools/summarize.py).
@Suite struct CorpusTests {
    /// The corpus folder: $MTASTS_REALWORLD/tlsrpt, else ../shared/realworld/tlsrpt beside the package root.
    static func corpus() -> URL? {
        let base: URL
        if let env = ProcessInfo.processInfo.environment["MTASTS_REALWORLD"] {
            base = URL(fileURLWithPath: env)
        } else {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            base = root.deletingLastPathComponent().appendingPathComponent("shared/realworld")
        }
        let folder = base.appendingPathComponent("tlsrpt")
        return FileManager.default.fileExists(atPath: folder.appendingPathComponent("INDEX.tsv").path) ? folder : nil
    }

    /// INDEX.tsv as one dictionary per row, keyed by the header's column names.
    static func index(_ folder: URL) throws -> [[String: String]] {
        let text = try String(contentsOf: folder.appendingPathComponent("INDEX.tsv"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let header = lines[0].split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        return lines.dropFirst().map { line in
            let cells = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return Dictionary(uniqueKeysWithValues: zip(header, cells))
        }
    }

    /// Each distinct result type in first-seen order with its failed-session sum, as INDEX.tsv writes them.
    static func resultTypes(_ report: TLSReport) -> String {
        var order: [String] = [], sums: [String: Int] = [:]
        for failure in report.policies.flatMap(\.failures) {
            if sums[failure.resultType] == nil { order.append(failure.resultType) }
            sums[failure.resultType, default: 0] += failure.failedSessions
        }
        return order.map { "\($0):\(sums[$0]!)" }.joined(separator: ",")
    }

    @Test func everyCorpusFileYieldsItsReportWithTheIndexSums() throws {
        guard let folder = Self.corpus() else {
            // CI has the corpus: its absence there is a failure, not a skip.
            if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("the TLS-RPT corpus (../shared/realworld/tlsrpt or $MTASTS_REALWORLD/tlsrpt) is missing")
            } else {
                print("WARNING: SKIPPED everyCorpusFileYieldsItsReportWithTheIndexSums: no ../shared/realworld/tlsrpt "
                    + "beside the package and no $MTASTS_REALWORLD; the corpus test did not run")
            }
            return
        }
        let rows = try Self.index(folder)
        #expect(rows.count == 75)
        for row in rows {
            let file = try #require(row["file"])
            let bytes = try [UInt8](Data(contentsOf: folder.appendingPathComponent("reports/\(file)")))
            let results = TLSReportParser.extract(bytes)
            try #require(results.count == 1, "\(file): \(results.count) results")
            let report: TLSReport
            switch results[0] {
            case .success(let r): report = r
            case .failure(let rejection):
                Issue.record("\(file) rejected: \(rejection)")
                continue
            }
            #expect(report.organizationName == row["organization_name"], "\(file)")
            #expect(report.reportID == row["report_id"], "\(file)")
            #expect(String(report.totalSuccessful) == row["total_successful"], "\(file)")
            #expect(String(report.totalFailed) == row["total_failure"], "\(file)")
            #expect(Self.resultTypes(report) == row["result_types"], "\(file)")
            // policy_domains is as written; ours are lowercased without a trailing dot.
            var domains: [String] = []
            for d in report.policies.map(\.policyDomain) where !d.isEmpty && !domains.contains(d) { domains.append(d) }
            let written = (row["policy_domains"] ?? "").split(separator: ",").map {
                String($0.lowercased().reversed().drop { $0 == "." }.reversed())
            }
            #expect(domains == written, "\(file)")
        }
    }

    /// The quirks INDEX.tsv names show up as the parser's notes, in its words where they are the same finding.
    @Test func corpusQuirksBecomeNotes() throws {
        guard let folder = Self.corpus() else {
            print("WARNING: SKIPPED corpusQuirksBecomeNotes: no TLS-RPT corpus")
            return
        }
        func notes(_ file: String) throws -> [String] {
            let bytes = try [UInt8](Data(contentsOf: folder.appendingPathComponent("reports/\(file)")))
            return try TLSReportParser.extract(bytes)[0].get().notes
        }
        #expect(try notes("003.json").contains("mx-host is a string (RFC 8460 text form)"))
        #expect(try notes("029.json").contains("total-successful-session-count is a string"))
        #expect(try notes("029.json").contains("non-standard result-type 'quantum-handshake-flux'"))
        #expect(try notes("029.json").contains("policy-domain not normalized (case or trailing dot)"))
        #expect(try notes("032.json").contains("empty-string sending-mta-ip"))
        #expect(try notes("007.json").contains("invalid start-datetime 'April fools'"))
        #expect(try notes("010.json").contains("policies is empty"))
        #expect(try notes("015.json").contains("failure detail without sending-mta-ip"))
        #expect(try notes("055.eml").contains("date-time without UTC offset (read as UTC)"))
        #expect(try notes("001.json").isEmpty)
    }
}
