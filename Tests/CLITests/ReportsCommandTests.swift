import Foundation
import TestSupport
import Testing

/// `mta-sts reports` as a process, on the real-world corpus (../shared/realworld/tlsrpt, read in place).
@Suite("mta-sts reports")
struct ReportsCommandTests {
    /// $MTASTS_REALWORLD/tlsrpt, else ../shared/realworld/tlsrpt beside the package; nil (said loudly) when missing.
    static func corpus(_ test: String) -> URL? {
        let base = ProcessInfo.processInfo.environment["MTASTS_REALWORLD"].map { URL(fileURLWithPath: $0) }
            ?? repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/realworld")
        let folder = base.appendingPathComponent("tlsrpt")
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent("INDEX.tsv").path) { return folder }
        if ProcessInfo.processInfo.environment["CI"] != nil {
            Issue.record("the TLS-RPT corpus (../shared/realworld/tlsrpt or $MTASTS_REALWORLD/tlsrpt) is missing")
        } else {
            print("WARNING: SKIPPED \(test): no ../shared/realworld/tlsrpt beside the package and no $MTASTS_REALWORLD")
        }
        return nil
    }

    struct Row {
        let file: String, organization: String, reportID: String, domains: String, successful: Int, failed: Int, resultTypes: String
    }

    /// INDEX.tsv's rows, in file order.
    static func index(_ folder: URL) throws -> [Row] {
        let lines = try String(contentsOf: folder.appendingPathComponent("INDEX.tsv"), encoding: .utf8).split(separator: "\n").dropFirst()
        return lines.map { line in
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return Row(file: c[0], organization: c[5], reportID: c[6], domains: c[7], successful: Int(c[8])!, failed: Int(c[9])!,
                       resultTypes: c[10])
        }
    }

    /// What `list --json` must show after importing `rows` in order: the first file of each (organization, report-id)
    /// wins, later ones are duplicates.
    static func expectedTotals(_ rows: [Row]) -> [String: [Int]] {
        var out: [String: [Int]] = [:]
        for r in rows where out["\(r.organization)\t\(r.reportID)"] == nil { out["\(r.organization)\t\(r.reportID)"] = [r.successful, r.failed] }
        return out
    }

    static func freshStore() -> String {
        "sqlite:" + FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-reports-\(UUID().uuidString).sqlite").path
    }

    static func reports(_ args: [String], _ store: String, stdin: [UInt8] = []) throws -> CommandRun {
        try runMTASTS(["reports"] + args + ["--store", store], stdin: stdin)
    }

    /// `list --json`: (organization, report-id) → [successful, failed].
    static func listed(_ store: String) throws -> [String: [Int]] {
        let run = try reports(["list", "--json"], store)
        #expect(run.status == 0, "\(run.stderr)")
        var out: [String: [Int]] = [:]
        for line in run.stdout.split(separator: "\n") {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            out["\(o["organization_name"]!)\t\(o["report_id"]!)"] = [o["successful"] as! Int, o["failed"] as! Int]
        }
        return out
    }

    @Test("The whole corpus imports with each report's INDEX totals; importing it again only finds duplicates")
    func corpusImport() throws {
        guard let folder = Self.corpus("corpusImport") else { return }
        let rows = try Self.index(folder)
        let files = rows.map { folder.appendingPathComponent("reports/\($0.file)").path }
        let store = Self.freshStore()
        let first = try Self.reports(["import"] + files, store)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try Self.listed(store) == Self.expectedTotals(rows))

        let again = try Self.reports(["import"] + files, store)
        #expect(again.status == 0, "\(again.stderr)")
        let lines = again.stdout.split(separator: "\n")
        #expect(lines.count >= files.count && lines.allSatisfy { $0.hasSuffix("(duplicate)") })
        #expect(try Self.listed(store).count == Self.expectedTotals(rows).count)
    }

    @Test("- reads one report mail from standard input (an MDA); a re-delivery is a duplicate, exit 0")
    func standardInput() throws {
        guard let folder = Self.corpus("standardInput") else { return }
        let row = try Self.index(folder).first { $0.file.hasSuffix(".eml") && !$0.domains.isEmpty }!
        let mail = Array(try Data(contentsOf: folder.appendingPathComponent("reports/\(row.file)")))
        let store = Self.freshStore()
        let first = try Self.reports(["import", "-"], store, stdin: mail)
        #expect(first.status == 0 && first.stdout.contains("<stdin>: stored \(row.organization) \(row.reportID)"), "\(first.stderr)")
        let second = try Self.reports(["import", "-"], store, stdin: mail)
        #expect(second.status == 0 && second.stdout.hasSuffix("(duplicate)\n"), "\(second.stderr)")
        #expect(try Self.listed(store) == ["\(row.organization)\t\(row.reportID)": [row.successful, row.failed]])
    }

    @Test("summary --json keeps the contract's keys and numbers; --fail-above decides the exit status; --domain, --since filter")
    func summary() throws {
        guard let folder = Self.corpus("summary") else { return }
        // A report with several failing result types for one domain.
        let row = try Self.index(folder).first { $0.file.hasSuffix(".json") && !$0.domains.contains(",") && !$0.domains.isEmpty
            && $0.resultTypes.contains(",") && $0.failed > 0 }!
        let store = Self.freshStore()
        #expect(try Self.reports(["import", folder.appendingPathComponent("reports/\(row.file)").path], store).status == 0)

        let run = try Self.reports(["summary", "--json"], store)
        #expect(run.status == 0)
        let json = run.json
        #expect(json["reports"] as? Int == 1 && json["rejected"] as? Int == 0)
        let domains = json["domains"] as! [[String: Any]]
        #expect(domains.count == 1)
        let d = domains[0]
        #expect(Set(d.keys).isSuperset(of: ["domain", "successful", "failed", "failure_rate", "result_types", "organizations", "mx"]))
        #expect(d["domain"] as? String == row.domains.lowercased())
        #expect(d["successful"] as? Int == row.successful && d["failed"] as? Int == row.failed)
        let rate = Double(row.failed) / Double(row.successful + row.failed)
        #expect(abs((d["failure_rate"] as! Double) - rate) < 1e-9)
        let types = Dictionary(uniqueKeysWithValues: row.resultTypes.split(separator: ",").map {
            let kv = $0.split(separator: ":")
            return (String(kv[0]), Int(kv[1])!)
        })
        #expect(d["result_types"] as? [String: Int] == types)
        #expect(d["organizations"] as? [String: [String: Int]] == [row.organization: ["successful": row.successful, "failed": row.failed]])
        let mx = d["mx"] as! [String: [String: Int]]
        #expect(mx.values.map { $0["failed"]! }.reduce(0, +) == types.values.reduce(0, +))

        #expect(try Self.reports(["summary", "--fail-above", String(rate / 2)], store).status == 1)
        #expect(try Self.reports(["summary", "--fail-above", String(rate)], store).status == 0)  // above, not at
        let text = try Self.reports(["summary"], store)
        #expect(text.status == 0 && types.keys.allSatisfy { text.stdout.contains("  \($0): ") })
        #expect(text.stdout.components(separatedBy: "    cause: ").count - 1 == types.count)
        #expect((try Self.reports(["summary", "--json", "--domain", "other.example"], store).json["domains"] as? [Any])?.isEmpty == true)
        #expect(try Self.reports(["summary", "--json", "--since", "2999-01-01"], store).json["reports"] as? Int == 0)
        #expect(try Self.reports(["summary", "--since", "2024-02-30"], store).status == 64)
    }

    @Test("A file without a report: exit 1 naming it and why, the reports unchanged, the input counted once; other files still stored")
    func rejected() throws {
        guard let folder = Self.corpus("rejected") else { return }
        let store = Self.freshStore()
        let good = folder.appendingPathComponent("reports/001.json").path
        #expect(try Self.reports(["import", good], store).status == 0)
        let before = try Self.listed(store)
        let mail = try temporaryFile(Array("From: a@example.com\r\nSubject: hello\r\n\r\nNo report here.\r\n".utf8), suffix: ".eml")

        let run = try Self.reports(["import", mail], store)
        #expect(run.status == 1)
        #expect(run.stderr.contains(mail) && run.stderr.contains("nothing stored"), "\(run.stderr)")
        #expect(try Self.listed(store) == before)
        #expect(try Self.reports(["summary", "--json"], store).json["rejected"] as? Int == 1)
        #expect(try Self.reports(["import", mail], store).status == 1)
        #expect(try Self.reports(["summary", "--json"], store).json["rejected"] as? Int == 1)

        let mixed = try Self.reports(["import", mail, folder.appendingPathComponent("reports/002.json").path], store)
        #expect(mixed.status == 1 && mixed.stdout.contains("stored"))
        #expect(try Self.listed(store).count == before.count + 1)
        // The views never create a store.
        #expect(try Self.reports(["summary"], Self.freshStore()).status == 2)
    }

    @Test("--mda: a message without a report is counted and dropped (0), a store that cannot be used is EX_TEMPFAIL (75)")
    func mdaExitStatus() throws {
        let store = Self.freshStore()
        let spam = Array("From: a@example.com\r\nSubject: cheap\r\n\r\nBuy now.\r\n".utf8)
        #expect(try Self.reports(["import", "-"], store, stdin: spam).status == 1)
        let run = try Self.reports(["import", "--mda", "-"], store, stdin: spam)
        #expect(run.status == 0 && run.stderr.contains("<stdin>"), "\(run.stderr)")
        #expect(try Self.reports(["summary", "--json"], store).json["rejected"] as? Int == 1)
        let unusable = "sqlite:/proc/mta-sts-none/reports.sqlite"
        #expect(try Self.reports(["import", "-"], unusable, stdin: spam).status == 2)
        #expect(try Self.reports(["import", "--mda", "-"], unusable, stdin: spam).status == 75)
    }

    @Test("--keep-days: after the import, reports whose period started longer ago are gone")
    func keepDays() throws {
        guard let folder = Self.corpus("keepDays") else { return }
        let old = try Self.index(folder).first { $0.file == "001.json" }!
        let today = ISO8601DateFormatter().string(from: Date()).prefix(10)
        let recent = try temporaryFile(Array("""
            {"organization-name":"Recent Inc.","date-range":{"start-datetime":"\(today)T00:00:00Z","end-datetime":"\(today)T23:59:59Z"},
             "report-id":"recent-1","policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"example.com"},
             "summary":{"total-successful-session-count":3,"total-failure-session-count":0}}]}
            """.utf8), suffix: ".json")
        let store = Self.freshStore()
        #expect(try Self.reports(["import", folder.appendingPathComponent("reports/001.json").path, recent], store).status == 0)
        #expect(try Self.listed(store).count == 2)
        #expect(try Self.reports(["import", "--keep-days", "30", recent], store).status == 0)
        #expect(try Self.listed(store) == ["Recent Inc.\trecent-1": [3, 0]], "\(old.organization) \(old.reportID) is older than 30 days")
    }

    @Test("kill -9 in the middle of an import leaves whole reports only; the same import run again completes the store")
    func killedImport() throws {
        guard let folder = Self.corpus("killedImport") else { return }
        let rows = try Self.index(folder)
        let files = rows.map { folder.appendingPathComponent("reports/\($0.file)").path }
        let expected = Self.expectedTotals(rows)
        let store = Self.freshStore()
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("mta-sts")
        // Whenever the kill lands (before the first report, between two, inside one's transaction, after the last),
        // every report that is there has all its policy rows: its totals are the INDEX's.
        let path = String(store.dropFirst("sqlite:".count))
        for delay: useconds_t in [60_000, 120_000, 180_000, 240_000, 300_000] {
            let p = Process()
            p.executableURL = binary
            p.arguments = ["reports", "import", "--store", store] + files
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(delay)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            guard FileManager.default.fileExists(atPath: path) else { continue }  // killed before it opened the store
            let listed = try Self.listed(store)
            #expect(listed.allSatisfy { expected[$0.key] == $0.value }, "after \(delay) µs: \(listed)")
        }
        #expect(try Self.reports(["import"] + files, store).status == 0)
        #expect(try Self.listed(store) == expected)
    }

    @Test("show explains each failure (text and JSON); an unknown report-id is exit 1")
    func show() throws {
        guard let folder = Self.corpus("show") else { return }
        let row = try Self.index(folder).first { $0.file.hasSuffix(".json") && $0.failed > 0 && !$0.resultTypes.isEmpty }!
        let store = Self.freshStore()
        #expect(try Self.reports(["import", folder.appendingPathComponent("reports/\(row.file)").path], store).status == 0)
        let text = try Self.reports(["show", row.reportID], store)
        #expect(text.status == 0 && text.stdout.contains("report-id: \(row.reportID)") && text.stdout.contains("    fix: "))
        let json = try Self.reports(["show", row.reportID, "--json"], store).json
        #expect(json["organization_name"] as? String == row.organization)
        let types = Set(row.resultTypes.split(separator: ",").map { String($0.split(separator: ":")[0]) })
        #expect(Set(((json["explanations"] as? [String: Any]) ?? [:]).keys) == types)
        #expect((json["report"] as? [String: Any])?["report-id"] as? String == row.reportID)
        #expect(try Self.reports(["show", "no-such-report"], store).status == 1)
    }
}
