import Foundation
import Testing
import TestSupport

/// `mta-sts certs renew` without a running serve: the requests it leaves, and its refusals.
struct CertsRenewCommandTests {
    func config(_ acme: String) throws -> (path: String, storage: String) {
        let storage = FileManager.default.temporaryDirectory.appendingPathComponent("acme-renew-\(UUID().uuidString)").path
        let yaml = """
            https: 127.0.0.1:0
            certificate: /nonexistent.pem
            key: /nonexistent.key
            \(acme.replacingOccurrences(of: "STORAGE", with: storage))
            domains:
              example.com: {mode: testing, mx: [mx.example.com], max_age: 86400}
              example.net: {mode: testing, mx: [mx.example.net], max_age: 86400}
              own.example: {mode: testing, mx: [mx.own.example], max_age: 86400, certificate: /c.pem, key: /k.pem}
            """
        return (try temporaryFile(Array(yaml.utf8), suffix: ".yml"), storage)
    }

    @Test func leavesOneRequestPerACMEName() throws {
        let (path, storage) = try config("acme: {directory: https://acme.example/dir, storage: STORAGE}")
        defer { try? FileManager.default.removeItem(atPath: storage) }
        let all = try runMTASTS(["certs", "renew", "--config", path])
        #expect(all.status == 0, "\(all.stderr)")
        let requests = try FileManager.default.contentsOfDirectory(atPath: storage + "/renew").sorted()
        #expect(requests == ["mta-sts.example.com", "mta-sts.example.net"])  // own.example has its own certificate
        let mode = try FileManager.default.attributesOfItem(atPath: storage + "/renew/mta-sts.example.com")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(all.stdout.contains("renewal requested: mta-sts.example.com"))
    }

    @Test func refusesWhatIsNotAnACMEName() throws {
        let (path, storage) = try config("acme: {directory: https://acme.example/dir, storage: STORAGE}")
        defer { try? FileManager.default.removeItem(atPath: storage) }
        #expect(try runMTASTS(["certs", "renew", "own.example", "--config", path]).status == 64)
        #expect(try runMTASTS(["certs", "renew", "unknown.example", "--config", path]).status == 64)
        let (plain, _) = try config("")
        let none = try runMTASTS(["certs", "renew", "--config", plain])
        #expect(none.status == 1 && none.stderr.contains("no acme section"))
        // PostgreSQL storage takes requests as rows (ACMEServeMoreTests renews through it); a database that cannot be
        // reached is an I/O error that names it.
        let (fleet, _) = try config("acme: {directory: https://acme.example/dir, storage: 'postgres://u@127.0.0.1:1/db'}")
        let postgres = try runMTASTS(["certs", "renew", "--config", fleet])
        #expect(postgres.status == 2 && postgres.stderr.contains("PostgreSQL at 127.0.0.1:1/db"), "\(postgres.stderr)")
    }
}
