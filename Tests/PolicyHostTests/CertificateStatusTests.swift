import Foundation
import MTASTSCertificateStore
import Testing

/// The renewal rule and the directory store's status records (issue 12, item 6).
@Suite("Certificate store: renewal rule and status")
struct CertificateStatusTests {
    @Test("Renewal at two thirds of the lifetime: 60 days into a 90-day certificate, 4 days into a 6-day one")
    func renewalAtTwoThirds() {
        let start = Date(timeIntervalSince1970: 1_800_000_000), day = 86_400.0
        #expect(RenewalSchedule.renewalTime(notBefore: start, notAfter: start.addingTimeInterval(90 * day)) == start.addingTimeInterval(60 * day))
        #expect(RenewalSchedule.renewalTime(notBefore: start, notAfter: start.addingTimeInterval(6 * day)) == start.addingTimeInterval(4 * day))
        #expect(RenewalSchedule.renewalTime(notBefore: start, notAfter: start.addingTimeInterval(-day)) == start)
    }

    @Test("Directory status: none, an error, a success clearing it; a 0600 file, reread after reopening; a corrupt one is an error")
    func directoryStatus() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-acme-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try DirectoryCertificateStore(directory: dir)
        #expect(try await store.status(name: "mta-sts.example.com") == nil)
        let at = Date(timeIntervalSince1970: 1_800_000_000.5)
        try await store.saveStatus(name: "mta-sts.example.com", lastError: "challenge failed", at: at)
        let path = dir + "/status/mta-sts.example.com.json"
        let mode = ((try FileManager.default.attributesOfItem(atPath: path))[.posixPermissions] as? Int ?? -1) & 0o777
        #expect(mode == 0o600)
        let reopened = try DirectoryCertificateStore(directory: dir)
        #expect(try await reopened.status(name: "mta-sts.example.com") == CertificateStatus(lastError: "challenge failed", at: at))
        try await reopened.saveStatus(name: "mta-sts.example.com", lastError: nil, at: at.addingTimeInterval(60))
        #expect(try await store.status(name: "mta-sts.example.com") == CertificateStatus(lastError: nil, at: at.addingTimeInterval(60)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/status") == ["mta-sts.example.com.json"])  // no temporary left
        try "{".write(toFile: path, atomically: false, encoding: .utf8)
        await #expect(throws: CertificateStoreError.self) { try await store.status(name: "mta-sts.example.com") }
        await #expect(throws: CertificateStoreError.self) { try await store.status(name: "../etc") }
    }
}
