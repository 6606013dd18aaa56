import Foundation
import MTASTSCertificateStore
@testable import MTASTSStorePostgres
import Testing
import TestSupport

/// The status record of a name (`mta-sts certs list`'s last error) on a real PostgreSQL: what one host records
/// another reads, a success clears the error, and the table is made at first use.
@Suite("Certificate store: PostgreSQL status")
struct PostgresCertificateStatusTests {
    @Test("Status round trip across two hosts: none, an error, then a success that clears it (whole seconds kept)")
    func statusRoundTrip() async throws {
        let url = try await PostgresServer.freshURL()
        let (a, b) = (try PostgresCertificateStore(url: url), try PostgresCertificateStore(url: url))
        #expect(try await b.status(name: "mta-sts.example.com") == nil)
        let failed = Date(timeIntervalSince1970: 1_800_000_000)
        try await a.saveStatus(name: "mta-sts.example.com", lastError: "urn:ietf:params:acme:error:rateLimited: too many", at: failed)
        #expect(try await b.status(name: "mta-sts.example.com")
                == CertificateStatus(lastError: "urn:ietf:params:acme:error:rateLimited: too many", at: failed))
        let renewed = failed.addingTimeInterval(3600)
        try await b.saveStatus(name: "mta-sts.example.com", lastError: nil, at: renewed)
        #expect(try await a.status(name: "mta-sts.example.com") == CertificateStatus(lastError: nil, at: renewed))
        #expect(try await a.status(name: "mta-sts.other.example") == nil)
        await #expect(throws: CertificateStoreError.self) { try await a.saveStatus(name: "../x", lastError: nil, at: renewed) }
        await a.shutdown()
        await b.shutdown()
    }
}
