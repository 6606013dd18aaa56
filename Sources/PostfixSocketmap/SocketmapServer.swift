import NIOCore
import NIOPosix
import ServerSockets

#if canImport(Glibc)
import Glibc
#endif

/// Answers socketmap requests. The server asks ``immediateReply(to:)`` first, on the connection's event
/// loop: the hot path (a cache hit) must answer there without I/O, locks held long, or suspension. Only
/// when it returns nil is ``reply(to:)`` awaited; replies still go out in request order.
public protocol SocketmapResponder: Sendable {
    /// The framed reply when it is known at once, else nil.
    func immediateReply(to request: SocketmapRequest) -> ByteBuffer?
    /// The framed reply, computed asynchronously (a cache miss).
    func reply(to request: SocketmapRequest) async -> ByteBuffer
    /// The answer to a line request (``SocketmapServer``'s line mode): the bytes to write, one line ending in LF,
    /// after which the connection closes; nil closes it without an answer. The default offers no line mode.
    func lineReply(to request: SocketmapRequest) async -> ByteBuffer?
}

extension SocketmapResponder {
    public func lineReply(to request: SocketmapRequest) async -> ByteBuffer? { nil }
}

/// A Postfix socketmap server on TCP or a UNIX socket: netstrings in, netstrings out, many connections,
/// several requests per connection answered in order, an idle timeout, and a malformed netstring closing
/// only that connection.
///
/// Line mode, for clients that cannot frame netstrings (Exim's `${readsocket}`): a connection whose first byte is a
/// letter, not a digit, sends one request `name key` ended by LF (CR LF, or the end of its input), at most
/// ``maxLineRequest`` bytes; it gets ``SocketmapResponder/lineReply(to:)``'s line and the connection closes.
public final class SocketmapServer: Sendable {
    /// The longest line-mode request (its LF included); a longer one closes the connection without an answer.
    public static let maxLineRequest = 1024

    public enum Endpoint: Sendable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        /// A UNIX socket; `mode` (e.g. 0o660), `owner` and `group` (numeric ids) are applied after binding.
        case unix(path: String, mode: UInt16?, owner: UInt32?, group: UInt32?)

        public var description: String {
            switch self {
            case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unix(let path, _, _, _): "unix:\(path)"
            }
        }
    }

    public struct Configuration: Sendable {
        public var endpoint: Endpoint
        /// Close a connection that sent and was sent nothing for this long, with no reply pending (Postfix itself
        /// closes idle ones after 10 s).
        public var idleTimeout: TimeAmount
        /// Longest request accepted (Postfix sends at most 10000 bytes).
        public var maxRequestLength: Int

        public init(endpoint: Endpoint, idleTimeout: TimeAmount = .seconds(300), maxRequestLength: Int = 10_000) {
            self.endpoint = endpoint
            self.idleTimeout = idleTimeout
            self.maxRequestLength = maxRequestLength
        }
    }

    public struct BindError: Error, CustomStringConvertible {
        public let description: String
    }

    private let configuration: Configuration
    private let responder: any SocketmapResponder
    private let group: any EventLoopGroup

    public init(_ configuration: Configuration, responder: any SocketmapResponder,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.responder = responder
        self.group = group
    }

    /// Binds and starts accepting. Close the returned channel to stop accepting; open connections finish.
    public func bind() async throws -> any Channel {
        let responder = self.responder
        let idle = configuration.idleTimeout
        let maxLength = configuration.maxRequestLength
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)  // bind again at once after a crash
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)  // TCP level: .socketOption would set SO_DEBUG, refused to non-root users
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        SocketmapConnectionHandler(responder: responder, decoder: NetstringDecoder(maxLength: maxLength), idleTimeout: idle))
                }
            }
        switch configuration.endpoint {
        case .tcp(let host, let port):
            return try await bootstrap.bindListening(host: host, port: port)
        case .unix(let path, let mode, let owner, let group):
            let channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            if let mode, chmod(path, mode_t(mode)) != 0 {
                throw BindError(description: "chmod \(path): \(String(cString: strerror(errno)))")
            }
            if owner != nil || group != nil, chown(path, owner ?? UInt32.max, group ?? UInt32.max) != 0 {
                throw BindError(description: "chown \(path): \(String(cString: strerror(errno)))")
            }
            return channel
        }
    }
}

