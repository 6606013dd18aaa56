import Foundation
import TestSupport
import Testing

/// End-to-end tests of the `mta-sts` executable: its exit codes, JSON contracts and output, run as a real
/// process exactly as an operator's script would run it.
@Suite("mta-sts command line")
struct CLITests {
    func run(_ args: [String], stdin: [UInt8] = []) throws -> CommandRun { try runMTASTS(args, stdin: stdin) }

    func temp(_ bytes: [UInt8]) throws -> String { try temporaryFile(bytes) }

    static let repo = repositoryRoot

    // MARK: record check

    @Test("record check: exit 0 and the JSON contract for a usable record")
    func recordValid() throws {
        let r = try run(["record", "check", "--json", "v=STSv1; id=20230615T153000; ext=1"])
        #expect(r.status == 0)
        #expect(r.json["valid"] as? Bool == true)
        #expect(r.json["id"] as? String == "20230615T153000")
        #expect(r.json["extensions"] as? [String: String] == ["ext": "1"])
        #expect((r.json["errors"] as? [Any])?.isEmpty == true)
        #expect(r.json["warnings"] is [Any])
    }

    @Test("record check: exit 1 with coded errors for a malformed record")
    func recordInvalid() throws {
        let r = try run(["record", "check", "--json", "v=STSv1; id=test-123"])
        #expect(r.status == 1)
        #expect(r.json["valid"] as? Bool == false)
        let errors = try #require(r.json["errors"] as? [[String: Any]])
        #expect(errors.first?["code"] as? String == "record-id-invalid")
        #expect(errors.first?["message"] is String)
        let human = try run(["record", "check", "v=STSv1; id=test-123"])
        #expect(human.status == 1)
        #expect(human.stdout.contains("record:1:10: error[record-id-invalid]"))
        #expect(human.stdout.contains("fix:"))
    }

    @Test("record check: several arguments are one RRset and the C8 selection rule applies")
    func recordRRset() throws {
        let one = try run(["record", "check", "--json", "v=spf1 -all", "v=STSv1; id=abc"])
        #expect(one.status == 0)
        #expect(one.json["selection"] as? String == "record")
        let two = try run(["record", "check", "--json", "v=STSv1; id=abc", "v=STSv1; id=def"])
        #expect(two.status == 1)
        #expect(two.json["selection"] as? String == "multiple")
        let none = try run(["record", "check", "v=spf1 -all"])
        #expect(none.status == 1)
        #expect(none.stdout.contains("record-none"))
    }

    @Test("Usage errors exit 64")
    func usage() throws {
        #expect(try run(["record", "check"]).status == 64)
        #expect(try run(["record", "new", "--id", "a-b"]).status == 64)
        #expect(try run(["policy", "new", "--mode", "enforce", "--max-age", "86400"]).status == 64)
        #expect(try run(["policy", "new", "--mode", "Enforce", "--mx", "a.example", "--max-age", "86400"]).status == 64)
        #expect(try run(["policy", "new", "--mode", "enforce", "--mx", "a.*.example", "--max-age", "86400"]).status == 64)
        #expect(try run(["policy", "new", "--mode", "enforce", "--mx", "a.example", "--max-age", "31557601"]).status == 64)
        #expect(try run(["policy", "match", "-", "not a host"]).status == 64)
    }

    // MARK: policy check

    @Test("policy check: exit 0 and the JSON contract for a valid policy, from a file and from stdin")
    func policyValid() throws {
        let text = Array("version: STSv1\r\nmode: enforce\r\nmx: *.mx.example.net\r\nmax_age: 604800\r\n".utf8)
        for args in [["policy", "check", "--json", try temp(text)], ["policy", "check", "--json", "-"], ["policy", "check", "--json"]] {
            let r = try run(args, stdin: text)
            #expect(r.status == 0, "\(args)")
            #expect(r.json["valid"] as? Bool == true)
            let policy = try #require(r.json["policy"] as? [String: Any])
            #expect(policy["version"] as? String == "STSv1")
            #expect(policy["mode"] as? String == "enforce")
            #expect(policy["max_age"] as? Int == 604800)
            #expect(policy["mx"] as? [String] == ["*.mx.example.net"])
        }
    }

