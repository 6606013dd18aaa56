import Foundation
import MTASTSCore
import MTASTSDiscovery
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Says *why* a certificate chain failed verification. BoringSSL only reports CERTIFICATE_VERIFY_FAILED, so
/// after such a failure we connect once more without verification, look at the certificate the server
/// presents for the policy host's SNI name, and name the reason: expired, not yet valid, or not chaining
/// to a trusted root (self-signed or unknown issuer). The verdict itself was already made by the
/// verifying connection; this only explains it. (Name mismatches need no second look: our own DNS-ID
/// check has the names at hand.)
enum CertificateInspector {
    static func explain(host: DomainName, address: IPAddress, port: Int, within limit: Duration,
                        fallback: FetchFailure) async -> FetchFailure {
        guard limit > .zero,
              let leaf = try? await presentedCertificate(host: host, address: address, port: port, within: limit) else { return fallback }
        let now = time(nil)
        let names = dnsNames(leaf)
        let shownNames = names.isEmpty ? "no DNS names" : names.joined(separator: ", ")
        if leaf.notValidAfter < now {
            let date = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
            return FetchFailure(code: .tlsCertificateExpired,
                                message: "the certificate for \(host) (\(shownNames)) expired on \(date)")
        }
        if leaf.notValidBefore > now {
            let date = Date(timeIntervalSince1970: TimeInterval(leaf.notValidBefore))
            return FetchFailure(code: .tlsCertificateNotYetValid,
                                message: "the certificate for \(host) (\(shownNames)) is not valid before \(date)")
        }
        return FetchFailure(code: .tlsCertificateUntrusted,
                            message: "the certificate for \(host) (\(shownNames)) does not chain to a trusted root (self-signed or unknown issuer)")
    }

    /// The leaf certificate presented for `host` by SNI, read without verifying it.
    /// One context for every inspection (building one loads the trust store).
    private static let context: NIOSSLContext? = {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        return try? NIOSSLContext(configuration: tls)
    }()

    static func presentedCertificate(host: DomainName, address: IPAddress, port: Int, within limit: Duration) async throws -> NIOSSLCertificate? {
        guard let context else { return nil }
        let group = MultiThreadedEventLoopGroup.singleton
        let handshake = group.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(limit))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let tlsHandler = try NIOSSLClientHandler(context: context, serverHostname: host.value)
                    try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    try channel.pipeline.syncOperations.addHandler(HandshakeWaiter(promise: handshake))
                }
            }
            .connect(host: address.description, port: port).get()
        defer { channel.close(promise: nil) }
        let timeout = channel.eventLoop.scheduleTask(in: TimeAmount(limit)) { handshake.fail(ChannelError.connectTimeout(TimeAmount(limit))) }
        try await handshake.futureResult.get()
        timeout.cancel()
        return try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).peerCertificate
        }.get()
    }
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
