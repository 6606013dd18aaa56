import Foundation
import MTASTSCore
import MTASTSDiscovery
import Testing
import TestSupport
@testable import MTASTSChecker

/// A hostile MX on a real socket: it streams bytes for as long as anyone reads them.
@Suite("SMTP reply limits against a streaming server", .serialized)
struct SMTPLimitTests {
    static let loopback = IPAddress(bytes: [127, 0, 0, 1])!

    @Test("A reply line that never ends: the probe stops at the line limit, having read a bounded number of bytes")
    func endlessLine() async throws {
        let server = try StreamingServer(chunk: Array(repeating: UInt8(ascii: "A"), count: 4096))
        defer { server.stop() }
        // A deadline far beyond the test: without the limit the read would only end with it.
        let session = ProbeSession(timeout: .seconds(120))
        defer { session.close() }
        #expect(await session.connect(Self.loopback, server.port) == nil)
        guard case .failure(.protocolError(let why)) = await session.reply() else {
            Issue.record("the reply did not fail on its size")
            return
        }
        #expect(why == "the server sent a reply line longer than \(SMTPLimits.replyLine) bytes")
        // What reached the reader: the limit plus at most one socket read.
        let received = await session.received
        #expect(received > SMTPLimits.replyLine && received <= SMTPLimits.replyLine + 64 * 1024, "\(received)")
        // The probe closed the connection: the server's writes fail.
        #expect(await eventually(within: 60) { server.finished })
    }

    @Test("A multi-line reply that never ends: the SMTP probe fails with the reply limit named (smtp-protocol)")
    func endlessReply() async throws {
        let line = Array("220-mx.example.test an endless greeting, one short line after another\r\n".utf8)
        let server = try StreamingServer(chunk: Array((0..<64).flatMap { _ in line }))
        defer { server.stop() }
        let prober = try NIOConnectionProber(evaluator: CertificateEvaluator(), timeout: .seconds(120))
        let probe = await prober.smtp(host: try DomainName("mx.example.test"), address: Self.loopback, port: server.port, sni: true)
        #expect(probe.failure == .protocolError("the server sent more than \(SMTPLimits.reply) bytes without completing a reply (waiting for the greeting)"))
        #expect(await eventually(within: 60) { server.finished })
        let findings = CheckRules.evaluate(Fake.withSMTP(probe)).findings
        #expect(findings.contains { $0.code == "smtp-protocol" && $0.message.contains("more than \(SMTPLimits.reply) bytes") }, "\(findings)")
    }
}

/// A TCP server on 127.0.0.1 (ephemeral port), POSIX sockets: it accepts one connection and writes `chunk`
/// again and again, without reading, until a write fails (the peer closed), then closes.
final class StreamingServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var done = false
    private var connection: Int32 = -1

    init(chunk: [UInt8]) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && listen(listener, 1) == 0
                && getsockname(listener, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
        port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = listener
        Thread { [self] in
            let fd = accept(listener, nil, nil)
            lock.withLock { connection = fd }
            while fd >= 0 {
                let sent = chunk.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { break }
            }
            lock.withLock {
                if fd >= 0 { close(fd) }
                done = true
            }
        }.start()
    }

    /// True once the peer is gone and the server stopped writing.
    var finished: Bool { lock.withLock { done } }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        lock.withLock { if connection >= 0 && !done { shutdown(connection, Int32(SHUT_RDWR)) } }
    }
}
