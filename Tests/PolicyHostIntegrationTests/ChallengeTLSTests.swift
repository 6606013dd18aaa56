import Foundation
import MTASTSCore
@testable import MTASTSPolicyHost
import TestSupport
import Testing

/// tls-alpn-01 (RFC 8737) answered by the policy host's HTTPS listener, over real TLS with openssl s_client and
/// curl as the clients; and hostile ClientHellos, which the listener reads before any TLS handler does.
@Suite("Policy host: tls-alpn-01 challenges on the HTTPS listener", .serialized)
struct ChallengeTLSTests {
    @Test("acme-tls/1 for a name with a pending challenge gets the challenge certificate, negotiates acme-tls/1 and is closed after the handshake")
    func challenge() async throws {
        let h = try await InProcessHost()
        let challenge = try selfSigned(["mta-sts.acme.host.test"])
        try h.host.challenges.set(name: "MTA-STS.acme.host.test.", certificatePEM: challenge.certificate, keyPEM: challenge.key)
        let expected = try fingerprint(pem: challenge.certificate)
        let defaultCertificate = try fingerprint(pem: String(contentsOfFile: h.certs + "/host-default.pem", encoding: .utf8))
        let (validation, ordinary, both) = try await offPool {
            (try h.handshake("mta-sts.acme.host.test", alpn: "acme-tls/1", waitForClose: true),
             try h.handshake("mta-sts.acme.host.test"),
             try h.handshake("mta-sts.acme.host.test", alpn: "http/1.1"))
        }
        #expect(!expected.isEmpty && validation.fingerprint == expected, "\(validation.run.stdout)")
        #expect(validation.alpn == "acme-tls/1")
        // -ign_eof reads until the server closes: it did, long before `timeout 60` (request_timeout is an hour).
        #expect(validation.run.status == 0, "\(validation.run.stderr)")
        // Ordinary handshakes for the same name: the default certificate (no certificate of its own yet), never the challenge.
        #expect(ordinary.fingerprint == defaultCertificate && ordinary.alpn == nil)
        #expect(both.fingerprint == defaultCertificate && both.alpn == "http/1.1")
        #expect(h.host.challenges.names == ["mta-sts.acme.host.test"])

        h.host.challenges.remove(name: "mta-sts.acme.host.test")
        let after = try await offPool { try h.handshake("mta-sts.acme.host.test", alpn: "acme-tls/1") }
        #expect(after.fingerprint.isEmpty && after.run.stderr.contains("no application protocol"), "\(after.run.stderr)")
        await h.stop()
    }

    @Test("Ordinary handshakes are unaffected: per-SNI certificate, http/1.1 or no ALPN, the policy served; acme-tls/1 without a challenge is refused (RFC 7301 §3.2)")
    func ordinary() async throws {
        let h = try await InProcessHost()
        let challenge = try selfSigned(["mta-sts.acme.host.test"])
        try h.host.challenges.set(name: "mta-sts.acme.host.test", certificatePEM: challenge.certificate, keyPEM: challenge.key)
        let staticCertificate = try fingerprint(pem: String(contentsOfFile: h.certs + "/host-static.pem", encoding: .utf8))
        let (plain, http, refused, offeredBoth, noSNI, policy) = try await offPool {
            (try h.handshake("mta-sts.static.host.test"),
             try h.handshake("mta-sts.static.host.test", alpn: "http/1.1"),
             try h.handshake("mta-sts.static.host.test", alpn: "acme-tls/1"),
             try h.handshake("mta-sts.static.host.test", alpn: "acme-tls/1,http/1.1"),
             try h.handshake(nil, alpn: "acme-tls/1"),
             try h.curl("mta-sts.static.host.test"))
        }
        #expect(plain.fingerprint == staticCertificate && plain.alpn == nil)
        #expect(http.fingerprint == staticCertificate && http.alpn == "http/1.1")
        // A challenge is pending for another name only: acme-tls/1 here gets the fatal alert and no certificate.
        #expect(refused.fingerprint.isEmpty && refused.run.stderr.contains("no application protocol"), "\(refused.run.stderr)")
        #expect(offeredBoth.fingerprint == staticCertificate && offeredBoth.alpn == "http/1.1")
        #expect(noSNI.fingerprint.isEmpty && noSNI.run.stderr.contains("no application protocol"))
        #expect(policy.status == 0 && policy.stdout == "version: STSv1\r\nmode: enforce\r\nmx: mx1.static.host.test\r\nmax_age: 604800\r\n",
                "\(policy.stderr)")
        await h.stop()
    }

    @Test("Hostile and garbled ClientHellos: each connection is closed, none crashes or stalls the listener")
    func hostile() async throws {
        let h = try await InProcessHost(requestTimeout: 1)
        let challenge = try selfSigned(["mta-sts.acme.host.test"])
        try h.host.challenges.set(name: "mta-sts.acme.host.test", certificatePEM: challenge.certificate, keyPEM: challenge.key)
        let hello = ClientHelloBytes.make(serverName: "mta-sts.acme.host.test", alpn: ["acme-tls/1"])
        var inputs: [(String, [UInt8])] = [
            ("garbage", (0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }),
            ("HTTP on the TLS port", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
            ("a record over 2^14", [22, 3, 1, 0x40, 0x01] + [UInt8](repeating: 1, count: 64)),
            ("a record header promising more than is sent", [22, 3, 1, 0x10, 0x00, 1, 0, 0x0F, 0xFC]),
            ("an extension longer than the hello", Array(hello.prefix(hello.count - 40)) + [0xFF, 0xFF]),
            ("SSLv2 hello", [0x80, 0x2E, 0x01, 0x03, 0x01] + [UInt8](repeating: 0, count: 45)),
            ("hello truncated then nothing", Array(hello.prefix(60))),
        ]
        // Each byte of the acme hello flipped in turn (a sample): never a crash, never a hang.
        for i in stride(from: 5, to: hello.count, by: 7) {
            var bad = hello
            bad[i] ^= 0xFF
            inputs.append(("flipped byte \(i)", bad))
        }
        let (port, all) = (h.port, inputs)
        let closed = try await offPool {
            all.map { name, bytes -> (String, Bool) in
                guard let fd = try? connectTCP(port: port, timeout: 60) else { return (name, false) }
                defer { close(fd) }
                try? sendAll(fd, Data(bytes))
                // Read until the server closes: at once (an alert), or at request_timeout for a hello never finished.
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = read(fd, &buffer, buffer.count)
                    if n == 0 || (n < 0 && errno == ECONNRESET) { return (name, true) }
                    if n < 0 { return (name, false) }  // the 60 s receive timeout: the server never closed it
                }
            }
        }
        for (name, wasClosed) in closed { #expect(wasClosed, "\(name)") }
        // Still serving both kinds of handshake.
        let (policy, validation) = try await offPool {
            (try h.curl("mta-sts.static.host.test"), try h.handshake("mta-sts.acme.host.test", alpn: "acme-tls/1"))
        }
        #expect(policy.status == 0 && policy.stdout.hasPrefix("version: STSv1\r\n"), "\(policy.stderr)")
        #expect(validation.fingerprint == (try fingerprint(pem: challenge.certificate)) && validation.alpn == "acme-tls/1")
        await h.stop()
    }
}
