import Foundation
import MTASTSCertificateStore
import Testing

/// The ACME storage directory (issue 12, item 5): round trips, modes, atomic replacement and the order lock.
@Suite("Certificate store: a directory")
struct DirectoryCertificateStoreTests {
    static let chain = "-----BEGIN CERTIFICATE-----\nMIIBleaf\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n"
    static let key = "-----BEGIN PRIVATE KEY-----\nMIGHkey\n-----END PRIVATE KEY-----\n"

    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-acme-\(UUID().uuidString)").path
    }

    func mode(_ path: String) throws -> Int {
        ((try FileManager.default.attributesOfItem(atPath: path))[.posixPermissions] as? Int ?? -1) & 0o777
    }

    @Test("Account key and certificates round-trip and survive reopening; the first account key stays")
    func roundTrip() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try DirectoryCertificateStore(directory: dir)
        #expect(try await store.loadAccountKey() == nil)
        #expect(try await store.saveAccountKey("first\n") == "first\n")
        #expect(try await store.saveAccountKey("second\n") == "first\n")  // another host's key lost the race
        #expect(try await store.loadCertificate(name: "mta-sts.example.com") == nil)
        let one = StoredCertificate(chainPEM: Self.chain, keyPEM: Self.key)
        try await store.saveCertificate(one, name: "mta-sts.example.com")
        try await store.saveCertificate(StoredCertificate(chainPEM: Self.chain, keyPEM: "-----BEGIN EC PRIVATE KEY-----\r\nx\r\n-----END EC PRIVATE KEY-----"),
                                        name: "mta-sts.b.example")
        let reopened = try DirectoryCertificateStore(directory: dir)
        #expect(try await reopened.loadAccountKey() == "first\n")
        #expect(try await reopened.loadCertificate(name: "mta-sts.example.com") == one)
        #expect(try await reopened.loadCertificate(name: "mta-sts.b.example")?.keyPEM == "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n")
        #expect(try await reopened.names() == ["mta-sts.b.example", "mta-sts.example.com"])
        // A renewal replaces the pair.
        let renewed = StoredCertificate(chainPEM: Self.chain.replacingOccurrences(of: "leaf", with: "next"), keyPEM: Self.key)
        try await reopened.saveCertificate(renewed, name: "mta-sts.example.com")
        #expect(try await store.loadCertificate(name: "mta-sts.example.com") == renewed)
    }

    @Test("Directories 0700 (a looser existing one is tightened), files 0600")
    func modes() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let store = try DirectoryCertificateStore(directory: dir)
        _ = try await store.saveAccountKey("k\n")
        try await store.saveCertificate(StoredCertificate(chainPEM: Self.chain, keyPEM: Self.key), name: "mta-sts.example.com")
        _ = try await store.withOrderLock(name: "mta-sts.example.com") { true }
        for d in [dir, dir + "/certificates", dir + "/locks"] { #expect(try mode(d) == 0o700, "\(d)") }
        for f in [dir + "/account.key", dir + "/certificates/mta-sts.example.com.pem", dir + "/locks/mta-sts.example.com"] {
            #expect(try mode(f) == 0o600, "\(f)")
        }
    }

    @Test("A crash mid-write leaves only a temporary file: it is never read, and removed at the next open once its writer is gone")
    func crashLeftovers() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try DirectoryCertificateStore(directory: dir)
        let one = StoredCertificate(chainPEM: Self.chain, keyPEM: Self.key)
        try await store.saveCertificate(one, name: "mta-sts.example.com")
        // What a writer killed (kill -9) before its rename leaves: a half-written temporary file beside the target.
        // Its pid is past any pid_max, so no such process exists; another from this live process stays.
        let dead = dir + "/certificates/.mta-sts.example.com.pem.tmp-2147483000-7"
        let live = dir + "/certificates/.mta-sts.example.com.pem.tmp-\(getpid())-8"
        let deadAccount = dir + "/.account.key.tmp-2147483000-9"
        for f in [dead, live, deadAccount] { try Data("-----BEGIN CERTIFICATE-----\nMIIB".utf8).write(to: URL(fileURLWithPath: f)) }
        #expect(try await store.names() == ["mta-sts.example.com"])
        #expect(try await store.loadCertificate(name: "mta-sts.example.com") == one)
        #expect(try await store.loadAccountKey() == nil)

        _ = try DirectoryCertificateStore(directory: dir)
        #expect(!FileManager.default.fileExists(atPath: dead) && !FileManager.default.fileExists(atPath: deadAccount))
        #expect(FileManager.default.fileExists(atPath: live))
        // A successful write leaves no temporary file of its own.
        try await store.saveCertificate(one, name: "mta-sts.example.com")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/certificates").filter { $0.contains(".tmp-") }
        #expect(left == [".mta-sts.example.com.pem.tmp-\(getpid())-8"])
    }

    @Test("A corrupt stored file is an error naming it; names that are not host names are refused")
    func corruptAndNames() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try DirectoryCertificateStore(directory: dir)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/certificates/mta-sts.example.com.pem"))
        await #expect(throws: CertificateStoreError("\(dir)/certificates/mta-sts.example.com.pem is not a certificate chain followed by its one private key (corrupt)")) {
            try await store.loadCertificate(name: "mta-sts.example.com")
        }
        for bad in ["", "../x", "a/b", "MTA-STS.example.com", "a..b", ".a", "a.", String(repeating: "a", count: 254)] {
            await #expect(throws: CertificateStoreError.self, "\(bad)") { try await store.loadCertificate(name: bad) }
        }
    }

    @Test("The order lock excludes a second holder (here or another store on the directory) until released; other names are free")
    func orderLock() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (a, b) = (try DirectoryCertificateStore(directory: dir), try DirectoryCertificateStore(directory: dir))
        let inner = try await a.withOrderLock(name: "mta-sts.example.com") {
            [try await b.withOrderLock(name: "mta-sts.example.com") { "b ran" } ?? "b excluded",
             try await a.withOrderLock(name: "mta-sts.example.com") { "a ran again" } ?? "a excluded",
             try await b.withOrderLock(name: "mta-sts.other.example") { "other ran" } ?? "other excluded"]
        }
        #expect(inner == ["b excluded", "a excluded", "other ran"])
        #expect(try await b.withOrderLock(name: "mta-sts.example.com") { "b ran" } == "b ran")
        // A body that throws releases the lock too.
        await #expect(throws: CertificateStoreError.self) {
            try await a.withOrderLock(name: "mta-sts.example.com") { () async throws -> Int in throw CertificateStoreError("order failed") }
        }
        #expect(try await b.withOrderLock(name: "mta-sts.example.com") { 1 } == 1)
    }
}
