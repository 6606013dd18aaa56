import Foundation
import MTASTSCore
@testable import MTASTSPolicyHost
import TestSupport
import Testing

/// Issue 12, item 6: the served certificates' expiry on /metrics (`mtasts_certificate_expiry_timestamp_seconds`)
/// and /healthz turning 503 for one within 7 days of expiry, for a file certificate (a real `serve` and its
/// admin listener) and for one installed while running (ACME's way in).
@Suite("Policy host: certificate expiry on /metrics and /healthz", .serialized)
struct CertificateExpiryTests {
    /// The leaf's not-after as openssl reads it, in Unix seconds.
    static func notAfter(_ pem: String) throws -> Int64 { Int64(try certificateValidity(pem: pem).notAfter.timeIntervalSince1970) }

    static func get(_ port: Int, _ path: String) throws -> (status: String, body: String) {
        let r = try runProgram("/usr/bin/curl", ["-sS", "--max-time", "60", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
        let status = String(r.stdout.split(separator: "\n").last ?? "")
        return (status, String(r.stdout.dropLast(status.count + 1)))  // and the newline before it
    }

    @Test("serve with a file certificate expiring in 3 days: /healthz 503 naming it, the gauge shows its not-after; a 30-day one after SIGHUP: 200")
    func fileCertificate() async throws {
        let expiring = try ThrowawayChain(names: ["mta-sts.file.host.test"], days: 3)
        let (chain, key) = try expiring.files()
        let certs = ServeHardeningTests.certs
        let port = freePort(), admin = freePort()
        @Sendable func yaml(_ certificate: String) throws -> String {
            try ServeHardeningTests.config(https: "127.0.0.1:\(port)", "admin: 127.0.0.1:\(admin)", domains: """
                  file.host.test: {mode: testing, mx: [mx.file.host.test], max_age: 86400, \(certificate)}
                  deflt.host.test: {mode: testing, mx: [mx.deflt.host.test], max_age: 86400}
                """)
        }
        let serve = try await offPool { try ServeProcess("expiry", yaml: try yaml("certificate: \(chain), key: \(key)"), ready: ("127.0.0.1", port)) }
        defer { serve.stop() }
        #expect(await HostWorld.eventually { try Self.get(admin, "/healthz").status == "503" })
        let health = try Self.get(admin, "/healthz")
        #expect(health.body.hasPrefix("certificate expires within 7 days: mta-sts.file.host.test (not after "), "\(health.body)")
        #expect(!health.body.contains("deflt"), "the default certificate (30 days) is healthy: \(health.body)")
        let metrics = try Self.get(admin, "/metrics").body
        #expect(metrics.contains("# TYPE mtasts_certificate_expiry_timestamp_seconds gauge\n"))
        #expect(metrics.contains("mtasts_certificate_expiry_timestamp_seconds{domain=\"file.host.test\"} \(try Self.notAfter(expiring.leaf))\n"), "\(metrics)")
        let defaultNotAfter = try Self.notAfter(String(contentsOfFile: certs + "/host-default.chain.pem", encoding: .utf8))
        #expect(metrics.contains("mtasts_certificate_expiry_timestamp_seconds{domain=\"deflt.host.test\"} \(defaultNotAfter)\n"), "\(metrics)")

        try serve.rewrite(try yaml(ServeHardeningTests.cert("file")))
        serve.signal(SIGHUP)
        let healed = await HostWorld.eventually { try Self.get(admin, "/healthz") == ("200", "ok\n") }
        let after = try Self.get(admin, "/healthz")
        #expect(healed, "\(after) \(serve.logText)")
    }

    @Test("A certificate installed while running (ACME) counts for its domain: 3 days left → 503 naming it, 60 days → 200; the gauge follows")
    func installedCertificate() async throws {
        let h = try await InProcessHost()
        let domain = try DomainName("acme.host.test")
        #expect(h.host.health().status.code == 200)
        let short = try ThrowawayChain(names: ["mta-sts.acme.host.test"], days: 3)
        try h.host.certificates.set(domain: domain, chainPEM: short.chain, keyPEM: short.key)
        let reply = h.host.health()
        let body = reply.body
        #expect(reply.status.code == 503)
        #expect(body.hasPrefix("certificate expires within 7 days: mta-sts.acme.host.test (not after ") && body.contains("2 day(s) left"), "\(body)")
        #expect(!body.contains("swap.host.test") && !body.contains("static.host.test"), "\(body)")
        #expect(h.host.metrics.exposition().contains("mtasts_certificate_expiry_timestamp_seconds{domain=\"acme.host.test\"} \(try Self.notAfter(short.leaf))\n"))

        let long = try ThrowawayChain(names: ["mta-sts.acme.host.test"], days: 60)
        try h.host.certificates.set(domain: domain, chainPEM: long.chain, keyPEM: long.key)
        #expect(h.host.health().status.code == 200)
        #expect(h.host.metrics.exposition().contains("mtasts_certificate_expiry_timestamp_seconds{domain=\"acme.host.test\"} \(try Self.notAfter(long.leaf))\n"))
        await h.stop()
    }
}