/// One connection: decodes requests, answers in order, closes on a protocol error or when idle.
///
/// One handler does the framing, the idle timer and the answers: on a cache hit (most lookups) a request is
/// decoded in place from the bytes just read and answered with a prebuilt frame, with no further pipeline
/// hops (the hot path's cost is measured in BENCHMARKS.md).
final class SocketmapConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    // The mutable state below is `@exclusivity(unchecked)`: it is touched only on the channel's event loop, and no
    // access spans a call that could come back into this handler (the decoder's runs only over `decode`). The
    // dynamic checks it replaces cost a runtime call and a thread-local lookup each, about six per hit
    // (`swift_beginAccess` and `__tls_get_addr` in the profile of the paced hit phase, BENCHMARKS.md).
    private let responder: any SocketmapResponder
    @exclusivity(unchecked) private var decoder: NetstringDecoder
    /// How the connection frames its requests, known from its first byte.
    @exclusivity(unchecked) private var framing = Framing.unknown
    private enum Framing { case unknown, netstring, line }
    /// Bytes of a request not yet complete (nil when none are pending).
    @exclusivity(unchecked) private var pending: ByteBuffer?
    /// Replies not yet written, in request order; nil while a reply is still being computed.
    @exclusivity(unchecked) private var slots = CircularBuffer<ByteBuffer?>()
    /// The sequence number of `slots.first`.
    @exclusivity(unchecked) private var firstSequence = 0
    @exclusivity(unchecked) private var pendingFlush = false
    @exclusivity(unchecked) private var inputClosed = false
    @exclusivity(unchecked) private var failed = false
    /// Idle timeout: the connection is closed once nothing was read or answered for this long and no reply is pending.
    private let idleTimeout: TimeAmount
    @exclusivity(unchecked) private var lastActivity = NIODeadline.now()
    private var idleTimer: Scheduled<Void>?

    init(responder: any SocketmapResponder, decoder: NetstringDecoder = NetstringDecoder(), idleTimeout: TimeAmount = .seconds(300)) {
        self.responder = responder
        self.decoder = decoder
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) { armIdleTimer(context: context, in: idleTimeout) }

    func handlerRemoved(context: ChannelHandlerContext) { idleTimer?.cancel() }

    private func armIdleTimer(context: ChannelHandlerContext, in delay: TimeAmount) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: delay) {
            let (handler, context) = bound.value
            handler.idleTimerFired(context: context)
        }
    }

    /// Idle means: nothing read and nothing answered for `idleTimeout`, and no answer pending (a reply being
    /// computed keeps the connection; its answer starts a new idle period).
    private func idleTimerFired(context: ChannelHandlerContext) {
        let quietSince = NIODeadline.now() - lastActivity
        if !slots.isEmpty {
            armIdleTimer(context: context, in: idleTimeout)
        } else if quietSince >= idleTimeout {
            context.close(promise: nil)
        } else {
            armIdleTimer(context: context, in: idleTimeout - quietSince)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        lastActivity = .now()
        var bytes = unwrapInboundIn(data)
        if framing != .netstring {
            guard let first = bytes.readableBytesView.first else { return }
            if framing == .unknown {
                switch first {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): framing = .netstring
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): framing = .line
                default: return fail(context: context)
                }
            }
            if framing == .line { return readLine(&bytes, context: context) }
        }
        let ours = pending != nil
        if var earlier = pending {
            pending = nil
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        do {
            while let payload = try decoder.decode(buffer: &bytes) { handle(payload, context: context) }
        } catch {
            fail(context: context)
            return
        }
        guard bytes.readableBytes > 0 else { return }
        // An unfinished request: keep its bytes, but not the whole read buffer they may sit in.
        if ours, bytes.capacity <= 4 * max(bytes.readableBytes, 4096) {
            if bytes.readerIndex > 4096 { bytes.discardReadBytes() }  // bounded, without a copy per read
            pending = bytes
        } else {
            pending = ByteBuffer(bytes: bytes.readableBytesView)
        }
    }

    private func handle(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        guard let request = SocketmapRequest(payload) else {
            answer(SocketmapReply.notFound.frame, context: context)
            return
        }
        if let reply = responder.immediateReply(to: request) {
            answer(reply, context: context)
            return
        }
        // A miss: keep the slot, compute off the event loop, come back to write in order.
        let sequence = firstSequence + slots.count
        slots.append(nil)
        let responder = self.responder
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        // The request must not pin the connection's read buffer while the miss is computed.
        let owned = SocketmapRequest(ByteBuffer(bytes: payload.readableBytesView))!
        Task {
            let reply = await responder.reply(to: owned)
            loop.execute {
                let (handler, context) = bound.value
                handler.fill(sequence, with: reply, context: context)
            }
        }
    }

    private func answer(_ reply: ByteBuffer, context: ChannelHandlerContext) {
        if slots.isEmpty {
            context.write(wrapOutboundOut(reply), promise: nil)
            firstSequence += 1
            pendingFlush = true
        } else {
            slots.append(reply)
        }
    }

    private func fill(_ sequence: Int, with reply: ByteBuffer, context: ChannelHandlerContext) {
        let index = sequence - firstSequence
        guard index >= 0, index < slots.count, context.channel.isActive else { return }
        slots[slots.index(slots.startIndex, offsetBy: index)] = reply
        var wrote = false
        while let first = slots.first, let ready = first {
            context.write(wrapOutboundOut(ready), promise: nil)
            slots.removeFirst()
            firstSequence += 1
            wrote = true
        }
        if wrote {
            context.flush()
            lastActivity = .now()
        }
        closeIfDone(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pendingFlush {
            pendingFlush = false
            context.flush()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            // Postfix may half-close after its last request: answer what is pending, then close. Bytes of an
            // unfinished request are an error. In line mode the end of input ends the request (Exim's readsocket
            // half-closes after writing it).
            inputClosed = true
            if framing == .line, let request = pending {
                pending = nil
                answerLine(request, context: context)
            } else if pending != nil { fail(context: context) } else { closeIfDone(context: context) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func closeIfDone(context: ChannelHandlerContext) {
        if inputClosed && slots.isEmpty { context.close(promise: nil) }
    }

    /// Line mode: collects the one request up to its LF (bytes after it are ignored), then answers it.
    private func readLine(_ bytes: inout ByteBuffer, context: ChannelHandlerContext) {
        guard slots.isEmpty, !inputClosed else { return }  // answered, or being answered: nothing more is read
        var line = pending ?? ByteBuffer()
        pending = nil
        line.writeBuffer(&bytes)
        let view = line.readableBytesView
        if let lf = view.firstIndex(of: UInt8(ascii: "\n")) {
            guard lf - view.startIndex < SocketmapServer.maxLineRequest else { return fail(context: context) }
            answerLine(line.getSlice(at: line.readerIndex, length: lf - view.startIndex)!, context: context)
        } else if line.readableBytes >= SocketmapServer.maxLineRequest {
            fail(context: context)
        } else {
            pending = line
        }
    }

    /// Computes the line reply off the event loop, writes it and closes.
    private func answerLine(_ line: ByteBuffer, context: ChannelHandlerContext) {
        var line = line
        if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
        guard let request = SocketmapRequest(ByteBuffer(bytes: line.readableBytesView)) else { return fail(context: context) }
        slots.append(nil)  // a reply is being computed: the idle timer waits for it
        let responder = self.responder
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        Task {
            let reply = await responder.lineReply(to: request)
            loop.execute {
                let (handler, context) = bound.value
                handler.slots.removeAll()
                handler.failed = true  // nothing more is read
                guard let reply else { return context.close(promise: nil) }
                let channel = context.channel
                context.writeAndFlush(handler.wrapOutboundOut(reply)).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }

    /// A malformed netstring ends this connection only; replies already due still go out.
    private func fail(context: ChannelHandlerContext) {
        failed = true
        pending = nil
        context.flush()
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset or another I/O error: this connection only.
        fail(context: context)
    }
}
