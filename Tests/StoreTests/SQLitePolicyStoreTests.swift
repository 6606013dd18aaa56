import Foundation
import MTASTSCore
import MTASTSDiscovery
import MTASTSStoreSQLite
import Testing
import TestSupport

@Suite("SQLite policy store")
struct SQLitePolicyStoreTests {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-store-\(UUID().uuidString).sqlite").path

    func entry(_ domain: String, mode: String = "enforce", id: String = "id1") throws -> CachedPolicy {
        let body = Array("version: STSv1\r\nmode: \(mode)\r\nmx: *.mx.example.net\r\nmax_age: 86400\r\n".utf8)
        var e = CachedPolicy(domain: try DomainName(domain), id: id, policy: STSPolicy.parse(body).policy!, body: body,
                             fetchedAt: 1_700_000_000, lastUsed: 1_700_000_100)
        e.failedID = "idX"
        e.failedAt = 1_700_000_050
        return e
    }

    @Test("Entries round-trip exactly, upserts replace, deletes remove")
    func roundTrip() async throws {
        let store = try SQLitePolicyStore(path: path)
        let a = try entry("a.example"), b = try entry("b.example", mode: "testing")
        try await store.save(a)
        try await store.save(b)
        #expect(Set(try await store.loadAll()) == [a, b])
        let a2 = try entry("a.example", mode: "none", id: "id2")
        try await store.save(a2)
        #expect(try await store.load(try DomainName("a.example")) == a2)
        try await store.saveUsage([(a2.domain, 1_800_000_000)])
        #expect(try await store.load(a2.domain)?.lastUsed == 1_800_000_000)
        try await store.delete(a2.domain)
        #expect(try await store.loadAll() == [b])
    }

    @Test("Loading streams the rows in batches of the size asked for, every row exactly once")
    func batches() async throws {
        let store = try SQLitePolicyStore(path: path)
        for i in 0..<25 {
            let e = try entry("d\(i).example")
            try await store.save(e)
            try await store.saveDANEStatus(StoredDANEStatus(domain: e.domain, regime: .mtaSTS, reason: "r\(i)", storedAt: 1, expiresAt: 2))
        }
        let policies = try await collectBatches { try await store.loadAll(batchSize: 10, $0) }
        #expect(policies.sizes == [10, 10, 5] && Set(policies.items.map(\.domain)).count == 25)
        #expect(try await collectBatches { try await store.loadDANEStatuses(batchSize: 12, $0) }.sizes == [12, 12, 1])
    }

    @Test("DANE statuses round-trip, upserts replace, purging the domain removes its status")
    func daneStatuses() async throws {
        let store = try SQLitePolicyStore(path: path)
        let a = try entry("a.example")
        try await store.save(a)
        let first = StoredDANEStatus(domain: a.domain, regime: .dane, reason: "usable TLSA", storedAt: 1_700_000_000, expiresAt: 1_700_000_300)
        try await store.saveDANEStatus(first)
        #expect(try await SQLitePolicyStore(path: path).loadDANEStatuses() == [first], "another connection (a restart) reads it")
        var second = first
        second.regime = .mtaSTS
        try await store.saveDANEStatus(second)
        #expect(try await store.loadDANEStatuses() == [second])
        try await store.delete(a.domain)
        #expect(try await store.loadDANEStatuses().isEmpty)
    }

    @Test("Another process's writes are seen, and change the external counter; our own do not")
    func externalChanges() async throws {
        let daemon = try SQLitePolicyStore(path: path)
        let before = try await daemon.externalChangeCounter()
        try await daemon.save(try entry("a.example"))
        #expect(try await daemon.externalChangeCounter() == before)
        let admin = try SQLitePolicyStore(path: path)  // e.g. `mta-sts cache purge` in another process
        #expect(try await admin.loadAll().count == 1)
        try await admin.delete(try DomainName("a.example"))
        #expect(try await daemon.externalChangeCounter() != before)
        #expect(try await daemon.loadAll().isEmpty)
    }

    @Test("A row whose body no longer parses is skipped, not fatal")
    func corruptRow() async throws {
        let store = try SQLitePolicyStore(path: path)
        try await store.save(try entry("a.example"))
        let sqlite = try runSQLite(path, "UPDATE policies SET body = X'00'")
        #expect(sqlite == 0)
        #expect(try await store.loadAll().isEmpty)
    }

    func runSQLite(_ path: String, _ sql: String) throws -> Int32 {
        // No sqlite3 CLI is assumed: write through a second store's connection.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()", path, sql]
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
