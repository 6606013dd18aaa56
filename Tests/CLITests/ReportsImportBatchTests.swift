import Foundation
import TestSupport
import Testing

/// `reports import` saves many files' reports per transaction (ReportsCommand.Import.batchSize): more files than one
/// batch holds, with a rejected file between them, still give one line per report in file order and every report once.
@Suite("mta-sts reports import in batches")
struct ReportsImportBatchTests {
    static func report(_ i: Int) -> String {
        """
        {"organization-name":"Batch Sender","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},\
        "contact-info":"tlsrpt@sender.example","report-id":"r\(i)","policies":[{"policy":{"policy-type":"sts","policy-domain":"d\(i % 7).example"},\
        "summary":{"total-successful-session-count":\(i),"total-failure-session-count":1},\
        "failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx.d\(i % 7).example","failed-session-count":1}]}]}
        """
    }

    /// DIR/007.json: names that sort in file order.
    static func name(_ dir: URL, _ i: Int) -> String {
        dir.appendingPathComponent(String(repeating: "0", count: 3 - String(i).count) + "\(i).json").path
    }

    @Test("450 files and a bad one: a line per report in file order, exit 1 for the bad one; again: every report a duplicate")
    func manyFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-batch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [String] = []
        for i in 0..<450 {
            let path = Self.name(dir, i)
            try Data(Self.report(i).utf8).write(to: URL(fileURLWithPath: path))
            files.append(path)
            if i == 300 {  // a rejected file in the middle of a batch
                let bad = dir.appendingPathComponent("300-bad.json").path
                try Data("not a report".utf8).write(to: URL(fileURLWithPath: bad))
                files.append(bad)
            }
        }
        let store = "sqlite:" + dir.appendingPathComponent("reports.sqlite").path

        let first = try runMTASTS(["reports", "import", "--store", store] + files)
        #expect(first.status == 1 && first.stderr.contains("300-bad.json") && first.stderr.contains("nothing stored"), "\(first.stderr)")
        let lines = first.stdout.split(separator: "\n").map(String.init)
        #expect(lines == (0..<450).map { "\(Self.name(dir, $0)): stored Batch Sender r\($0)" })

        // Again, the names in a list (--files-from: one per line, CRLF too, an empty line ignored; the first as an argument).
        let good = files.filter { !$0.hasSuffix("bad.json") }
        let list = dir.appendingPathComponent("list").path
        try Data((good.dropFirst().map { $0 + "\r\n" }.joined() + "\n").utf8).write(to: URL(fileURLWithPath: list))
        let again = try runMTASTS(["reports", "import", "--store", store, "--files-from", list, good[0]])
        #expect(again.status == 0, "\(again.stderr)")
        let duplicates = (0..<450).map { "\(Self.name(dir, $0)): Batch Sender r\($0) was stored before (duplicate)" }
        #expect(again.stdout.split(separator: "\n").map(String.init) == duplicates)
        // ... and NUL-separated on standard input, as `find -print0` writes it.
        let nul = try runMTASTS(["reports", "import", "--store", store, "--files-from", "-"], stdin: Array(good.joined(separator: "\0").utf8) + [0])
        #expect(nul.status == 0 && nul.stdout.split(separator: "\n").map(String.init) == duplicates, "\(nul.stderr)")
        #expect(try runMTASTS(["reports", "import", "--store", store, "--files-from", "-", "-"]).status == 64)
        let missing = try runMTASTS(["reports", "import", "--store", store, "--files-from", dir.appendingPathComponent("none").path])
        #expect(missing.status == 2 && missing.stderr.contains("cannot read"), "\(missing.stderr)")

        let summary = try runMTASTS(["reports", "summary", "--json", "--store", store])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(summary.stdout.utf8)) as? [String: Any])
        #expect(json["reports"] as? Int == 450 && json["rejected"] as? Int == 1)
    }
}
