import Foundation
import MTASTSACME
import Testing
import TestSupport

/// `mta-sts serve` against pebble, beyond ``ACMEServeTests``: http-01 answered on the plain listener with renewal at two
/// thirds of a short lifetime, and a fleet of two hosts on one PostgreSQL.
@Suite(.serialized) struct ACMEServeMoreTests {
    typealias Serve = ACMEServeTests.Serve
    static let address = ACMEServeTests.address

    /// The certificate `host:port` serves for `name`.
    static func served(port: Int, name: String) async throws -> String {
        try await offPool { try ACMEServeTests.servedFingerprint(port: port, name: name) }
    }

    static func setUp(_ label: String) throws -> (testbed: Testbed, directory: String) {
        let testbed = try Testbed.shared()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("acme-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return (testbed, directory)
    }

    @Test func http01OnThePlainListenerAndRenewalAtTwoThirdsOfAShortLifetime() async throws {
        let (testbed, directory) = try Self.setUp("http01")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Certificates valid for 90 s: due at 60 s (two thirds), ordered at the next minute's tick.
        let pebble = try await offPool { try Pebble(dnsServer: testbed.dnsServer, validity: 90) }
        defer { pebble.stop() }
        let (https, admin) = (freePort(), freePort())
        let config = directory + "/serve.yml"
        try Data(ACMEServeTests.configuration(listeners: "https: \(Self.address):\(https)\nhttp: \(Self.address):\(pebble.httpPort)",
                                              admin: admin, testbed: testbed, pebble: pebble, storage: directory + "/acme",
                                              challenge: "http-01", domains: ["deflt.host.test"]).utf8)
            .write(to: URL(fileURLWithPath: config))
        let metric = { (outcome: String) in (try? metricValue(port: admin, "mtasts_acme_orders_total{outcome=\"\(outcome)\"}")) ?? nil }
        let stored = directory + "/acme/certificates/mta-sts.deflt.host.test.pem"
        let serve = try await offPool { try Serve(config: config, admin: admin) }
        defer { serve.stop() }

        // 1. Issued over http-01: pebble fetched the key authorization from the plain listener (the HTTPS listener is
        //    not on pebble's tlsPort: tls-alpn-01 could not have succeeded). An hour at most: a deadline that is not the subject.
        #expect(await eventually(within: 3600) { metric("issued") == 1 }, "\(serve.logText)\n\(pebble.log)")
        let first = try ACMEServeTests.fingerprint(pem: try String(contentsOfFile: stored, encoding: .utf8))
        #expect(try await Self.served(port: https, name: "mta-sts.deflt.host.test") == first)
        // With no challenge pending the path is an ordinary 404; the plain listener still serves nothing else new.
        let probe = try await offPool {
            try runProgram("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: mta-sts.deflt.host.test",
                                             "http://\(Self.address):\(pebble.httpPort)/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"])
        }
        #expect(probe.stdout == "404")

        // 2. Renewed by itself at two thirds of the lifetime (no request, no restart), and the new one is served.
        #expect(await eventually(within: 3600) { metric("issued") == 2 }, "\(serve.logText)")
        #expect(metric("failed") == 0, "\(serve.logText)")
        let second = try ACMEServeTests.fingerprint(pem: try String(contentsOfFile: stored, encoding: .utf8))
        #expect(second != first)
        #expect(await eventually(within: 3600) { (try? await Self.served(port: https, name: "mta-sts.deflt.host.test")) == second })
    }

