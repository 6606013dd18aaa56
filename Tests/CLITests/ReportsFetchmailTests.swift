import Foundation
import TestSupport
import Testing

/// docs/reports.md's fetchmail recipe on a real Dovecot (Debian dovecot-imapd) and a real fetchmail: a report mail in
/// an IMAP INBOX is pulled and handed to `reports import --mda -`, stored once; a second copy is a duplicate.
@Suite("mta-sts reports behind fetchmail and a real Dovecot", .serialized)
struct ReportsFetchmailTests {
    static let dovecot = "/usr/sbin/dovecot"
    static let fetchmail = "/usr/bin/fetchmail"

    /// The report mail a sender writes (RFC 8460 §5.3): multipart/report with the report as application/tlsrpt+gzip.
    static func reportMail(dir: String) throws -> [UInt8] {
        let json = #"{"organization-name":"IMAP Sender","date-range":{"start-datetime":"2026-12-01T00:00:00Z","end-datetime":"2026-12-01T23:59:59Z"},"#
            + #""contact-info":"tlsrpt@sender.example","report-id":"fetchmail-1","policies":[{"policy":{"policy-type":"sts","#
            + #""policy-string":["version: STSv1","mode: enforce","mx: mx.reports.test","max_age: 86400"],"policy-domain":"reports.test","#
            + #""mx-host":["mx.reports.test"]},"summary":{"total-successful-session-count":41,"total-failure-session-count":2},"#
            + #""failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx.reports.test","failed-session-count":2}]}]}"#
        let gz = dir + "/report.json.gz"
        let zipped = try runProgram("/bin/sh", ["-c", "gzip -c > '\(gz)'"], stdin: Array(json.utf8))
        guard zipped.status == 0 else { throw TestbedError(description: "gzip: \(zipped.stderr)") }
        let attachment = try Data(contentsOf: URL(fileURLWithPath: gz)).base64EncodedString(options: .lineLength76Characters)
        let name = "sender.example!reports.test!1764547200!1764633599!fetchmail-1.json.gz"
        return Array("""
            From: TLS reports <noreply-smtp-tls-reporting@sender.example>
            To: tls-reports@reports.test
            Subject: Report Domain: reports.test Submitter: sender.example Report-ID: <fetchmail-1>
            Date: Wed, 02 Dec 2026 01:00:00 +0000
            Message-ID: <fetchmail-1@sender.example>
            TLS-Report-Domain: reports.test
            TLS-Report-Submitter: sender.example
            MIME-Version: 1.0
            Content-Type: multipart/report; report-type="tlsrpt"; boundary="tlsrpt-boundary"

            --tlsrpt-boundary
            Content-Type: text/plain; charset=utf-8

            This is an aggregate TLS report from sender.example.

            --tlsrpt-boundary
            Content-Type: application/tlsrpt+gzip; name="\(name)"
            Content-Disposition: attachment; filename="\(name)"
            Content-Transfer-Encoding: base64

            \(attachment.replacingOccurrences(of: "\r\n", with: "\n"))
            --tlsrpt-boundary--

            """.utf8)
    }

    /// A Dovecot of its own: everything under `dir`, IMAP on 127.0.0.1:`port`, one passwd-file user whose INBOX is the
    /// maildir `dir/home/Maildir`. As root (CI), mail is owned by nobody: Dovecot never accesses mail as root.
    static func dovecotConfig(dir: String, port: Int) -> String {
        let root = getuid() == 0
        let me = String(cString: getpwuid(getuid()).pointee.pw_name)
        return """
            base_dir = \(dir)/run
            state_dir = \(dir)/state
            log_path = \(dir)/dovecot.log
            protocols = imap
            listen = 127.0.0.1
            ssl = no
            # Plain LOGIN over loopback without TLS: this test's peer only.
            disable_plaintext_auth = no
            auth_mechanisms = plain login
            mail_location = maildir:~/Maildir
            default_internal_user = \(root ? "dovecot" : me)
            default_login_user = \(root ? "dovenull" : me)
            passdb {
              driver = passwd-file
              args = scheme=PLAIN username_format=%u \(dir)/users
            }
            userdb {
              driver = passwd-file
              args = username_format=%u \(dir)/users
            }
            service imap-login {
              inet_listener imap {
                address = 127.0.0.1
                port = \(port)
              }
              inet_listener imaps {
                port = 0
              }
              # A process that is not root cannot chroot.
              \(root ? "" : "chroot =")
            }
            service anvil {
              \(root ? "" : "chroot =")
            }

            """
    }