    @Test("policy check: exit 1 with code, line, column, message and fix for each error")
    func policyInvalid() throws {
        let path = try temp(Array("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 86400\n".utf8))
        let r = try run(["policy", "check", "--json", path])
        #expect(r.status == 1)
        #expect(r.json["valid"] as? Bool == false)
        let error = try #require((r.json["errors"] as? [[String: Any]])?.first)
        #expect(error["code"] as? String == "policy-mode-invalid")
        #expect(error["line"] as? Int == 2)
        #expect(error["column"] as? Int == 7)
        #expect(error["message"] is String && error["fix"] is String)
        let human = try run(["policy", "check", path])
        #expect(human.stdout.contains("\(path):2:7: error[policy-mode-invalid]"))
        #expect(human.stdout.contains("mode: Enforce\n"))
    }

    @Test("policy check reads bytes exactly: a BOM is found, a blank line is strict-invalid but sender-valid")
    func policyBytesExact() throws {
        let bom = try run(["policy", "check", "--json", "-"], stdin: [0xEF, 0xBB, 0xBF] + Array("version: STSv1\nmode: none\nmax_age: 1\n".utf8))
        #expect(bom.status == 1)
        #expect((bom.json["errors"] as? [[String: Any]])?.first?["code"] as? String == "policy-bom")
        let blank = try run(["policy", "check", "--json", "-"], stdin: Array("version: STSv1\nmode: none\nmax_age: 1\n\n".utf8))
        #expect(blank.status == 1)
        #expect(blank.json["sender_valid"] as? Bool == true)
    }