    @Test func twoHostsOnOnePostgreSQLOrderEachNameOnceAndAnswerEachOthersChallenges() async throws {
        let (testbed, directory) = try Self.setUp("fleet")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let url = try await PostgresServer.freshURL()
        let pebble = try await offPool { try Pebble(dnsServer: testbed.dnsServer) }
        defer { pebble.stop() }
        // Host a listens where pebble validates tls-alpn-01 (127.0.4.1:tlsPort); host b elsewhere. Whichever orders, the
        // CA's validation reaches a: it answers from the shared store.
        let ports = ["a": (https: pebble.tlsPort, admin: freePort()), "b": (https: freePort(), admin: freePort())]
        let write = { (host: String, domains: [String]) in
            let p = ports[host]!
            try Data(ACMEServeTests.configuration(listeners: "https: \(Self.address):\(p.https)", admin: p.admin, testbed: testbed,
                                                  pebble: pebble, storage: url, domains: domains).utf8)
                .write(to: URL(fileURLWithPath: "\(directory)/\(host).yml"))
        }
        let metric = { (host: String, outcome: String) in
            (try? metricValue(port: ports[host]!.admin, "mtasts_acme_orders_total{outcome=\"\(outcome)\"}")) ?? nil
        }
        let issued = { (metric("a", "issued") ?? 0) + (metric("b", "issued") ?? 0) }
        let storedFingerprint = { (name: String) async throws -> String in
            let rows = try await PostgresServer.sql(url, "SELECT chain_pem FROM mta_sts_acme_certificates WHERE name = '\(name)'")
            guard let pem = rows.first ?? nil else { return "none" }
            return try ACMEServeTests.fingerprint(pem: pem)
        }
        // Both hosts serve `name` with the stored certificate (the one that did not order loads it within a minute).
        let bothServeStored = { (name: String) async -> Bool in
            await eventually(within: 3600) {
                guard let want = try? await storedFingerprint(name), want != "none" else { return false }
                for host in ["a", "b"] where (try? await Self.served(port: ports[host]!.https, name: name)) != want { return false }
                return true
            }
        }
        let first = ["deflt.host.test", "static.host.test"]
        try write("a", first)
        try write("b", first)
        let a = try await offPool { try Serve(config: "\(directory)/a.yml", admin: ports["a"]!.admin) }
        defer { a.stop() }
        let b = try await offPool { try Serve(config: "\(directory)/b.yml", admin: ports["b"]!.admin) }
        defer { b.stop() }
        let logs = { "host a:\n\(a.logText)\nhost b:\n\(b.logText)" }

        // 1. Started together: each name is ordered once in the fleet, and both hosts serve it.
        #expect(await eventually(within: 3600) { issued() == 2 }, "\(logs())")
        for name in first { #expect(await bothServeStored("mta-sts.\(name)"), "\(logs())") }
        #expect(issued() == 2 && metric("a", "failed") == 0 && metric("b", "failed") == 0, "\(logs())")

        // 2. A rolling configuration change: b learns file.host.test first and orders it; the CA validates at a, which
        //    does not serve that domain yet and answers the challenge b published in the store.
        let issuedByB = metric("b", "issued") ?? 0
        try write("b", first + ["file.host.test"])
        kill(b.process.processIdentifier, SIGHUP)
        #expect(await eventually(within: 3600) { metric("b", "issued") == issuedByB + 1 }, "\(logs())")
        #expect(issued() == 3, "\(logs())")
        #expect(metric("b", "failed") == 0, "\(logs())")
        let issuedByA = metric("a", "issued")
        try write("a", first + ["file.host.test"])
        kill(a.process.processIdentifier, SIGHUP)
        #expect(await bothServeStored("mta-sts.file.host.test"), "\(logs())")
        #expect(metric("a", "issued") == issuedByA, "a loads b's certificate, it does not order again: \(logs())")

        // 3. `certs renew` on PostgreSQL storage: a row any host takes; one renews, both serve the new certificate.
        let before = try await storedFingerprint("mta-sts.deflt.host.test")
        let renew = try await offPool { try runProgram(mtastsBinary, ["certs", "renew", "deflt.host.test", "--config", "\(directory)/a.yml"]) }
        #expect(renew.status == 0 && renew.stdout.contains("renewal requested: mta-sts.deflt.host.test"), "\(renew.stderr)")
        #expect(await eventually(within: 3600) { issued() == 4 }, "\(logs())")
        #expect(try await storedFingerprint("mta-sts.deflt.host.test") != before)
        #expect(await bothServeStored("mta-sts.deflt.host.test"), "\(logs())")
        #expect(try await PostgresServer.sql(url, "SELECT count(*)::text FROM mta_sts_acme_renewals") == ["0"])
        #expect(metric("a", "failed") == 0 && metric("b", "failed") == 0, "\(logs())")
    }

    /// Issue 12's faults with a real CA: a certificate that cannot be saved, and an account the CA deactivated. Each is
    /// logged with the domain (and the CA's problem type), counted `failed`, retried, and the listener keeps serving
    /// every other domain and the certificate it had.
    @Test func unwritableStorageAndADeactivatedAccountAreLoggedCountedAndRetried() async throws {
        let (testbed, directory) = try Self.setUp("faults")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certs = (testbed.caFile as NSString).deletingLastPathComponent + "/certs"
        let pebble = try await offPool { try Pebble(dnsServer: testbed.dnsServer) }
        defer { pebble.stop() }
        let (port, admin) = (pebble.tlsPort, freePort())
        let config = directory + "/serve.yml"
        try Data((ACMEServeTests.configuration(listeners: "https: \(Self.address):\(port)", admin: admin, testbed: testbed, pebble: pebble,
                                               storage: directory + "/acme", domains: ["deflt.host.test"])
            + "  static.host.test: {mode: enforce, mx: [mx.static.host.test], max_age: 86400, certificate: \(certs)/host-static.chain.pem, key: \(certs)/host-static.key}\n").utf8)
            .write(to: URL(fileURLWithPath: config))
        // A directory where the certificate file goes: nothing can replace it, not even as root.
        let blocker = directory + "/acme/certificates/mta-sts.deflt.host.test.pem"
        try FileManager.default.createDirectory(atPath: blocker + "/x", withIntermediateDirectories: true)
        let metric = { (outcome: String) in (try? metricValue(port: admin, "mtasts_acme_orders_total{outcome=\"\(outcome)\"}")) ?? nil }
        let serve = try await offPool { try Serve(config: config, admin: admin) }
        defer { serve.stop() }
        let staticPolicy = {
            try await offPool {
                try runProgram("/usr/bin/curl", ["-sS", "--cacert", testbed.caFile, "--resolve", "mta-sts.static.host.test:\(port):\(Self.address)",
                                                 "https://mta-sts.static.host.test:\(port)/.well-known/mta-sts.txt"])
            }
        }
        // `certs renew`, then SIGHUP: the reload's tick takes the request at once (no minute's wait).
        let renewNow = {
            let renew = try await offPool { try runProgram(mtastsBinary, ["certs", "renew", "deflt.host.test", "--config", config]) }
            #expect(renew.status == 0, "\(renew.stderr)")
            kill(serve.process.processIdentifier, SIGHUP)
        }

        // 1. The order succeeds at the CA, the save fails: logged with the domain and the path, counted, nothing installed.
        #expect(await eventually(within: 3600) { (metric("failed") ?? 0) >= 1 }, "\(serve.logText)")
        #expect(metric("issued") == 0)
        // (The count comes just before the log line.)
        let logged = await eventually(within: 3600) {
            let log = serve.logText
            return log.contains("ACME order failed") && log.contains("domain=deflt.host.test") && log.contains("mta-sts.deflt.host.test.pem")
        }
        #expect(logged, "\(serve.logText)")
        let during = try await staticPolicy()
        #expect(during.status == 0 && during.stdout.contains("mode: enforce"), "\(during.stderr)")
        let defaultPEM = try String(contentsOfFile: certs + "/host-default.chain.pem", encoding: .utf8)
        #expect(try await Self.served(port: port, name: "mta-sts.deflt.host.test") == ACMEServeTests.fingerprint(pem: defaultPEM))

        // 2. Repaired: the retry (a renewal request skips the backoff) issues and installs.
        try FileManager.default.removeItem(atPath: blocker)
        try await renewNow()
        #expect(await eventually(within: 3600) { metric("issued") == 1 }, "\(serve.logText)")
        let issued = try ACMEServeTests.fingerprint(pem: try String(contentsOfFile: blocker, encoding: .utf8))
        #expect(try await Self.served(port: port, name: "mta-sts.deflt.host.test") == issued)

        // 3. The CA deactivates the account (RFC 8555 §7.3.6, here by its own key): the next order is refused with
        //    `unauthorized`, logged with the problem type and what to do, counted; the issued certificate stays served.
        let key = try AccountKey(pem: try String(contentsOfFile: directory + "/acme/account.key", encoding: .utf8))
        let client = ACMEClient(directoryURL: pebble.directoryURL, accountKey: key, transport: try NIOACMETransport(.init(extraTrustRootsFile: pebble.caFile)))
        _ = try await client.findAccount()
        #expect(try await client.deactivateAccount().status == .deactivated)
        let failedBefore = metric("failed") ?? 0
        try await renewNow()
        #expect(await eventually(within: 3600) { (metric("failed") ?? 0) > failedBefore }, "\(serve.logText)")
        let refused = await eventually(within: 3600) {
            serve.logText.contains("problem=urn:ietf:params:acme:error:unauthorized") && serve.logText.contains("account.key aside")
        }
        #expect(refused, "\(serve.logText)")
        #expect(try await Self.served(port: port, name: "mta-sts.deflt.host.test") == issued)
        let after = try await staticPolicy()
        #expect(after.status == 0 && after.stdout.contains("mode: enforce"), "\(after.stderr)")
    }
}
