import Foundation
import MTASTSCertificates
import MTASTSCore
import MTASTSDiscovery
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS

/// The strict RFC 8461 §3.3 policy fetch: one HTTP/1.1 GET over TLS, on SwiftNIO directly.
///
/// - HTTPS only, to `https://<host>/.well-known/mta-sts.txt`, with SNI = the policy host.
/// - TLS 1.2 or later. BoringSSL verifies the chain (system trust roots plus any extra CA) and expiry;
///   the name is checked by ``CertificateIdentity`` after the handshake and **before** the request is
///   sent: SAN DNS-IDs only, wildcards only as a whole leftmost label (NIOSSL's own check is looser).
///   A refused certificate is explained by the one judgement `mta-sts check` uses (``CertificateInspector``).
/// - Connects to the addresses our `DNSResolver` returned, in order, moving on only when the connection
///   itself fails.
/// - No redirects (a 3xx is a failure), status 200 only, Content-Type `text/plain` (parameters ignored),
///   body capped at 64 KiB by Content-Length and while streaming, one **total** deadline over everything,
///   no HTTP cache (nothing is kept between fetches).
///
/// One TLS context (with the trust store loaded once) serves every fetch. (AsyncHTTPClient, the first
/// implementation, could only reach a given address through a new client per fetch, which rebuilt the
/// TLS context each time and cost ~9 ms of CPU per cold lookup; see BENCHMARKS.md.)
public struct HTTPPolicyFetcher: PolicyFetcher {
    public struct Configuration: Sendable {
        /// PEM file with extra trust roots (in addition to the system's).
        public var extraTrustRootsFile: String?
        /// Deadline for the whole fetch, all addresses together (RFC 8461 §3.3 suggests one minute).
        public var timeout: Duration
        /// Deadline for one TCP connection attempt.
        public var connectTimeout: Duration
        /// Largest body accepted (RFC 8461 §3.3 suggests 64 KiB).
        public var maxBodyBytes: Int
        /// The port to connect to: 443.
        public var port: Int

        public init(extraTrustRootsFile: String? = nil, timeout: Duration = .seconds(STSLimits.fetchTimeoutSeconds),
                    connectTimeout: Duration = .seconds(10), maxBodyBytes: Int = STSLimits.policyBodyCap, port: Int = 443) {
            self.extraTrustRootsFile = extraTrustRootsFile
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.maxBodyBytes = maxBodyBytes
            self.port = port
        }
    }

    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    private let configuration: Configuration
    private let context: NIOSSLContext
    private let group: any EventLoopGroup
    /// Explains a refused certificate (``CertificateInspector``); the same trust roots as `context`.
    private let evaluator: CertificateEvaluator

