import Foundation
import TestSupport
import Testing

/// docs/reports.md's Postfix recipe on a real Postfix: the e2e harness's dedicated instance (scripts/postfix-e2e.sh,
/// its own network namespace) gets the `tlsrpt` pipe transport and the transport map line as the document prints
/// them, and report mails submitted to it end up in the store exactly once.
@Suite("mta-sts reports behind a real Postfix", .serialized)
struct ReportsPostfixTests {
    static let harness = repositoryRoot.appendingPathComponent("scripts/postfix-e2e.sh").path

    /// Runs the harness with posix_spawn and its output in a file: `up` starts daemons, which would hold a pipe open.
    static func harness(_ args: [String]) -> (status: Int32, output: String) {
        spawnAndWait(harness, args)
    }

    @Test("A pipe transport into `reports import --mda -`: stored once, a re-delivery a duplicate, spam dropped, no bounce")
    func pipeTransport() async throws {
        guard let folder = ReportsCommandTests.corpus("pipeTransport") else { return }
        let mail = Array(try Data(contentsOf: folder.appendingPathComponent("reports/018.eml")))
        let row = try #require(try ReportsCommandTests.index(folder).first { $0.file == "018.eml" })
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-reports-e2e-\(UUID().uuidString.prefix(8))").path
        // The harness and Postfix's deliveries block for seconds: on threads of their own (offPool), not on the test
        // runner's few cooperative threads, whose other tests have real deadlines; the expectations stay here, in the test.
        let up = try await offPool { Self.harness(["up", dir]) }
        try #require(up.status == 0, "postfix-e2e.sh up: \(up.output)")
        do {
            try await exercise(dir: dir, mail: mail, row: row)
        } catch {
            _ = try? await offPool { Self.harness(["down", dir]) }
            throw error
        }
        _ = try await offPool { Self.harness(["down", dir]) }
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func exercise(dir: String, mail: [UInt8], row: ReportsCommandTests.Row) async throws {
        // The store belongs to the pipe's user (nobody here, mta-sts in the document), and so does the binary's copy:
        // the build may sit under a 0700 directory (a CI clone in mktemp -d) that nobody cannot enter.
        let storeDir = dir + "/reports", binDir = dir + "/bin"
        for d in [storeDir, binDir] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        #expect(chown(storeDir, 65534, 65534) == 0)
        let store = "sqlite:\(storeDir)/reports.sqlite"
        let binary = binDir + "/mta-sts"
        let copy = try await offPool { spawnAndWait("/bin/cp", [mtastsBinary, binary]) }  // cp: no writable descriptor here
        try #require(copy.status == 0, "\(copy.output)")
        let conf = dir + "/postfix/etc"
        // docs/reports.md's master.cf entry, transport line and recipient limit.
        var postconf = try runProgram("/usr/sbin/postconf", [
            "-c", conf, "-M", "tlsrpt/unix=tlsrpt unix - n n - - pipe user=nobody argv=\(binary) reports import --mda --store \(store) -",
        ])
        #expect(postconf.status == 0, "\(postconf.stderr)")
        postconf = try runProgram("/usr/sbin/postconf", ["-c", conf, "tlsrpt_destination_recipient_limit = 1"])
        #expect(postconf.status == 0, "\(postconf.stderr)")
        let transport = try FileHandle(forWritingTo: URL(fileURLWithPath: conf + "/transport"))
        try transport.seekToEnd()
        try transport.write(contentsOf: Data("tls-reports@reports.test    tlsrpt:\n".utf8))
        try transport.close()
        let reload = try await offPool { Self.harness(["exec", dir, "--", "postfix", "-c", conf, "reload"]) }
        #expect(reload.status == 0, "\(reload.output)")

        func submit(_ message: [UInt8]) async throws {
            let file = try temporaryFile(message, suffix: ".eml")
            defer { try? FileManager.default.removeItem(atPath: file) }
            let run = try await offPool {
                spawnAndWait("/bin/sh", ["-c", "exec \"$0\" exec \"$1\" -- sendmail -C \"$2\" -f noreply-smtp-tls-reporting@google.com "
                                         + "tls-reports@reports.test < \"$3\"", Self.harness, dir, conf, file])
            }
            #expect(run.status == 0, "sendmail: \(run.output)")
        }
        /// The maillog's delivery statuses through the tlsrpt transport (`relay=tlsrpt`).
        func statuses() -> [String] {
            let log = (try? String(contentsOfFile: dir + "/postfix/maillog", encoding: .utf8)) ?? ""
            return log.split(separator: "\n").filter { $0.contains("relay=tlsrpt") }
                .compactMap { line in line.range(of: "status=[a-z]+", options: .regularExpression).map { String(line[$0]) } }
        }
        func maillog() -> String { (try? String(contentsOfFile: dir + "/postfix/maillog", encoding: .utf8)) ?? "" }

        try await submit(mail)
        #expect(await eventually(within: 30) { statuses().count >= 1 }, "no delivery through tlsrpt: \(maillog())")
        try await submit(mail)  // the same report delivered again
        try await submit(Array("From: a@example.com\r\nTo: tls-reports@reports.test\r\nSubject: cheap\r\n\r\nBuy now.\r\n".utf8))
        #expect(await eventually(within: 30) { statuses().count >= 3 }, "\(maillog())")
        #expect(statuses() == ["status=sent", "status=sent", "status=sent"], "a report mail was bounced or deferred: \(maillog())")
        #expect(try ReportsCommandTests.listed(store) == ["\(row.organization)\t\(row.reportID)": [row.successful, row.failed]])
        #expect(try ReportsCommandTests.reports(["summary", "--json"], store).json["rejected"] as? Int == 1)
    }
}