    @Test("A missing file is an I/O error: exit 2 with a message")
    func missingFile() throws {
        let r = try run(["policy", "check", "/nonexistent/mta-sts.txt"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("cannot read /nonexistent/mta-sts.txt"))
    }

    // MARK: policy match

    @Test("policy match: exit 0 when allowed, 1 with the reason when not, 2 for an unusable policy")
    func match() throws {
        let path = try temp(Array("version: STSv1\nmode: enforce\nmx: *.mx.microsoft\nmax_age: 86400\n".utf8))
        let ok = try run(["policy", "match", "--json", path, "Tenant.MX.Microsoft."])
        #expect(ok.status == 0)
        #expect(ok.json["allowed"] as? Bool == true)
        #expect(ok.json["pattern"] as? String == "*.mx.microsoft")
        let no = try run(["policy", "match", "--json", path, "icewolf-li.h-v1.mx.microsoft"])
        #expect(no.status == 1)
        #expect(no.json["allowed"] as? Bool == false)
        #expect(no.json["suggestion"] as? String == "*.h-v1.mx.microsoft")
        #expect((no.json["reason"] as? String)?.contains("exactly one label") == true)
        let human = try run(["policy", "match", path, "icewolf-li.h-v1.mx.microsoft"])
        #expect(human.stdout.contains("not allowed") && human.stdout.contains("add `mx: *.h-v1.mx.microsoft`"))
        let broken = try temp(Array("mode: enforce\n".utf8))
        #expect(try run(["policy", "match", broken, "a.example"]).status == 2)
    }

    @Test("JSON: keys that may be unknown are written as null, keys of an absent record are left out (exact bytes)")
    func jsonNullsAndAbsentKeys() throws {
        let path = try temp(Array("version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400\n".utf8))
        let ok = try run(["policy", "match", "--json", path, "mail.example.com"])
        #expect(ok.stdout == #"{"allowed":true,"host":"mail.example.com","mode":"enforce","pattern":"mail.example.com","reason":null,"suggestion":null}"# + "\n")
        let record = try run(["record", "check", "--json", "v=STSv1; id=test-123"])
        #expect(record.stdout == #"{"errors":[{"code":"record-id-invalid","column":10,"fix":"use only A-Z, a-z and 0-9, at most 32 of them, e.g. `id=test123`","line":null,"message":"the id \"test-123\" is not 1 to 32 letters and digits","offset":9,"rfc":"RFC 8461 §3.1","severity":"error"}],"notes":[],"selection":"invalid","valid":false,"warnings":[]}"# + "\n")
    }

    // MARK: generators

    @Test("policy new prints a valid CRLF policy; U-labels become A-labels")
    func policyNew() throws {
        let r = try run(["policy", "new", "--mode", "enforce", "--mx", "*.mx.Bücher.example", "--mx", "mail.example.com", "--max-age", "604800"])
        #expect(r.status == 0)
        #expect(r.stdout == "version: STSv1\r\nmode: enforce\r\nmx: *.mx.xn--bcher-kva.example\r\nmx: mail.example.com\r\nmax_age: 604800\r\n")
        let check = try run(["policy", "check", "--json", "-"], stdin: Array(r.stdout.utf8))
        #expect(check.status == 0)
        #expect((check.json["notes"] as? [Any])?.isEmpty == true, "CRLF output needs no line-ending note")
        let none = try run(["policy", "new", "--mode", "none", "--max-age", "86400"])
        #expect(none.status == 0 && none.stdout == "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n")
    }

    @Test("record new: a timestamp id by default, a given id, or a stable content hash of a policy")
    func recordNew() throws {
        let stamp = try run(["record", "new"])
        #expect(stamp.status == 0)
        #expect(stamp.stdout.wholeMatch(of: /v=STSv1; id=\d{8}T\d{6};\n/) != nil, "\(stamp.stdout)")
        #expect(try run(["record", "new", "--id", "abc123"]).stdout == "v=STSv1; id=abc123;\n")
        let lf = try temp(Array("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n".utf8))
        let crlf = try temp(Array("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 86400".utf8))
        let other = try temp(Array("version: STSv1\nmode: enforce\nmx: b.example\nmax_age: 86400\n".utf8))
        let a = try run(["record", "new", "--policy", lf]).stdout
        #expect(a.wholeMatch(of: /v=STSv1; id=[0-9a-f]{32};\n/) != nil)
        #expect(try run(["record", "new", "--policy", crlf]).stdout == a)
        #expect(try run(["record", "new", "--policy", other]).stdout != a)
        let record = String(a.dropFirst(0).trimmingCharacters(in: .newlines))
        #expect(try run(["record", "check", record]).status == 0)
        #expect(try run(["record", "new", "--policy", try temp(Array("mode: x\n".utf8))]).status == 1)
    }

    // MARK: bundled examples (what scripts/run.sh checks)

    @Test("Every bundled example policy and record is valid; every broken one is not")
    func examples() throws {
        let dir = Self.repo.appendingPathComponent("examples")
        let fm = FileManager.default
        let good = try fm.contentsOfDirectory(atPath: dir.appendingPathComponent("policies").path).filter { $0.hasSuffix(".txt") }
        let bad = try fm.contentsOfDirectory(atPath: dir.appendingPathComponent("broken").path).filter { $0 != "records.txt" }
        #expect(good.count >= 3 && bad.count >= 2)
        for f in good { #expect(try run(["policy", "check", dir.appendingPathComponent("policies/\(f)").path]).status == 0, "\(f)") }
        for f in bad { #expect(try run(["policy", "check", dir.appendingPathComponent("broken/\(f)").path]).status == 1, "\(f)") }
        func records(_ file: String) throws -> [String] {
            try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8).split(separator: "\n")
                .map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty }
        }
        for r in try records("records.txt") { #expect(try run(["record", "check", r]).status == 0, "\(r)") }
        for r in try records("broken/records.txt") { #expect(try run(["record", "check", r]).status == 1, "\(r)") }
    }
}
