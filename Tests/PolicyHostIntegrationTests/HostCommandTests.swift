import Foundation
import TestSupport
import Testing

/// `mta-sts record new --for`, `mta-sts zone` and `mta-sts serve --check` on configuration files.
@Suite("mta-sts record new --for, zone, serve --check")
struct HostCommandTests {
    static let policy = "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 86400\n"

    func config(_ extra: String = "", policyFile: String) throws -> String {
        try temporaryFile(Array("""
            https: []
            zone: {ttl: 600, addresses: [192.0.2.10, "2001:db8::10"]}
            domains:
              example.com: {mode: enforce, mx: [mx1.example.com], max_age: 86400, tlsrpt: "mailto:tlsrpt@example.com"}
              file.example: {file: \(policyFile)}
              customer.example: {proxy: "https://mta-sts.mx.provider.example/.well-known/mta-sts.txt"}
            \(extra)
            """.utf8), suffix: ".yml")
    }

    @Test("The TXT id is the content hash of the served policy: the same for the same policy, new when it changes")
    func recordFor() throws {
        let file = try temporaryFile(Array(Self.policy.utf8))
        let cfg = try config(policyFile: file)
        let r = try runMTASTS(["record", "new", "--for", "example.com", "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        // Same policy as a file (LF, canonicalised) → same id as `record new --policy` gives.
        let byPolicy = try runMTASTS(["record", "new", "--policy", file]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(r.stdout == "_mta-sts.example.com.\t600\tIN\tTXT\t\"\(byPolicy)\"\n")
        let f = try runMTASTS(["record", "new", "--for", "file.example", "--config", cfg])
        #expect(f.stdout == "_mta-sts.file.example.\t600\tIN\tTXT\t\"\(byPolicy)\"\n")
        // Change the policy: a new id.
        try Data(Self.policy.replacingOccurrences(of: "86400", with: "172800").utf8).write(to: URL(fileURLWithPath: file))
        let changed = try runMTASTS(["record", "new", "--for", "file.example", "--config", cfg])
        #expect(changed.status == 0 && changed.stdout != f.stdout && changed.stdout.contains("id="))
        // A proxied domain: the CNAME to the provider's record (its id follows the provider's policy).
        let p = try runMTASTS(["record", "new", "--for", "customer.example", "--config", cfg])
        #expect(p.stdout == "_mta-sts.customer.example.\t600\tIN\tCNAME\t_mta-sts.mx.provider.example.\n")
    }

    @Test("zone prints _mta-sts, the mta-sts host records and _smtp._tls")
    func zone() throws {
        let file = try temporaryFile(Array(Self.policy.utf8))
        let cfg = try config(policyFile: file)
        let r = try runMTASTS(["zone", "example.com", "customer.example", "--config", cfg])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init).filter { !$0.hasPrefix(";") && !$0.isEmpty }
        let id = try runMTASTS(["record", "new", "--policy", file]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(lines == [
            "_mta-sts.example.com.\t600\tIN\tTXT\t\"\(id)\"",
            "mta-sts.example.com.\t600\tIN\tA\t192.0.2.10",
            "mta-sts.example.com.\t600\tIN\tAAAA\t2001:db8::10",
            "_smtp._tls.example.com.\t600\tIN\tTXT\t\"v=TLSRPTv1; rua=mailto:tlsrpt@example.com\"",
            "_mta-sts.customer.example.\t600\tIN\tCNAME\t_mta-sts.mx.provider.example.",
            "mta-sts.customer.example.\t600\tIN\tA\t192.0.2.10",
            "mta-sts.customer.example.\t600\tIN\tAAAA\t2001:db8::10",
        ])
        #expect(r.stdout.contains("Serve the policy first, then publish or change the id."))
        // Every domain when none is named.
        #expect(try runMTASTS(["zone", "--config", cfg]).stdout.contains("_mta-sts.file.example."))
    }

    @Test("Exit codes: 1 for an invalid configuration or policy, 2 for an unreadable file, 64 for usage")
    func exitCodes() throws {
        let file = try temporaryFile(Array(Self.policy.utf8))
        let bad = try config("  bad.example: {mode: enforce, mx: [\"mx*.bad.example\"], max_age: 86400}", policyFile: file)
        let check = try runMTASTS(["serve", "--check", "--config", bad])
        #expect(check.status == 1 && check.stderr.contains("mx-wildcard-invalid"), "\(check.stderr)")
        #expect(try runMTASTS(["zone", "--config", bad]).status == 1)
        #expect(try runMTASTS(["serve", "--check", "--config", "/nonexistent.yml"]).status == 2)
        let missingFile = try config(policyFile: "/nonexistent-policy.txt")
        #expect(try runMTASTS(["serve", "--check", "--config", missingFile]).status == 2)
        let garbageFile = try temporaryFile(Array("mode: enforce\n".utf8))
        let invalidFile = try config(policyFile: garbageFile)
        let g = try runMTASTS(["serve", "--check", "--config", invalidFile])
        #expect(g.status == 1 && g.stderr.contains("policy-version-missing"), "\(g.stderr)")
        #expect(try runMTASTS(["zone", "unknown.example", "--config", try config(policyFile: file)]).status == 64)
        #expect(try runMTASTS(["record", "new", "--for", "example.com"]).status == 64)
        #expect(try runMTASTS(["serve", "--check", "--config", try config(policyFile: file)]).status == 0)
    }
}
