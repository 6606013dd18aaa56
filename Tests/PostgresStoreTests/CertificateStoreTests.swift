import Foundation
import MTASTSCertificateStore
@testable import MTASTSStorePostgres
import Testing
import TestSupport

/// The fleet's ACME store on a real PostgreSQL: what one host saves another reads, and a name's order lock
/// (a session advisory lock) has one holder across hosts.
@Suite("Certificate store: PostgreSQL")
struct PostgresCertificateStoreTests {
    static let chain = "-----BEGIN CERTIFICATE-----\nMIIBleaf\n-----END CERTIFICATE-----\n"
    static let key = "-----BEGIN PRIVATE KEY-----\nMIGHkey\n-----END PRIVATE KEY-----\n"

    @Test("Round trip across two hosts: one account key (the first saved), certificates replaced as a pair, names listed; tables made at first use")
    func roundTrip() async throws {
        let url = try await PostgresServer.freshURL()
        let (a, b) = (try PostgresCertificateStore(url: url), try PostgresCertificateStore(url: url))
        #expect(try await a.loadAccountKey() == nil)
        #expect(try await a.saveAccountKey("key of a\n") == "key of a\n")
        #expect(try await b.saveAccountKey("key of b\n") == "key of a\n")
        #expect(try await b.loadAccountKey() == "key of a\n")
        let one = StoredCertificate(chainPEM: Self.chain, keyPEM: Self.key)
        try await a.saveCertificate(one, name: "mta-sts.example.com")
        #expect(try await b.loadCertificate(name: "mta-sts.example.com") == one)
        #expect(try await b.loadCertificate(name: "mta-sts.none.example") == nil)
        let renewed = StoredCertificate(chainPEM: Self.chain.replacingOccurrences(of: "leaf", with: "next"), keyPEM: Self.key + "x")
        try await b.saveCertificate(renewed, name: "mta-sts.example.com")
        try await b.saveCertificate(one, name: "mta-sts.a.example")
        #expect(try await a.loadCertificate(name: "mta-sts.example.com") == renewed)
        #expect(try await a.names() == ["mta-sts.a.example", "mta-sts.example.com"])
        await #expect(throws: CertificateStoreError.self) { try await a.saveCertificate(one, name: "x'; DROP TABLE y; --") }
        await a.shutdown()
        await b.shutdown()
    }

    @Test("The order lock: a second host is excluded while the first holds it, other names are free, and it is released after the body (also a throwing one)")
    func orderLock() async throws {
        let url = try await PostgresServer.freshURL()
        let (a, b) = (try PostgresCertificateStore(url: url), try PostgresCertificateStore(url: url))
        // Advisory locks are database-wide, not per schema: names of this run only.
        let name = "mta-sts.\(UUID().uuidString.lowercased()).example", other = "mta-sts.other-\(UUID().uuidString.lowercased()).example"
        let inner = try await a.withOrderLock(name: name) {
            // The holder saves through the pool's other connections while it holds the lock.
            try await a.saveCertificate(StoredCertificate(chainPEM: Self.chain, keyPEM: Self.key), name: name)
            return [try await b.withOrderLock(name: name) { "b ran" } ?? "b excluded",
                    try await b.withOrderLock(name: other) { "other ran" } ?? "other excluded"]
        }
        #expect(inner == ["b excluded", "other ran"])
        #expect(try await b.withOrderLock(name: name) { "b ran" } == "b ran")
        await #expect(throws: CertificateStoreError.self) {
            try await a.withOrderLock(name: name) { () async throws -> Int in throw CertificateStoreError("order failed") }
        }
        #expect(try await b.withOrderLock(name: name) { 1 } == 1)
        // A host that dies mid-order (its session ends, as with kill -9) releases the lock with its connection.
        let (started, holding) = AsyncStream<Void>.makeStream()
        let held = Task { try await a.withOrderLock(name: name) { holding.yield(); try await Task.sleep(for: .seconds(3600)); return 0 } }
        for await _ in started { break }
        #expect(try await b.withOrderLock(name: name) { 2 } == nil)
        try await PostgresServer.sql(url, """
            SELECT pg_terminate_backend(pid) FROM pg_locks
            WHERE locktype = 'advisory' AND classid = \(PostgresCertificateStore.lockClass) AND objsubid = 2 AND pid <> pg_backend_pid()
            """)
        #expect(await eventuallyLocked(b, name))
        held.cancel()
        _ = await held.result
        await a.shutdown()
        await b.shutdown()
    }

    /// True once `store` gets the lock of `name` (polled for up to a minute: the server notices the closed session).
    func eventuallyLocked(_ store: PostgresCertificateStore, _ name: String) async -> Bool {
        for _ in 0..<600 {
            if (try? await store.withOrderLock(name: name) { true }) == true { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
