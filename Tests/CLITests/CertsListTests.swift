import Foundation
import MTASTSCertificateStore
import TestSupport
import Testing

/// `mta-sts certs list` (issue 12, item 6): file certificates from the test world's CA, the default pair, an ACME-like
/// chain in a directory store with its status record, a name ACME has nothing for yet, and a report host.
@Suite("mta-sts certs list")
struct CertsListTests {
    struct Row: Decodable, Equatable {
        var name: String
        var source: String
        var issuer: String?
        var not_after: String?
        var days_left: Int?
        var next_renewal: String?
        var last_error: String?
    }

    static func iso(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }

    @Test("Rows for file, default, acme and none sources and a report host, as JSON and as a table; a missing config exits 2")
    func list() async throws {
        let world = try await offPool { try Testbed.shared() }
        let certs = (world.caFile as NSString).deletingLastPathComponent + "/certs"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-certs-list-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try DirectoryCertificateStore(directory: dir + "/acme")
        let issued = try ThrowawayChain(names: ["mta-sts.acme.host.test"], days: 90, caName: "Pebble Intermediate CA test")
        try await store.saveCertificate(StoredCertificate(chainPEM: issued.chain, keyPEM: issued.key), name: "mta-sts.acme.host.test")
        try await store.saveStatus(name: "mta-sts.swap.host.test", lastError: "urn:ietf:params:acme:error:rateLimited: slow down",
                                   at: Date())
        let report = try ThrowawayChain(names: ["tlsrpt.host.test"], days: 20, caName: "Report CA")
        let reportFiles = try report.files()
        let yaml = """
            https: 127.0.0.1:0
            certificate: \(certs)/host-default.chain.pem
            key: \(certs)/host-default.key
            acme:
              directory: https://127.0.0.1:14000/dir
              storage: \(dir)/acme
            reports:
              hosts:
                tlsrpt.host.test: {certificate: \(reportFiles.chain), key: \(reportFiles.key)}
            domains:
              static.host.test: {mode: enforce, mx: [mx1.static.host.test], max_age: 604800, certificate: \(certs)/host-static.chain.pem, key: \(certs)/host-static.key}
              acme.host.test: {mode: testing, mx: [mx.acme.host.test], max_age: 86400}
              swap.host.test: {mode: testing, mx: [mx.swap.host.test], max_age: 86400}
            """
        let config = try temporaryFile(Array(yaml.utf8), suffix: "-certs.yml")

        let json = try runMTASTS(["certs", "list", "--json", "--config", config])
        #expect(json.status == 0, "\(json.stderr)")
        let rows = try JSONDecoder().decode([Row].self, from: Data(json.stdout.utf8))
        let staticValidity = try certificateValidity(pem: String(contentsOfFile: certs + "/host-static.chain.pem", encoding: .utf8))
        let acme = try certificateValidity(pem: issued.leaf), reportValidity = try certificateValidity(pem: report.leaf)
        let renewal = acme.notBefore.addingTimeInterval(acme.notAfter.timeIntervalSince(acme.notBefore) * 2 / 3)
        let days = { (d: Date) in Int(d.timeIntervalSinceNow / 86400) }
        #expect(rows == [
            Row(name: "mta-sts.acme.host.test", source: "acme", issuer: "CN=Pebble Intermediate CA test", not_after: Self.iso(acme.notAfter),
                days_left: days(acme.notAfter), next_renewal: Self.iso(renewal), last_error: nil),
            Row(name: "mta-sts.static.host.test", source: "file", issuer: "CN=MTA-STS testbed CA", not_after: Self.iso(staticValidity.notAfter),
                days_left: days(staticValidity.notAfter), next_renewal: nil, last_error: nil),
            Row(name: "mta-sts.swap.host.test", source: "none", issuer: nil, not_after: nil, days_left: nil, next_renewal: nil,
                last_error: "urn:ietf:params:acme:error:rateLimited: slow down"),
            Row(name: "tlsrpt.host.test", source: "file", issuer: "CN=Report CA", not_after: Self.iso(reportValidity.notAfter),
                days_left: days(reportValidity.notAfter), next_renewal: nil, last_error: nil),
        ])
        // Every key is present, null when unknown.
        #expect(json.stdout.contains(#""name":"mta-sts.swap.host.test","next_renewal":null,"not_after":null,"source":"none""#), "\(json.stdout)")

        let text = try runMTASTS(["certs", "list", "--config", config])
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.first == "NAME SOURCE NOT AFTER DAYS NEXT RENEWAL ISSUER LAST ERROR")
        #expect(lines.dropFirst().first == "mta-sts.acme.host.test acme \(Self.iso(acme.notAfter)) \(days(acme.notAfter)) \(Self.iso(renewal)) CN=Pebble Intermediate CA test -")
        #expect(lines.contains("mta-sts.swap.host.test none - - - - urn:ietf:params:acme:error:rateLimited: slow down"), "\(text.stdout)")
        #expect(lines.count == 5)

        // Without acme, a domain without its own certificate is served the default pair: source file.
        let plain = try temporaryFile(Array(yaml.replacingOccurrences(of: "acme:\n  directory: https://127.0.0.1:14000/dir\n  storage: \(dir)/acme\n", with: "").utf8),
                                      suffix: "-plain.yml")
        let plainRows = try JSONDecoder().decode([Row].self, from: Data(try runMTASTS(["certs", "list", "--json", "--config", plain]).stdout.utf8))
        let defaultValidity = try certificateValidity(pem: String(contentsOfFile: certs + "/host-default.chain.pem", encoding: .utf8))
        #expect(plainRows.first(where: { $0.name == "mta-sts.acme.host.test" })
                == Row(name: "mta-sts.acme.host.test", source: "file", issuer: "CN=MTA-STS testbed CA", not_after: Self.iso(defaultValidity.notAfter),
                       days_left: days(defaultValidity.notAfter), next_renewal: nil, last_error: nil))

        let missing = try runMTASTS(["certs", "list", "--config", dir + "/none.yml"])
        #expect(missing.status == 2 && missing.stderr.contains("none.yml"), "\(missing.stderr)")
    }

    @Test("A store that cannot be read (a corrupt certificate file) exits 2 naming it; a storage directory not made yet lists none and is not created")
    func unreadableStore() async throws {
        let world = try await offPool { try Testbed.shared() }
        let certs = (world.caFile as NSString).deletingLastPathComponent + "/certs"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-certs-bad-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let yaml = """
            https: 127.0.0.1:0
            certificate: \(certs)/host-default.chain.pem
            key: \(certs)/host-default.key
            acme: {directory: "https://127.0.0.1:14000/dir", storage: \(dir)}
            domains:
              acme.host.test: {mode: testing, mx: [mx.acme.host.test], max_age: 86400}
            """
        let config = try temporaryFile(Array(yaml.utf8), suffix: "-certs.yml")
        let fresh = try runMTASTS(["certs", "list", "--json", "--config", config])
        #expect(fresh.status == 0 && fresh.stdout.contains(#""name":"mta-sts.acme.host.test","next_renewal":null,"not_after":null,"source":"none""#),
                "\(fresh.stdout) \(fresh.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir))
        try FileManager.default.createDirectory(atPath: dir + "/certificates", withIntermediateDirectories: true)
        try Data("not PEM\n".utf8).write(to: URL(fileURLWithPath: dir + "/certificates/mta-sts.acme.host.test.pem"))
        let corrupt = try runMTASTS(["certs", "list", "--config", config])
        #expect(corrupt.status == 2 && corrupt.stderr.contains("mta-sts.acme.host.test.pem") && corrupt.stdout.isEmpty, "\(corrupt.stderr)")
    }
}
