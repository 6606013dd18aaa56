import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// ``ACMETransport`` over HTTPS (RFC 8555 §6.1: ACME is HTTPS only) on SwiftNIO + NIOSSL, as the policy fetch
/// (MTASTSHTTPFetch) does it: one HTTP/1.1 request per connection (`Connection: close`), TLS 1.2 or later with
/// full verification (chain and name) against the system roots plus an optional CA file, a body cap, and one
/// deadline over connect, handshake and the whole response. ACME exchanges are few and far between, so a
/// connection pool would buy nothing.
public struct NIOACMETransport: ACMETransport {
    public struct Configuration: Sendable {
        /// PEM file with extra trust roots for the ACME server (in addition to the system's): `acme.ca_file`.
        public var extraTrustRootsFile: String?
        /// Deadline for one exchange, from connect to the last body byte.
        public var timeout: Duration
        /// Largest response body accepted (a certificate chain is a few KiB).
        public var maxBodyBytes: Int
        public var userAgent: String

        public init(extraTrustRootsFile: String? = nil, timeout: Duration = .seconds(30), maxBodyBytes: Int = 1 << 20,
                    userAgent: String = "mta-sts/0.1 (ACME client)") {
            self.extraTrustRootsFile = extraTrustRootsFile
            self.timeout = timeout
            self.maxBodyBytes = maxBodyBytes
            self.userAgent = userAgent
        }
    }

    public struct TransportError: Error, CustomStringConvertible {
        public let description: String
    }

    private let configuration: Configuration
    private let context: NIOSSLContext
    private let group: any EventLoopGroup

    public init(_ configuration: Configuration = .init(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        self.configuration = configuration
        self.group = group
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.applicationProtocols = ["http/1.1"]
        tls.shutdownTimeout = .milliseconds(500)
        if let file = configuration.extraTrustRootsFile {
            do { tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(file))] } catch {
                throw TransportError(description: "cannot read CA file \(file): \(error)")
            }
        }
        context = try NIOSSLContext(configuration: tls)
    }

    public func send(_ request: ACMERequest) async throws -> ACMEResponse {
        guard let url = URL(string: request.url), url.scheme?.lowercased() == "https", let host = url.host, !host.isEmpty else {
            throw TransportError(description: "not an https URL: \(request.url)")
        }
        let port = url.port ?? 443
        var target = url.path.isEmpty ? "/" : url.path
        if let query = url.query { target += "?" + query }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: url.port.map { "\(host):\($0)" } ?? host)
        headers.add(name: "User-Agent", value: configuration.userAgent)
        headers.add(name: "Connection", value: "close")
        for header in request.headers { headers.add(name: header.name, value: header.value) }
        if request.method == .post { headers.add(name: "Content-Length", value: String(request.body.count)) }
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method.rawValue), uri: target, headers: headers)

        let loop = group.next()
        let promise = loop.makePromise(of: ACMEResponse.self)
        let context = self.context
        let maxBody = configuration.maxBodyBytes
        let body = request.body
        // SNI and the name check use the host name; an IP literal gets neither SNI nor a name (RFC 6066 §3).
        let serverName = Self.isIPLiteral(host) ? nil : host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(configuration.timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    try ops.addHTTPClientHandlers()
                    try ops.addHandler(ExchangeHandler(head: head, body: body, maxBody: maxBody, promise: promise))
                }
            }
        let limit = configuration.timeout
        let timeout = loop.scheduleTask(in: TimeAmount(limit)) {
            promise.fail(TransportError(description: "\(request.method.rawValue) \(request.url): no complete response within \(limit)"))
        }
        let connect = bootstrap.connect(host: host, port: port)
        connect.whenFailure { promise.fail(TransportError(description: "\(request.url): could not connect: \($0)")) }
        defer {
            timeout.cancel()
            connect.whenSuccess { $0.close(promise: nil) }
        }
        return try await promise.futureResult.get()
    }

    static func isIPLiteral(_ host: String) -> Bool {
        host.contains(":") || host.split(separator: ".").allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }
}

/// Writes the request once the channel is active (NIOSSL holds it until the handshake is done) and gathers
/// the response.
private final class ExchangeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let body: [UInt8]
    private let maxBody: Int
    private let promise: EventLoopPromise<ACMEResponse>
    private var response = ACMEResponse(status: 0)
    private var done = false

    init(head: HTTPRequestHead, body: [UInt8], maxBody: Int, promise: EventLoopPromise<ACMEResponse>) {
        self.head = head
        self.body = body
        self.maxBody = maxBody
        self.promise = promise
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<ACMEResponse, any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
        context.close(promise: nil)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            response.status = Int(head.status.code)
            response.headers = head.headers.map { (name: $0.name, value: $0.value) }
        case .body(let chunk):
            guard response.body.count + chunk.readableBytes <= maxBody else {
                return finish(context, .failure(NIOACMETransport.TransportError(description: "response body over \(maxBody) bytes")))
            }
            response.body += chunk.readableBytesView
        case .end:
            finish(context, .success(response))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, .failure(NIOACMETransport.TransportError(description: "the server closed the connection before a complete response")))
        context.fireChannelInactive()
    }
}