    public init(_ configuration: Configuration = .init(), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(SetupError) {
        self.configuration = configuration
        self.group = group
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12  // RFC 8461 §7.2
        // BoringSSL verifies the chain (trust, expiry); the name is ours (CertificateIdentity), see above.
        tls.certificateVerification = .noHostnameVerification
        tls.applicationProtocols = ["http/1.1"]
        // The body is complete before we close (the server closes too: `Connection: close`), so there is no point
        // waiting for the peer's close_notify: NIOSSL's default 5 s keeps each connection's TLS state (~25 KiB)
        // alive that long after it closed, which a burst of first lookups multiplies.
        tls.shutdownTimeout = .milliseconds(500)
        var extraRootsPEM: String?
        if let file = configuration.extraTrustRootsFile {
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(file))]
                extraRootsPEM = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw SetupError(description: "cannot read CA file \(file): \(error)")
            }
        }
        do { evaluator = try CertificateEvaluator(extraRootsPEM: extraRootsPEM) } catch {
            throw SetupError(description: "cannot read CA file \(configuration.extraTrustRootsFile ?? ""): \(error)")
        }
        do { context = try NIOSSLContext(configuration: tls) } catch {
            throw SetupError(description: "cannot set up TLS: \(error)")
        }
    }

    public func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.timeout
        var attempts: [PolicyFetchResult.Attempt] = []
        var last = FetchFailure(code: .hostNotFound, message: "no address to connect to")
        for address in addresses {
            let remaining = deadline - clock.now
            guard remaining > .zero else {
                last = .timeout(configuration.timeout)
                break
            }
            let start = clock.now
            let outcome = await attempt(host: host, address: address, within: remaining)
            let elapsed = clock.now - start
            switch outcome {
            case .success(let (body, summary)):
                attempts.append(.init(address: address, summary: summary, elapsed: elapsed))
                return PolicyFetchResult(.body(body), attempts: attempts)
            case .failure(var failure):
                if failure.code == .tlsCertificateInvalid || failure.code == .tlsCertificateName {
                    // Explaining the failure stays within the fetch's deadline.
                    failure = await CertificateInspector.explain(host: host, address: address, port: configuration.port,
                                                                 within: min(deadline - clock.now, .seconds(5)), evaluator: evaluator,
                                                                 fallback: failure)
                }
                attempts.append(.init(address: address, summary: failure.message, elapsed: elapsed))
                last = failure
                if !failure.isConnectFailure { return PolicyFetchResult(.failure(failure), attempts: attempts) }
            }
        }
        return PolicyFetchResult(.failure(last), attempts: attempts)
    }

    /// One GET at one address, bounded by `limit` from connect to the last body byte.
    private func attempt(host: DomainName, address: IPAddress, within limit: Duration) async -> Result<([UInt8], String), FetchFailure> {
        let socketAddress: SocketAddress
        do { socketAddress = try SocketAddress(ipAddress: address.description, port: configuration.port) } catch {
            return .failure(FetchFailure(code: .connectFailed, message: "bad address \(address)"))
        }
        let loop = group.next()
        let promise = loop.makePromise(of: ([UInt8], String).self)
        let total = configuration.timeout
        let context = self.context
        let maxBody = configuration.maxBodyBytes
        let connectLimit = min(configuration.connectTimeout, limit)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(connectLimit))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(try NIOSSLClientHandler(context: context, serverHostname: host.value))
                    try ops.addHTTPClientHandlers()
                    try ops.addHandler(PolicyGETHandler(host: host, maxBody: maxBody, promise: promise))
                }
            }
        let timeout = loop.scheduleTask(in: TimeAmount(limit)) { promise.fail(FetchFailure.timeout(total)) }
        let connect = bootstrap.connect(to: socketAddress)
        connect.whenFailure { promise.fail($0) }
        defer {
            timeout.cancel()
            connect.whenSuccess { $0.close(promise: nil) }
        }
        do {
            return .success(try await promise.futureResult.get())
        } catch let failure as FetchFailure {
            return .failure(failure)
        } catch {
            return .failure(Self.classify(error, limit: total))
        }
    }

    /// Maps transport errors to our failure codes.
    static func classify(_ error: any Error, limit: Duration) -> FetchFailure {
        if let e = error as? NIOSSLError {
            let text = String(describing: e)
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return FetchFailure(code: .tlsCertificateInvalid, message: "the certificate failed verification")
            }
            return FetchFailure(code: .tlsHandshake, message: "TLS handshake failed: \(boringSSLReason(text))")
        }
        if let e = error as? IOError {
            return FetchFailure(code: .connectFailed, message: "could not connect: \(String(cString: strerror(e.errnoCode)))")
        }
        if let e = error as? ChannelError {
            switch e {
            case .connectTimeout: return FetchFailure(code: .connectFailed, message: "could not connect: timed out")
            case .eof, .ioOnClosedChannel, .alreadyClosed:
                return FetchFailure(code: .httpBody, message: "the server closed the connection before a complete response")
            default: return FetchFailure(code: .httpError, message: "\(e)")
            }
        }
        if let e = error as? NIOConnectionError {
            let reasons = e.connectionErrors.map { String(describing: $0.error) }.joined(separator: "; ")
            return FetchFailure(code: .connectFailed, message: "could not connect: \(reasons)")
        }
        if error is HTTPParserError {
            return FetchFailure(code: .httpError, message: "the response is not valid HTTP/1.1: \(error)")
        }
        return FetchFailure(code: .httpError, message: String(describing: error))
    }
}