    @Test("fetchmail --mda into `reports import --mda -`: stored once; a second copy, and a kept copy fetched again, are duplicates")
    func fetchmailFromDovecot() async throws {
        for binary in [Self.dovecot, Self.fetchmail] where !FileManager.default.isExecutableFile(atPath: binary) {
            Issue.record("\(binary) is missing: install dovecot-imapd and fetchmail (scripts/setup.sh does)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-fetchmail-\(UUID().uuidString.prefix(8))").path
        let maildir = dir + "/home/Maildir"
        for d in [dir, dir + "/run", dir + "/state", dir + "/home", maildir, maildir + "/new", maildir + "/cur", maildir + "/tmp"] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        let mailUID: uid_t = getuid() == 0 ? 65534 : getuid()
        let mailGID: gid_t = getuid() == 0 ? 65534 : getgid()
        for d in [dir + "/home", maildir, maildir + "/new", maildir + "/cur", maildir + "/tmp"] { #expect(chown(d, mailUID, mailGID) == 0) }
        try "tls-reports:{PLAIN}secret:\(mailUID):\(mailGID)::\(dir)/home::\n".write(toFile: dir + "/users", atomically: true, encoding: .utf8)
        let port = freePort()
        let conf = dir + "/dovecot.conf"
        try Self.dovecotConfig(dir: dir, port: port).write(toFile: conf, atomically: true, encoding: .utf8)

        // Dovecot daemonizes; starting, stopping and fetchmail block: on threads of their own (offPool).
        let up = try await offPool { spawnAndWait(Self.dovecot, ["-c", conf]) }
        try #require(up.status == 0, "dovecot: \(up.output)")
        do {
            let listening = try await offPool { waitUntil(within: 3600) { (try? connectTCP(port: port)).map { close($0) } != nil } }
            try #require(listening, "Dovecot does not listen on 127.0.0.1:\(port): \(Self.log(dir))")
            try await exercise(dir: dir, port: port, maildir: maildir, owner: (mailUID, mailGID))
        } catch {
            _ = try? await offPool { spawnAndWait(Self.dovecot, ["-c", conf, "stop"]) }
            throw error
        }
        let down = try await offPool { spawnAndWait(Self.dovecot, ["-c", conf, "stop"]) }
        #expect(down.status == 0, "dovecot stop: \(down.output)")
        // Stopped for real: a master that inherited a blocked SIGTERM would keep listening.
        let closed = try await offPool { waitUntil(within: 3600) { (try? connectTCP(port: port)).map { close($0) } == nil } }
        #expect(closed, "Dovecot still listens on 127.0.0.1:\(port) after `dovecot stop`")
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func exercise(dir: String, port: Int, maildir: String, owner: (uid_t, gid_t)) async throws {
        let mail = try await offPool { try Self.reportMail(dir: dir) }
        let store = "sqlite:\(dir)/reports.sqlite"
        // docs/reports.md's ~/.fetchmailrc, on this Dovecot (plain IMAP on loopback instead of `ssl` on port 993).
        let rc = dir + "/fetchmailrc"
        try """
            poll 127.0.0.1 protocol IMAP port \(port)
              user "tls-reports" password "secret" sslproto ""
              folder "INBOX"
              mda "\(mtastsBinary) reports import --mda --store \(store) -"

            """.write(toFile: rc, atomically: true, encoding: .utf8)
        #expect(chmod(rc, 0o600) == 0)
        func deliver(_ name: String) throws {
            let path = "\(maildir)/new/\(name)"
            try Data(mail).write(to: URL(fileURLWithPath: path))
            #expect(chown(path, owner.0, owner.1) == 0)
        }
        func fetch(_ extra: [String]) async throws -> (status: Int32, output: String) {
            try await offPool {
                spawnAndWait(Self.fetchmail, ["-f", rc, "--nodetach", "--fetchall", "--pidfile", dir + "/fetchmail.pid", "-v"] + extra)
            }
        }
        func messages() -> Int {
            ["new", "cur"].map { ((try? FileManager.default.contentsOfDirectory(atPath: "\(maildir)/\($0)")) ?? []).count }.reduce(0, +)
        }

        try deliver("1764637200.M1P1.reports-test")
        let first = try await fetch([])
        #expect(first.status == 0, "fetchmail: \(first.output)\n\(Self.log(dir))")
        func list() async throws -> CommandRun { try await offPool { try ReportsCommandTests.reports(["list", "--json"], store) } }
        let listed = try await list()
        #expect(listed.status == 0, "\(listed.stderr)")
        let lines = listed.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let row = try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any]
        #expect(row?["report_id"] as? String == "fetchmail-1" && row?["organization_name"] as? String == "IMAP Sender")
        #expect(row?["successful"] as? Int == 41 && row?["failed"] as? Int == 2)
        #expect(messages() == 0, "fetchmail deletes a message once the MDA exited 0")

        // The same message again (a re-delivery), fetched with --keep: a duplicate, the store unchanged, the mail kept.
        try deliver("1764637300.M2P1.reports-test")
        let second = try await fetch(["--keep"])
        #expect(second.status == 0, "fetchmail: \(second.output)")
        #expect(try await list().stdout == listed.stdout)
        #expect(messages() == 1)
        // The kept (seen) copy fetched once more by --fetchall: a duplicate again, then deleted.
        let third = try await fetch([])
        #expect(third.status == 0, "fetchmail: \(third.output)")
        #expect(try await list().stdout == listed.stdout)
        #expect(messages() == 0)
        let summary = try await offPool { try ReportsCommandTests.reports(["summary", "--json"], store) }
        #expect(summary.json["reports"] as? Int == 1 && summary.json["rejected"] as? Int == 0, "\(summary.stdout)")
    }

    static func log(_ dir: String) -> String {
        "dovecot.log:\n" + ((try? String(contentsOfFile: dir + "/dovecot.log", encoding: .utf8)) ?? "(none)")
    }
}
