import NIOCore
import NIOSSL
import NIOTLS

/// First handler of an HTTPS connection: holds the bytes until the ClientHello is complete, then puts the TLS
/// handler that fits it in its place and hands it every byte read so far. The TLS context is chosen here, not in
/// BoringSSL's certificate callback, because that callback sees the SNI name but not the ALPN list, and a
/// tls-alpn-01 validation is told apart from a sender by the pair (RFC 8737 §3).
///
/// The deadline for the whole handshake is the request handler's (`request_timeout` from connecting), which is
/// already in the pipeline behind this one; the hello is at most ``ClientHello/maxLength`` bytes.
final class ClientHelloSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// A fatal `no_application_protocol` (120) alert record (RFC 8446 §6; RFC 7301 §3.2), sent in the clear
    /// before any ServerHello.
    static let noApplicationProtocolAlert: [UInt8] = [21, 3, 3, 0, 2, 2, 120]

    private let host: PolicyHost
    private var buffered: ByteBuffer?
    private var decided = false

    init(host: PolicyHost) { self.host = host }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else { return }
        var input = unwrapInboundIn(data)
        if var b = buffered {
            b.writeBuffer(&input)
            input = b
        }
        let sniff = input.withUnsafeReadableBytes { ClientHello.sniff($0) }
        guard sniff != .needMore else {
            buffered = input
            return
        }
        decided = true
        buffered = nil
        let ops = context.pipeline.syncOperations
        do {
            switch host.challenges.route(sniff) {
            case .ordinary:
                // The context in force now (a reload swaps it for new handshakes).
                guard let tls = host.state.tls else { throw ChannelError.ioOnClosedChannel }
                try ops.addHandler(NIOSSLServerHandler(context: tls), position: .after(self))
            case .challenge(let tls):
                try ops.addHandler(ChallengeHandshakeCloser(), position: .after(self))
                try ops.addHandler(NIOSSLServerHandler(context: tls), position: .after(self))
                let name = if case .hello(let hello) = sniff { hello.serverName ?? "" } else { "" }
                host.logger.info("tls-alpn-01 validation", metadata: ["name": "\(name)", "remote": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
            case .noApplicationProtocol:
                context.writeAndFlush(NIOAny(ByteBuffer(bytes: Self.noApplicationProtocolAlert)))
                    .whenComplete { [context] _ in context.close(promise: nil) }
                return
            }
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(wrapInboundOut(input))
        ops.removeHandler(context: context, promise: nil)
    }
}

/// Behind the TLS handler of a tls-alpn-01 validation: `acme-tls/1` carries no application data, so nothing is
/// passed on, and the connection is closed once the handshake is done (RFC 8737 §4: the client must close it
/// at once; we do not wait for it).
final class ChallengeHandshakeCloser: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }
}
