import ArgumentParser
import Foundation
import MTASTSCore
import MTASTSReports
import MTASTSRuntime

struct ReportsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reports",
        abstract: "Receive, keep and show SMTP TLS reports (RFC 8460), and explain each failure.",
        discussion: """
            Works on the store named by --store (default sqlite:/var/lib/mta-sts/reports.sqlite; or \
            postgres://USER:PASSWORD@HOST:PORT/DATABASE). See docs/reports.md.
            """,
        subcommands: [Import.self, Summary.self, Show.self, List.self, Dashboard.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store the reports in files: JSON, gzip, a report mail (.eml) or an mbox; - reads one message from standard input.",
            discussion: """
                Use `mta-sts reports import -` as the MDA of a Postfix pipe transport, procmail, sieve or fetchmail --mda. \
                A report stored before (same organization-name and report-id) is a duplicate, not an error. Exit 0 when \
                every report was stored or a duplicate; 1 when a file holds no report or a report that cannot be read \
                (nothing of that file is stored; the input is counted as rejected); 2 when a file or the store cannot be used. \
                With --mda the exit status is what a delivery agent's caller (Postfix pipe, fetchmail, procmail) expects.
                """
        )
        @OptionGroup var store: ReportStoreOption
        @Flag(help: """
            Exit statuses for a mail delivery agent (sysexits.h): 0 also when the message holds no report (it is counted \
            as rejected and dropped: the rua address receives spam too, and a bounce would go to whoever forged it), 75 \
            (EX_TEMPFAIL: the MTA keeps the message and retries) when the store or the input cannot be used.
            """)
        var mda = false
        @Option(name: .customLong("keep-days"), help: """
            After importing, delete the reports whose period started more than DAYS days ago, and the rejections \
            received before then (default: keep everything).
            """)
        var keepDays: Int?
        @Option(name: .customLong("files-from"), help: ArgumentHelp("""
            Also import the files named in FILE, one per line (or NUL-separated, as `find -print0` writes them); - reads \
            the list from standard input. For many files: faster than naming them as arguments.
            """, valueName: "FILE"))
        var filesFrom: String?
        @Argument(help: "Files to import; - for one message on standard input.") var files: [String] = []

        func validate() throws {
            if files.isEmpty && filesFrom == nil { throw ValidationError("name at least one file, or - for standard input, or --files-from") }
            if filesFrom == "-" && files.contains("-") { throw ValidationError("standard input is either the message (-) or the list (--files-from -)") }
            if let keepDays, keepDays < 1 { throw ValidationError("--keep-days must be at least 1") }
        }

        /// The arguments, then the names in `--files-from`'s list (NUL-separated when it holds a NUL, else by line).
        static func fileNames(_ files: [String], from list: String?) throws -> [String] {
            guard let list else { return files }
            let bytes = try Input.read(list).bytes
            let separator: UInt8 = bytes.contains(0) ? 0 : 0x0A
            let names = bytes.split(separator: separator).map { line in
                String(decoding: separator == 0x0A && line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
            }
            // A listed "-" is a file of that name (standard input is the message only when given as an argument).
            return files + names.filter { !$0.isEmpty }.map { $0 == "-" ? "./-" : $0 }
        }

        func run() async throws {
            let status = await importAll()
            // Postfix's pipe(8) bounces on any status outside sysexits.h's temporary ones; fetchmail keeps the message.
            let mapped = mda ? (status == 1 ? 0 : status == 2 ? 75 : status) : status
            if mapped != 0 { throw ExitCode(mapped) }
        }

        /// 0, 1 or 2 as the discussion says; every error printed.
        private func importAll() async -> Int32 {
            let store: any ReportStore
            do { store = try await self.store.open(creating: true) } catch { return 2 }  // orExit said why
            var status: Int32 = 0
            // The files' reports are saved in batches, one transaction each, not one per report (issue 13's benchmark,
            // BENCHMARKS.md); each report is still whole or absent after a crash.
            var pending: [(name: String, reports: [ReportToSave])] = []
            guard let names = try? Self.fileNames(files, from: filesFrom) else {  // Input.read said why
                await store.close()
                return 2
            }
            // Files are read and parsed on every core, a chunk at a time, the next chunk while the store takes this one's
            // reports, in order.
            let chunks = stride(from: names.startIndex, to: names.endIndex, by: Self.parseChunk).map {
                names[$0..<min($0 + Self.parseChunk, names.endIndex)]
            }
            var upcoming = chunks.first.map { chunk in Task { await Self.parse(chunk) } }
            for k in chunks.indices {
                guard let current = upcoming else { break }
                upcoming = k + 1 < chunks.count ? Task { [chunk = chunks[k + 1]] in await Self.parse(chunk) } : nil
                for parsed in await current.value {
                    guard let (name, bytes, results) = parsed else {  // Input.read said why
                        status = 2
                        continue
                    }
                    do {
                        guard let reports = try await Self.prepare(name, bytes, results, into: store) else {
                            status = max(status, 1)
                            continue
                        }
                        pending.append((name, reports))
                    } catch {
                        printError("mta-sts: error: \(name): \(error)")
                        status = 2
                    }
                    if pending.reduce(0, { $0 + $1.reports.count }) >= Self.batchSize {
                        status = max(status, await Self.save(pending, into: store))
                        pending = []
                    }
                }
            }
            status = max(status, await Self.save(pending, into: store))
            if let keepDays {
                do { _ = try await store.deleteReports(before: Int64(Date().timeIntervalSince1970) - Int64(keepDays) * 86400) } catch {
                    printError("mta-sts: error: deleting reports older than \(keepDays) days: \(error)")
                    status = 2
                }
            }
            await store.close()
            return status
        }

        /// Reports per transaction: short enough that an MDA delivering meanwhile waits milliseconds for the writer.
        static let batchSize = 200

        /// Files read and parsed at a time, on every core (two chunks are in memory at once).
        static let parseChunk = 64

        /// Reads and parses `files` concurrently (pure work, no store); the results in the files' order, nil for a file
        /// that could not be read (Input.read said why).
        static func parse(_ files: ArraySlice<String>) async -> [(String, [UInt8], [Result<ExtractedReport, TLSReportRejection>])?] {
            await withTaskGroup(of: (Int, (String, [UInt8], [Result<ExtractedReport, TLSReportRejection>])?).self) { group in
                for (i, file) in zip(files.indices, files) {
                    group.addTask {
                        guard let (name, bytes) = try? Input.read(file) else { return (i, nil) }
                        return (i, (name, bytes, TLSReportParser.reports(in: bytes)))
                    }
                }
                var out = [(String, [UInt8], [Result<ExtractedReport, TLSReportRejection>])?](repeating: nil, count: files.count)
                for await (i, parsed) in group { out[i - files.startIndex] = parsed }
                return out
            }
        }

        /// Every report of `results` (found in `bytes`) with the JSON to keep, or nil when one is rejected (then nothing
        /// of the input is stored: the reason is printed and the input counted as rejected).
        static func prepare(_ name: String, _ bytes: [UInt8], _ results: [Result<ExtractedReport, TLSReportRejection>],
                            into store: any ReportStore) async throws -> [ReportToSave]? {
            let now = Int64(Date().timeIntervalSince1970)
            if let reason = ReportIngest.rejection(results) {
                printError(TerminalText("mta-sts: error: \(name): \(reason); nothing stored from this input").description)
                try await ReportIngest.recordRejection(reason, input: bytes, source: name, into: store, now: now)
                return nil
            }
            return ReportIngest.toSave(results, now: now)
        }

        /// Saves the files' reports in one transaction and prints what became of each; 2 when the store failed (each
        /// file is named: none of them is stored).
        static func save(_ files: [(name: String, reports: [ReportToSave])], into store: any ReportStore) async -> Int32 {
            guard !files.isEmpty else { return 0 }
            let outcomes: [ReportSaveOutcome]
            do { outcomes = try await store.save(batch: files.flatMap(\.reports)) } catch {
                for file in files { printError("mta-sts: error: \(file.name): \(error)") }
                return 2
            }
            var next = outcomes.makeIterator()
            for file in files {
                for saved in file.reports {
                    let what = "\(saved.report.organizationName) \(saved.report.reportID)"
                    let line: TerminalText = next.next() == .inserted
                        ? "\(file.name): stored \(what)" : "\(file.name): \(what) was stored before (duplicate)"
                    print(line)
                }
            }
            return 0
        }
    }

    struct Summary: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sessions per policy domain: successful, failed, why, by which sender, on which MX.",
            discussion: """
                Exit 1 when a domain's failure rate (failed / all sessions) is above --fail-above, 0 otherwise: \
                run it from cron to be told. --check runs `mta-sts check` on each domain with failures and says whether \
                each reported failure is still present; it does not change the exit status.
                """
        )
        @OptionGroup var store: ReportStoreOption
        @Option(help: "Only this policy domain.") var domain: String?
        @Option(help: "Only reports whose period starts on or after this day (YYYY-MM-DD, UTC).") var since: String?
        @Flag(help: "JSON output (docs/reports.md has the schema).") var json = false
        @Option(name: .customLong("fail-above"), help: "Exit 1 when a domain's failure rate is above RATE (0 to 1, e.g. 0.05).")
        var failAbove: Double?
        @OptionGroup var recheck: SummaryCheckOptions

        func validate() throws {
            if let since, CivilDate.day(since) == nil { throw ValidationError("--since must be a date YYYY-MM-DD, not '\(since)'") }
            if let failAbove, !(0...1).contains(failAbove) { throw ValidationError("--fail-above is a rate from 0 to 1, e.g. 0.05") }
        }

        func run() async throws {
            let store = try await self.store.open(creating: false)
            let sinceTime = since.flatMap(CivilDate.day)
            let domain = self.domain.map { d in d.lowercased().hasSuffix(".") ? String(d.lowercased().dropLast()) : d.lowercased() }
            let (summary, rows) = try await ReportStoreOption.using(store) {
                let rows = try await $0.summaryRows(domain: domain, since: sinceTime)
                return (ReportSummary(rows: rows, rejected: try await $0.rejectionCount(since: sinceTime)), rows)
            }
            let checks = recheck.enabled ? try await SummaryCheck.run(summary, rows: rows, options: recheck) : [:]
            if json {
                try JSONOutput.print(SummaryJSON(summary, checks: checks))
            } else {
                print(SummaryText.render(summary, failAbove: failAbove, checks: checks))
            }
            if let failAbove, !summary.domains(failingAbove: failAbove).isEmpty { throw Exit.invalid }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a stored report with each failure explained. Exit 1 when no report has this report-id.")
        @OptionGroup var store: ReportStoreOption
        @Flag(help: "JSON output (one object per line, one per organization that used this report-id).") var json = false
        @Argument(help: "The report-id.") var reportID: String

        func run() async throws {
            let store = try await self.store.open(creating: false)
            let found = try await ReportStoreOption.using(store) { try await $0.load(reportID: reportID) }
            guard !found.isEmpty else {
                printError("\(reportID): no report with this report-id is stored")
                throw Exit.invalid
            }
            for stored in found {
                // The stored JSON was read by this parser before; a later parser may read it differently, not worse.
                let report = try? TLSReportParser.parse(json: stored.json).get()
                if json {
                    try JSONOutput.print(StoredReportJSON(stored.info, report: report))
                } else {
                    print(ReportText.render(stored.info, report: report))
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the stored reports, oldest report period first.")
        @OptionGroup var store: ReportStoreOption
        @Flag(help: "One JSON object per line.") var json = false

        func run() async throws {
            let store = try await self.store.open(creating: false)
            for info in try await ReportStoreOption.using(store, { try await $0.list() }) {
                if json {
                    try JSONOutput.print(StoredReportJSON(info, report: nil))
                } else {
                    let domains = info.domains.map { $0.isEmpty ? "-" : $0 }.joined(separator: ",")
                    let line: TerminalText = "\(info.startDatetime)\t\(info.organizationName)\t\(info.reportID)\t\(domains)\t"
                        + "\(info.successful) successful\t\(info.failed) failed"
                    print(line)
                }
            }
        }
    }
}

/// `--store`, shared by the `reports` subcommands.
struct ReportStoreOption: ParsableArguments {
    @Option(help: "The report store: sqlite:PATH (default sqlite:\(StoreSetting.defaultReportsPath)) or postgres://...")
    var store: String?

    func validate() throws {
        if let store, StoreSetting(flag: store) == nil || StoreSetting(flag: store) == .memory {
            throw ValidationError("--store must be sqlite:PATH or postgres://...")
        }
    }

    /// The store, or the reason printed and exit 2.
    func open(creating: Bool) async throws -> any ReportStore {
        let setting = store.flatMap(StoreSetting.init(flag:)) ?? .sqlite(path: StoreSetting.defaultReportsPath)
        return try await orExit { () async throws(ConfigurationError) in try await setting.openReportStore(creating: creating) }
    }

    /// Runs `body` on `store` and closes it; a store error is printed and ends the command with exit 2.
    static func using<T>(_ store: any ReportStore, _ body: (any ReportStore) async throws -> T) async throws -> T {
        let result: Result<T, any Error>
        do { result = .success(try await body(store)) } catch { result = .failure(error) }
        await store.close()
        return try orExit { try result.get() }
    }
}