/// Sends the GET once the TLS handshake is done and the certificate's name is checked, then applies the
/// RFC 8461 §3.3 response rules while the response streams in.
private final class PolicyGETHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let host: DomainName
    private let maxBody: Int
    private let promise: EventLoopPromise<([UInt8], String)>
    private var contentType = ""
    private var body: [UInt8] = []
    private var done = false

    init(host: DomainName, maxBody: Int, promise: EventLoopPromise<([UInt8], String)>) {
        self.host = host
        self.maxBody = maxBody
        self.promise = promise
    }

    private func finish(_ context: ChannelHandlerContext, _ result: Result<([UInt8], String), any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            do {
                let leaf = try context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
                let names = try leaf.flatMap { CertificateReader.dnsNames(der: try $0.toDERBytes()) } ?? []
                // RFC 8461 §3.3: the certificate must be valid for the policy host (a SAN DNS-ID, no CN fallback).
                // The fetch then has the whole chain judged (CertificateInspector); this is the words if it cannot.
                guard CertificateIdentity.covers(names, host: host) else {
                    let report = CertificateReport(subject: "", issuer: "", dnsNames: names, notBefore: 0, notAfter: 0, chainLength: 1,
                                                   problems: [.nameMismatch])
                    finish(context, .failure(FetchFailure(code: .tlsCertificateName,
                                                          message: report.sentence(.nameMismatch, host: host, role: "policy host", now: 0))))
                    return
                }
            } catch {
                finish(context, .failure(error))
                return
            }
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: host.value)
            headers.add(name: "User-Agent", value: "mta-sts/0.1 (RFC 8461 policy fetch)")
            headers.add(name: "Accept", value: "text/plain")
            headers.add(name: "Connection", value: "close")
            let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: policyPath, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            let status = Int(head.status.code)
            if (300..<400).contains(status) {
                return finish(context, .failure(FetchFailure.redirect(status, location: head.headers.first(name: "Location"))))
            }
            guard status == 200 else { return finish(context, .failure(FetchFailure.status(status))) }
            guard let type = head.headers.first(name: "Content-Type"), FetchFailure.isTextPlain(type) else {
                return finish(context, .failure(FetchFailure.contentType(head.headers.first(name: "Content-Type"))))
            }
            if let length = head.headers.first(name: "Content-Length").flatMap(Int.init), length > maxBody {
                return finish(context, .failure(FetchFailure.tooLarge(limit: maxBody)))
            }
            contentType = type
        case .body(let chunk):
            guard body.count + chunk.readableBytes <= maxBody else {
                return finish(context, .failure(FetchFailure.tooLarge(limit: maxBody)))
            }
            body += chunk.readableBytesView
        case .end:
            finish(context, .success((body, "200 \(contentType), \(body.count) bytes")))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context, .failure(error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context, .failure(ChannelError.eof))
        context.fireChannelInactive()
    }
}

/// The reason token of a BoringSSL error text (`...:OPENSSL_internal:TLSV1_ALERT_PROTOCOL_VERSION at ...`),
/// explained where it is a common one.
public func boringSSLReason(_ text: String) -> String {
    guard let range = text.range(of: "OPENSSL_internal:") else { return text }
    let token = text[range.upperBound...].prefix { $0 != " " && $0 != "]" && $0 != ")" }
    switch token {
    case "TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL":
        return "the server does not offer TLS 1.2 or later (\(token); RFC 8461 §7.2 requires TLS 1.2)"
    case "WRONG_VERSION_NUMBER":
        return "the server does not speak TLS on this port (\(token))"
    default:
        return String(token)
    }
}

extension TimeAmount {
    init(_ duration: Duration) { self = .nanoseconds(duration.nanoseconds) }
}
