import NIOCore
import NIOTLS

/// What an MX host may make the checker hold. A hostile or broken server can stream bytes without a line
/// end, or lines without end of reply, for the whole session deadline; past these limits the probe fails
/// with the limit named (`smtp-protocol`) and the connection is closed, so memory stays bounded.
public enum SMTPLimits {
    /// The longest reply line, without its line end. RFC 5321 §4.5.3.1.5 allows 512 octets; as Postfix's
    /// `line_length_limit` (2048), a somewhat longer line is still accepted, so that the rest can be judged.
    public static let replyLine = 2048
    /// The most bytes of one reply (a multi-line EHLO reply is a few hundred) or received and not yet read.
    public static let reply = 64 * 1024
    /// The most MX addresses probed for one domain, in MX preference order (`smtp-probes-capped` names the
    /// rest); each is probed twice (with and without SNI).
    public static let addressesPerDomain = 32
}

/// One SMTP reply: the code and the text of each line.
struct SMTPReply: Sendable {
    let code: Int
    let lines: [String]
    var text: String { lines.map { "\(code) \($0)" }.joined(separator: " / ") }
}

/// A reply over ``SMTPLimits``: why the probe stopped reading.
struct ReplyOverflow: Error, CustomStringConvertible {
    let description: String
}

/// Collects bytes and hands out complete SMTP replies; completes the handshake promise. Event loop only.
final class ReplyReader: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    /// Received, not yet taken as replies (at most ``SMTPLimits/reply`` bytes).
    var buffer: [UInt8] = []
    var waiting: EventLoopPromise<SMTPReply>?
    var handshake: EventLoopPromise<Void>?
    var timedOut = false
    /// Set once a limit is passed; the connection is closed then.
    private(set) var overflow: ReplyOverflow?
    /// Every byte the server sent (after TLS: decrypted) that reached the reader.
    private(set) var received = 0
    /// Bytes of the line being received, since the last line feed.
    private var lineLength = 0
    private var closed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data).readableBytesView
        received += bytes.count
        guard overflow == nil else { return }
        for b in bytes {
            lineLength = b == 0x0A ? 0 : lineLength + 1
            if lineLength > SMTPLimits.replyLine {
                return fail(ReplyOverflow(description: "the server sent a reply line longer than \(SMTPLimits.replyLine) bytes"), context)
            }
        }
        guard buffer.count + bytes.count <= SMTPLimits.reply else {
            return fail(ReplyOverflow(description: "the server sent more than \(SMTPLimits.reply) bytes without completing a reply"), context)
        }
        buffer += bytes
        deliver()
    }

    private func fail(_ error: ReplyOverflow, _ context: ChannelHandlerContext) {
        overflow = error
        buffer = []
        waiting?.fail(error)
        waiting = nil
        handshake?.fail(error)
        handshake = nil
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            handshake?.succeed(())
            handshake = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        handshake?.fail(error)
        handshake = nil
        waiting?.fail(error)
        waiting = nil
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        handshake?.fail(ChannelError.eof)
        handshake = nil
        waiting?.fail(ChannelError.eof)
        waiting = nil
        context.fireChannelInactive()
    }

    /// Completes the waiting promise when the buffer holds a whole reply (its last line is `DDD ` or `DDD`).
    private func deliver() {
        guard let promise = waiting, let reply = takeReply() else { return }
        waiting = nil
        promise.succeed(reply)
    }

    private func takeReply() -> SMTPReply? {
        var lines: [String] = []
        var start = 0
        while let nl = buffer[start...].firstIndex(of: 0x0A) {
            var line = buffer[start..<nl]
            if line.last == 0x0D { line = line.dropLast() }
            start = nl + 1
            let text = String(decoding: line, as: UTF8.self)
            guard text.count >= 3, let code = Int(text.prefix(3)) else {
                buffer.removeSubrange(0..<start)
                return SMTPReply(code: 0, lines: [text])
            }
            let sep = text.dropFirst(3).first
            lines.append(String(text.dropFirst(4)))
            if sep != "-" {
                buffer.removeSubrange(0..<start)
                return SMTPReply(code: code, lines: lines)
            }
        }
        return nil
    }

    func nextReply(on loop: any EventLoop) -> EventLoopFuture<SMTPReply> {
        if let reply = takeReply() { return loop.makeSucceededFuture(reply) }
        if let overflow { return loop.makeFailedFuture(overflow) }
        if closed { return loop.makeFailedFuture(ChannelError.eof) }
        let promise = loop.makePromise(of: SMTPReply.self)
        waiting = promise
        return promise.futureResult
    }
}
