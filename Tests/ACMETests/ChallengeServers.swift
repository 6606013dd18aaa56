import Foundation
import MTASTSACME
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The test's challenge responders on pebble's validation ports: http-01 (a plain HTTP server answering
/// `/.well-known/acme-challenge/<token>`) and tls-alpn-01 (a NIOSSL server that negotiates only `acme-tls/1`
/// and presents, by SNI, the challenge certificate from ``TLSALPNChallenge``). `tamper` makes http-01 answer a
/// wrong key authorization, for the failed-challenge test.
final class ChallengeServers: ACMEChallengeResponder, @unchecked Sendable {
    private let lock = NSLock()
    private var httpAnswers: [String: String] = [:]
    private var tlsCertificates: [String: (NIOSSLCertificate, NIOSSLPrivateKey)] = [:]
    private var channels: [any Channel] = []
    private var validations: [String] = []
    /// What pebble was answered with: "http-01 <token>" and "tls-alpn-01 <name>", in order.
    var answered: [String] { lock.withLock { validations } }
    let tamper: Bool

    init(address: String = "127.0.0.1", httpPort: Int, tlsPort: Int, tamper: Bool = false) async throws {
        self.tamper = tamper
        let group = MultiThreadedEventLoopGroup.singleton
        let http = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HTTP01Handler(answers: self))
                }
            }
            .bind(host: address, port: httpPort).get()
        // The default certificate never reaches pebble (every validation names its host by SNI); it only lets the
        // context be built.
        let placeholder = try TLSALPNChallenge.certificate(for: "placeholder.invalid", keyAuthorization: "x")
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: placeholder.certificateDER, format: .der))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(placeholder.privateKeyPEM.utf8), format: .pem)))
        tls.applicationProtocols = [TLSALPNChallenge.applicationProtocol]
        tls.sslContextCallback = { [weak self] values, promise in
            var override = NIOSSLContextConfigurationOverride()
            if let name = values.serverHostname?.lowercased(), let (certificate, key) = self?.tlsCertificate(name) {
                override.certificateChain = [.certificate(certificate)]
                override.privateKey = .privateKey(key)
            }
            promise.succeed(override)
        }
        let context = try NIOSSLContext(configuration: tls)
        let alpn = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                }
            }
            .bind(host: address, port: tlsPort).get()
        channels = [http, alpn]
    }

    func httpAnswer(_ token: String) -> String? {
        lock.withLock {
            guard let answer = httpAnswers[token] else { return nil }
            validations.append("http-01 \(token)")
            return answer
        }
    }

    private func tlsCertificate(_ name: String) -> (NIOSSLCertificate, NIOSSLPrivateKey)? {
        lock.withLock {
            guard let pair = tlsCertificates[name] else { return nil }
            validations.append("tls-alpn-01 \(name)")
            return pair
        }
    }

    func present(type: String, name: String, token: String, keyAuthorization: String) async throws {
        switch type {
        case ACMEChallenge.http01:
            lock.withLock { httpAnswers[token] = tamper ? keyAuthorization + "x" : keyAuthorization }
        case ACMEChallenge.tlsALPN01:
            let credentials = try TLSALPNChallenge.certificate(for: name, keyAuthorization: keyAuthorization)
            let certificate = try NIOSSLCertificate(bytes: credentials.certificateDER, format: .der)
            let key = try NIOSSLPrivateKey(bytes: Array(credentials.privateKeyPEM.utf8), format: .pem)
            lock.withLock { tlsCertificates[name] = (certificate, key) }
        default:
            throw ACMEClientError.unsupported(type)
        }
    }

    func remove(type: String, name: String, token: String) async {
        lock.withLock {
            httpAnswers[token] = nil
            tlsCertificates[name] = nil
        }
    }

    func close() async {
        for channel in channels { try? await channel.close() }
    }
}

/// Answers GET /.well-known/acme-challenge/<token> with the key authorization (RFC 8555 §8.3), 404 otherwise.
private final class HTTP01Handler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let answers: ChallengeServers
    private var path = ""

    init(answers: ChallengeServers) { self.answers = answers }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): path = head.uri
        case .body: break
        case .end:
            let prefix = "/.well-known/acme-challenge/"
            let answer = path.hasPrefix(prefix) ? answers.httpAnswer(String(path.dropFirst(prefix.count))) : nil
            let body = ByteBuffer(string: answer ?? "not found")
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/octet-stream")
            headers.add(name: "Content-Length", value: String(body.readableBytes))
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: answer == nil ? .notFound : .ok,
                                                                 headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
        }
    }
}
