@testable import MTASTSPolicyHost
import NIOCore
import NIOEmbedded
import NIOSSL
import TestSupport
import Testing

/// The ClientHello reader the HTTPS listener runs before any TLS handler: real BoringSSL hellos, split and
/// truncated, and malformed ones (attacker input).
@Suite("ClientHello: SNI and ALPN read before the TLS handler")
struct ClientHelloTests {
    /// The ClientHello BoringSSL sends for `serverName` offering `alpn`.
    static func boringSSLHello(serverName: String?, alpn: [String]) throws -> [UInt8] {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.applicationProtocols = alpn
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            try NIOSSLClientHandler(context: NIOSSLContext(configuration: tls), serverHostname: serverName))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        var bytes: [UInt8] = []
        while let b = try channel.readOutbound(as: ByteBuffer.self) { bytes += b.readableBytesView }
        _ = try? channel.finish()
        return bytes
    }

    @Test("BoringSSL's hellos: the SNI name and the ALPN list as offered")
    func real() throws {
        let acme = try Self.boringSSLHello(serverName: "mta-sts.example.com", alpn: ["acme-tls/1"])
        #expect(ClientHello.sniff(acme) == .hello(ClientHello(serverName: "mta-sts.example.com", applicationProtocols: ["acme-tls/1"])))
        let browser = try Self.boringSSLHello(serverName: "mta-sts.example.com", alpn: ["h2", "http/1.1"])
        #expect(ClientHello.sniff(browser) == .hello(ClientHello(serverName: "mta-sts.example.com", applicationProtocols: ["h2", "http/1.1"])))
        let bare = try Self.boringSSLHello(serverName: nil, alpn: [])
        #expect(ClientHello.sniff(bare) == .hello(ClientHello(serverName: nil, applicationProtocols: nil)))
    }

    @Test("Every proper prefix needs more; the hello split over many records reads the same")
    func prefixesAndRecords() throws {
        let hello = try Self.boringSSLHello(serverName: "mta-sts.example.com", alpn: ["acme-tls/1"])
        let expected = ClientHello.sniff(hello)
        for n in 0..<hello.count where ClientHello.sniff(hello.prefix(n)) != .needMore {
            Issue.record("prefix of \(n) bytes: \(ClientHello.sniff(hello.prefix(n)))")
        }
        let message = Array(hello.dropFirst(5))
        #expect(ClientHello.sniff(ClientHelloBytes.record(message, size: 100)) == expected)
        #expect(ClientHello.sniff(ClientHelloBytes.record(message, size: 1)) == .malformed)  // over 32 records
        // Bytes after the hello (a 0-RTT client's next records) do not change it.
        #expect(ClientHello.sniff(hello + [23, 3, 3, 0, 1, 0]) == expected)
    }

    @Test("Malformed hellos are malformed, never a hello with a name or protocols read past a boundary")
    func malformed() {
        let good = ClientHelloBytes.make(serverName: "mta-sts.example.com", alpn: ["acme-tls/1"])
        #expect(ClientHello.sniff(good) == .hello(ClientHello(serverName: "mta-sts.example.com", applicationProtocols: ["acme-tls/1"])))
        let sni = ClientHelloBytes.ext(0, ClientHelloBytes.vector16([0] + ClientHelloBytes.vector16(Array("a.example".utf8))))
        let cases: [(String, [UInt8])] = [
            ("application data record", [23] + good.dropFirst()),
            ("not TLS 3.x", [22, 2] + good.dropFirst(2)),
            ("record over 2^14", [22, 3, 1, 0x40, 0x01] + [UInt8](repeating: 0, count: 0x4001)),
            ("ServerHello", ClientHelloBytes.record([2] + good.dropFirst(6))),
            ("a second message after the hello", ClientHelloBytes.record(Array(good.dropFirst(5)) + [1, 0, 0, 0])),
            ("duplicate SNI", ClientHelloBytes.make(serverName: "mta-sts.example.com", alpn: ["acme-tls/1"], extraExtensions: [sni])),
            ("SNI with a trailing dot", ClientHelloBytes.make(serverName: "mta-sts.example.com.", alpn: nil)),
            ("SNI with a slash", ClientHelloBytes.make(serverName: "a/b.example", alpn: nil)),
            ("SNI with a NUL", ClientHelloBytes.make(serverName: "a\u{0}.example", alpn: nil)),
            ("empty SNI", ClientHelloBytes.make(serverName: "", alpn: nil)),
            ("empty ALPN name", ClientHelloBytes.make(serverName: "a.example", alpn: ["acme-tls/1", ""])),
            ("empty ALPN list", ClientHelloBytes.make(serverName: "a.example", alpn: [])),
            ("extension past the end", ClientHelloBytes.make(serverName: "a.example", alpn: nil, extraExtensions: [[0xAA, 0xAA, 0xFF, 0xFF]])),
            ("hello over 16 KiB", ClientHelloBytes.record(ClientHelloBytes.handshake([UInt8](repeating: 0, count: 16 * 1024 + 1)))),
            ("session id over 32", ClientHelloBytes.record(ClientHelloBytes.handshake([3, 3] + [UInt8](repeating: 0, count: 32) + [33]
                + [UInt8](repeating: 0, count: 33) + [0, 2, 0x13, 0x01, 1, 0]))),
        ]
        for (name, bytes) in cases { #expect(ClientHello.sniff(bytes) == .malformed, "\(name)") }
    }

    @Test("Every byte of a real hello corrupted in turn: an answer each time (no trap, no endless wait past the data)")
    func corrupted() throws {
        let hello = try Self.boringSSLHello(serverName: "mta-sts.example.com", alpn: ["acme-tls/1", "http/1.1"])
        var hellos = 0
        for i in hello.indices {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var bad = hello
                bad[i] ^= flip
                if case .hello(let h) = ClientHello.sniff(bad) {
                    hellos += 1
                    // What is read is always a name of allowed characters and non-empty protocol names.
                    #expect(h.serverName.map { !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) } } ?? true)
                    #expect(h.applicationProtocols?.allSatisfy { !$0.isEmpty } ?? true)
                }
            }
        }
        #expect(hellos > 0)  // most flips land in random bytes and key shares, which the reader does not judge
    }

    @Test("Routing: acme-tls/1 without a pending challenge is refused unless http/1.1 is offered too; everything else is ordinary")
    func route() {
        let challenges = ChallengeCertificates()
        func route(_ alpn: [String]?, name: String? = "mta-sts.example.com") -> String {
            switch challenges.route(.hello(ClientHello(serverName: name, applicationProtocols: alpn))) {
            case .ordinary: "ordinary"
            case .challenge: "challenge"
            case .noApplicationProtocol: "refused"
            }
        }
        #expect(route(nil) == "ordinary" && route(["http/1.1"]) == "ordinary" && route(["h2"]) == "ordinary")
        #expect(route(["acme-tls/1"]) == "refused" && route(["acme-tls/1"], name: nil) == "refused")
        #expect(route(["acme-tls/1", "http/1.1"]) == "ordinary")
        if case .ordinary = challenges.route(.malformed) {} else { Issue.record("a malformed hello is for BoringSSL to refuse") }
    }
}
