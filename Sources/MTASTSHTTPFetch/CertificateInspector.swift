import Foundation
import MTASTSCertificates
import MTASTSCore
import MTASTSDiscovery
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Says *why* the fetch refused a certificate, with the one judgement `mta-sts check` uses
/// (``CertificateEvaluator``), so `lookup`, the resolver and `check` name the same reason in the same words.
/// BoringSSL only reports CERTIFICATE_VERIFY_FAILED, and the name check sees only the leaf's names, so after
/// either failure we connect once more accepting any chain, capture the chain presented for the policy host's
/// SNI name and judge it. The verdict itself was already made by the refusing connection; this only explains
/// it (and costs nothing on a successful fetch).
enum CertificateInspector {
    static func explain(host: DomainName, address: IPAddress, port: Int, within limit: Duration,
                        evaluator: CertificateEvaluator, fallback: FetchFailure) async -> FetchFailure {
        guard limit > .zero, let chain = try? await presentedChain(host: host, address: address, port: port, within: limit),
              !chain.isEmpty else { return fallback }
        let now = Date()
        let report = await evaluator.evaluate(chain: chain, host: host, now: now)
        return failure(report, host: host, now: Int64(now.timeIntervalSince1970)) ?? fallback
    }

    /// The fetch's failure for a judged certificate: its first problem, in the judgement's words; nil when
    /// the judgement finds none. The codes are docs/lookup.md's: a self-signed certificate is one that does not
    /// chain to a trusted root (`tls-certificate-untrusted`).
    static func failure(_ report: CertificateReport, host: DomainName, now: Int64) -> FetchFailure? {
        guard let problem = report.problems.first else { return nil }
        let code: FetchFailure.Code = switch problem {
        case .expired: .tlsCertificateExpired
        case .notYetValid: .tlsCertificateNotYetValid
        case .selfSigned, .untrusted, .unparseable: .tlsCertificateUntrusted
        case .nameMismatch: .tlsCertificateName
        }
        return FetchFailure(code: code, message: report.sentence(problem, host: host, role: "policy host", now: now))
    }

    /// One context for every inspection (building one loads the trust store); the chain is accepted whatever
    /// it is, and captured, by the handler's verification callback.
    private static let context: NIOSSLContext? = {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .noHostnameVerification
        return try? NIOSSLContext(configuration: tls)
    }()

    /// The chain presented for `host` by SNI (DER, leaf first), read without verifying it.
    static func presentedChain(host: DomainName, address: IPAddress, port: Int, within limit: Duration) async throws -> [[UInt8]] {
        guard let context else { return [] }
        let group = MultiThreadedEventLoopGroup.singleton
        let handshake = group.next().makePromise(of: Void.self)
        let captured = ChainBox()
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(limit))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: host.value) { certificates, verdict in
                        captured.der = certificates.compactMap { try? $0.toDERBytes() }
                        verdict.succeed(.certificateVerified)
                    }
                    try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    try channel.pipeline.syncOperations.addHandler(HandshakeWaiter(promise: handshake))
                }
            }
            .connect(host: address.description, port: port).get()
        defer { channel.close(promise: nil) }
        let timeout = channel.eventLoop.scheduleTask(in: TimeAmount(limit)) { handshake.fail(ChannelError.connectTimeout(TimeAmount(limit))) }
        try await handshake.futureResult.get()
        timeout.cancel()
        return try await channel.eventLoop.submit { captured.der }.get()
    }

    /// Written by the verification callback on the channel's event loop, read there after the handshake.
    private final class ChainBox: @unchecked Sendable { var der: [[UInt8]] = [] }
}

/// Completes a promise when the TLS handshake finishes (or fails).
private final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<Void>
    init(promise: EventLoopPromise<Void>) { self.promise = promise }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { promise.succeed(()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}
