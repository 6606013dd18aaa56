import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServerSockets
import Synchronization

/// A small HTTP/1.1 listener for operators: `GET` of a few fixed paths (`/metrics`, `/healthz`, the reports
/// dashboard's pages), 404 for anything else. Bind it to loopback or an internal address; it has no authentication.
public struct AdminListener: Sendable {
    /// One answer of a route, computed at request time.
    public struct Reply: Sendable {
        public var status: HTTPResponseStatus
        public var contentType: String
        public var body: String
        /// More response headers (e.g. `Content-Security-Policy`), after Content-Type and Content-Length.
        public var headers: [(name: String, value: String)]

        public init(status: HTTPResponseStatus = .ok, contentType: String = "text/plain; charset=utf-8", body: String,
                    headers: [(name: String, value: String)] = []) {
            self.status = status
            self.contentType = contentType
            self.body = body
            self.headers = headers
        }

        /// A Prometheus text exposition (format 0.0.4).
        public static func prometheus(_ text: String) -> Reply {
            Reply(contentType: "text/plain; version=0.0.4", body: text)
        }
    }

    /// What a ``RequestRoute`` is asked: the path and the query's `name=value` pairs (percent-decoded, `+` as a
    /// space; the last of a repeated name wins).
    public struct Request: Sendable, Equatable {
        public var path: String
        public var query: [String: String]

        public init(path: String, query: [String: String] = [:]) {
            self.path = path
            self.query = query
        }

        /// Splits a request target (`/path?a=1&b=2`).
        public init(uri: String) {
            let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            path = String(parts[0])
            query = [:]
            guard parts.count == 2 else { return }
            for pair in parts[1].split(separator: "&") {
                let nv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let decode = { (s: Substring) in String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
                query[decode(nv[0])] = nv.count == 2 ? decode(nv[1]) : ""
            }
        }
    }

    public typealias Route = @Sendable () -> Reply
    /// A route that reads the query or waits for something (a database) before it answers.
    public typealias RequestRoute = @Sendable (Request) async -> Reply

    /// Matched on the whole request target.
    public let routes: [String: Route]
    /// Matched on the path (the target without its query), after ``routes``.
    public let requestRoutes: [String: RequestRoute]
    /// Connections open at once; one more is closed as soon as it is accepted (a scraper needs one or two).
    public let maxConnections: Int
    /// A connection that sends no complete request for this long (or stays idle after its answer) is closed.
    public let idleTimeout: TimeAmount

    /// Connections open at once unless told otherwise.
    public static let defaultMaxConnections = 64
    /// The idle timeout unless told otherwise.
    public static let defaultIdleTimeout = TimeAmount.seconds(10)

    /// - Parameter routes: path → reply, e.g. `["/metrics": { .prometheus(metrics.exposition()) }]`.
    public init(routes: [String: Route], requestRoutes: [String: RequestRoute] = [:], maxConnections: Int = defaultMaxConnections,
                idleTimeout: TimeAmount = defaultIdleTimeout) {
        self.routes = routes
        self.requestRoutes = requestRoutes
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
    }

    /// Binds the listener; close the returned channel to stop it.
    public func serve(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws
        -> any Channel
    {
        let (routes, requestRoutes, idle, cap) = (self.routes, self.requestRoutes, idleTimeout, maxConnections)
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
                    try ops.addHandler(AdminHandler(routes: routes, requestRoutes: requestRoutes))
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
    let requestRoutes: [String: AdminListener.RequestRoute]
    init(routes: [String: AdminListener.Route], requestRoutes: [String: AdminListener.RequestRoute]) {
        self.routes = routes
        self.requestRoutes = requestRoutes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let readable = head.method == .GET || head.method == .HEAD
        if readable, let route = routes[head.uri] {
            respond(context: context, head: head, reply: route())
        } else if readable, case let request = AdminListener.Request(uri: head.uri), let route = requestRoutes[request.path] {
            // The pipeline handler holds back the next request until this answer's end is written, so answers stay
            // in order however long the route takes.
            let promise = context.eventLoop.makePromise(of: AdminListener.Reply.self)
            promise.completeWithTask { await route(request) }
            promise.futureResult.assumeIsolated().whenSuccess { reply in
                // The client may have gone (or idled out) meanwhile: then the handler is no longer in the pipeline.
                guard context.channel.isActive else { return }
                self.respond(context: context, head: head, reply: reply)
            }
        } else {
            respond(context: context, head: head, reply: .init(status: .notFound, body: "not found\n"))
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, reply: AdminListener.Reply) {
        var headers = HTTPHeaders([("Content-Type", reply.contentType), ("Content-Length", String(reply.body.utf8.count))])
        for h in reply.headers { headers.add(name: h.name, value: h.value) }
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
