import Foundation
@testable import MTASTSStorePostgres
import Testing

/// Issue 14, item 11: the password need not be on the command line.
@Suite("PostgreSQL password: password_file and PGPASSWORD")
struct PostgresPasswordTests {
    typealias C = PostgresStoreConfiguration

    func file(_ content: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pgpass-\(UUID().uuidString)").path
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("password_file: read once when opened, the trailing newline removed", arguments: ["s3cr#t/x\n", "s3cr#t/x\r\n", "s3cr#t/x"])
    func passwordFile(content: String) throws {
        let path = try file(content)
        let c = try C(url: "postgres://u@h/d?password_file=\(path)", environment: ["PGPASSWORD": "from-env"])
        try FileManager.default.removeItem(atPath: path)
        #expect(c.password == "s3cr#t/x", "password_file wins over PGPASSWORD")
        // Connections made later (the pool, the diagnosis) use what was read: the file is gone by now.
        #expect(try c.clientConfiguration().password == "s3cr#t/x")
        #expect(try c.connectionConfiguration().password == "s3cr#t/x")
    }

    @Test("password_file errors name the file, never its content")
    func passwordFileErrors() throws {
        let missing = "/nonexistent/mta-sts-pgpass"
        let empty = try file("\n")
        let both = try file("s3cret\n")
        defer { for p in [empty, both] { try? FileManager.default.removeItem(atPath: p) } }
        for (url, reason) in [("postgres://u@h/d?password_file=\(missing)", "cannot read password_file \(missing)"),
                              ("postgres://u@h/d?password_file=\(empty)", "password_file \(empty) is empty"),
                              ("postgres://u:other@h/d?password_file=\(both)", "not both")] {
            do {
                _ = try C(url: url, environment: [:])
                Issue.record("\(url) was accepted")
            } catch {
                #expect(error.description.contains(reason), "\(error.description)")
                #expect(!error.description.contains("s3cret") && !error.description.contains("other"), "\(error.description)")
            }
        }
    }

    @Test("PGPASSWORD is used when the URL has no password, never over one")
    func pgpassword() throws {
        #expect(try C(url: "postgres://u@h/d", environment: ["PGPASSWORD": "from-env"]).password == "from-env")
        #expect(try C(url: "postgres://u:in-url@h/d", environment: ["PGPASSWORD": "from-env"]).password == "in-url")
        #expect(try C(url: "postgres://u@h/d", environment: ["PGPASSWORD": ""]).password == nil)
        #expect(try C(url: "postgres://u@h/d", environment: [:]).password == nil)
    }
}
