import Foundation
import MTASTSCore
@testable import MTASTSPolicyHost
import TestSupport
import Testing

/// Installing and replacing a domain's certificate in the running host (issue 12, item 4), over real TLS.
@Suite("Policy host: certificates swapped in without a restart", .serialized)
struct CertificateSwapTests {
    @Test("A replaced certificate is served by the next handshake; a kept-alive connection goes on; reload keeps it; removed, the default is back")
    func swap() async throws {
        let h = try await InProcessHost()
        let domain = try DomainName("swap.host.test")
        let (a, b) = (try selfSigned(["mta-sts.swap.host.test"]), try selfSigned(["mta-sts.swap.host.test"]))
        let (fa, fb) = (try fingerprint(pem: a.certificate), try fingerprint(pem: b.certificate))
        let defaultCertificate = try fingerprint(pem: String(contentsOfFile: h.certs + "/host-default.pem", encoding: .utf8))
        func served() async throws -> String { try await offPool { try h.handshake("mta-sts.swap.host.test").fingerprint } }

        // Until the domain has a certificate, its SNI gets the default one.
        #expect(try await served() == defaultCertificate)
        try h.host.certificates.set(domain: domain, chainPEM: a.certificate, keyPEM: a.key)
        #expect(try await served() == fa)

        let session = try TLSSession(port: h.port, name: "mta-sts.swap.host.test")
        defer { session.stop() }
        let request = "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.swap.host.test\r\n\r\n"
        try session.send(request)
        #expect(await session.waitFor { $0.components(separatedBy: "HTTP/1.1 200 OK").count == 2 })
        #expect(try fingerprint(pem: session.output) == fa)

        try h.host.certificates.set(domain: domain, chainPEM: b.certificate, keyPEM: b.key)
        #expect(try await served() == fb)
        // The open connection keeps its session and is answered again.
        try session.send(request)
        #expect(await session.waitFor { $0.components(separatedBy: "HTTP/1.1 200 OK").count == 3 }, "\(session.output)")
        #expect(session.isRunning)

        // A reload rebuilds the configuration's TLS context; the installed certificate stays.
        #expect(h.host.reload())
        #expect(try await served() == fb)
        h.host.certificates.remove(domain: domain)
        #expect(try await served() == defaultCertificate)
        await h.stop()
    }

    @Test("A certificate for another name, or with a key that is not its own, is refused and the served one stays")
    func refused() async throws {
        let h = try await InProcessHost()
        let domain = try DomainName("swap.host.test")
        let good = try selfSigned(["mta-sts.swap.host.test"])
        let other = try selfSigned(["mta-sts.other.host.test", "swap.host.test"])
        let wildcard = try selfSigned(["*.swap.host.test"])
        try h.host.certificates.set(domain: domain, chainPEM: good.certificate, keyPEM: good.key)

        #expect(throws: ServedCertificates.Refused.wrongName(host: "mta-sts.swap.host.test", names: ["mta-sts.other.host.test", "swap.host.test"])) {
            try h.host.certificates.set(domain: domain, chainPEM: other.certificate, keyPEM: other.key)
        }
        #expect(throws: ServedCertificates.Refused.keyMismatch) {
            try h.host.certificates.set(domain: domain, chainPEM: good.certificate, keyPEM: other.key)
        }
        #expect(throws: (any Error).self) { try h.host.certificates.set(domain: domain, chainPEM: "not PEM", keyPEM: good.key) }
        #expect(try await offPool { try h.handshake("mta-sts.swap.host.test").fingerprint } == (try fingerprint(pem: good.certificate)))
        #expect(h.host.certificates.chain(domain: domain)?.count == 1)
        // A wildcard covering the name is a valid certificate for it (RFC 8461 §3.3 name rules).
        try h.host.certificates.set(domain: domain, chainPEM: wildcard.certificate, keyPEM: wildcard.key)
        await h.stop()
    }
}

/// One `openssl s_client` session kept open: requests go to its standard input, its output is collected as it comes.
final class TLSSession: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let collected = LockedValue("")
    private let reader: Thread

    init(port: Int, name: String) throws {
        let outputPipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", name]
        process.standardInput = input
        process.standardOutput = outputPipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let collected = self.collected
        reader = Thread {
            while case let data = outputPipe.fileHandleForReading.availableData, !data.isEmpty {
                collected.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
        reader.start()
    }

    var output: String { collected.withLock { $0 } }
    var isRunning: Bool { process.isRunning }

    func send(_ text: String) throws { try input.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }

    /// Polls the output off the cooperative pool for up to 60 s.
    func waitFor(_ condition: @escaping @Sendable (String) -> Bool) async -> Bool {
        let collected = self.collected
        return (try? await offPool { waitUntil(within: 60) { condition(collected.withLock { $0 }) } }) ?? false
    }

    func stop() {
        try? input.fileHandleForWriting.close()
        // SIGKILL: s_client inherits the blocked signals of the thread that started it, so SIGTERM stays pending.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
