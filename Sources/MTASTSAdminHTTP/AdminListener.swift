import NIOCore
import NIOHTTP1
import NIOPosix
import ServerSockets
import Synchronization

/// A small HTTP/1.1 listener for operators: `GET` of a few fixed paths (`/metrics`, `/healthz`), 404 for
/// anything else. Bind it to loopback or an internal address; it has no authentication.
public struct AdminListener: Sendable {
    /// One answer of a route, computed at request time.
    public struct Reply: Sendable {
        public var status: HTTPResponseStatus
        public var contentType: String
        public var body: String

        public init(status: HTTPResponseStatus = .ok, contentType: String = "text/plain; charset=utf-8", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        /// A Prometheus text exposition (format 0.0.4).
        public static func prometheus(_ text: String) -> Reply {
            Reply(contentType: "text/plain; version=0.0.4", body: text)
        }
    }

    public typealias Route = @Sendable () -> Reply

    public let routes: [String: Route]
    /// Connections open at once; one more is closed as soon as it is accepted (a scraper needs one or two).
    public let maxConnections: Int
    /// A connection that sends no complete request for this long (or stays idle after its answer) is closed.
    public let idleTimeout: TimeAmount

    /// Connections open at once unless told otherwise.
    public static let defaultMaxConnections = 64
    /// The idle timeout unless told otherwise.
    public static let defaultIdleTimeout = TimeAmount.seconds(10)

    /// - Parameter routes: path → reply, e.g. `["/metrics": { .prometheus(metrics.exposition()) }]`.
    public init(routes: [String: Route], maxConnections: Int = defaultMaxConnections, idleTimeout: TimeAmount = defaultIdleTimeout) {
        self.routes = routes
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
    }

    /// Binds the listener; close the returned channel to stop it.
    public func serve(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws
        -> any Channel
    {
        let (routes, idle, cap) = (self.routes, idleTimeout, maxConnections)
        let open = ConnectionCount()
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard open.value.wrappingAdd(1, ordering: .relaxed).newValue <= cap else {
                    open.value.wrappingSubtract(1, ordering: .relaxed)
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.value.wrappingSubtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(IdleStateHandler(allTimeout: idle))
                    try ops.configureHTTPServerPipeline()
                    try ops.addHandler(AdminHandler(routes: routes))
                }
            }
            .bindListening(host: host, port: port)
    }
}

/// The admin connections open now.
private final class ConnectionCount: Sendable {
    let value = Atomic(0)
}

private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let routes: [String: AdminListener.Route]
    init(routes: [String: AdminListener.Route]) { self.routes = routes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let reply: AdminListener.Reply
        if head.method == .GET || head.method == .HEAD, let route = routes[head.uri] {
            reply = route()
        } else {
            reply = .init(status: .notFound, body: "not found\n")
        }
        var headers = HTTPHeaders([("Content-Type", reply.contentType), ("Content-Length", String(reply.body.utf8.count))])
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: reply.status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: reply.body)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in if !keepAlive { channel.close(promise: nil) } }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // IdleStateHandler: nothing read or written for the idle timeout (a silent or never-reading client).
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }
}
