import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One connection's HTTP/1.1 handling after the request decoder: routes each request head, writes the
/// pre-rendered response bytes (no response encoder: the bytes are ready), flushes once per read batch.
///
/// Slow and idle clients: every connection must deliver a complete request head within `requestTimeout`
/// of connecting (TLS handshake included) or of its previous response, else it is closed. The request
/// decoder (``makeDecoder()``) caps the header fields (answered 431).
final class PolicyRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private let host: PolicyHost
    private let requestTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var closing = false
    private var needsFlush = false
    /// The host's state as of `stateVersion` (re-read after a reload).
    private var state: HostState
    private var stateVersion: Int
    /// This connection's `Date` line and the second it was made for.
    private var date = (second: -1, line: ByteBuffer())

    /// The request decoder with tight header limits: a policy fetch needs a few short headers.
    static func makeDecoder() -> ByteToMessageHandler<HTTPRequestDecoder> {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = 8 * 1024
        limits.maxHeaderListSize = 16 * 1024
        limits.maxHeaderFieldCount = 64
        return ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes, limitConfiguration: limits))
    }

    init(host: PolicyHost, requestTimeout: TimeAmount) {
        self.host = host
        self.requestTimeout = requestTimeout
        stateVersion = host.stateVersion.load(ordering: .acquiring)
        state = host.state
    }

    private func currentState() -> HostState {
        let version = host.stateVersion.load(ordering: .acquiring)
        if version != stateVersion {
            stateVersion = version
            state = host.state
        }
        return state
    }

    private func dateLine() -> ByteBuffer {
        let now = time(nil)
        if now != date.second { date = (now, HTTPDate.line(for: now)) }
        return date.line
    }

    func handlerAdded(context: ChannelHandlerContext) { arm(context) }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: requestTimeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data), !closing else { return }
        let state = currentState()
        var route: Route?
        let decision = Router.decide(method: head.method.rawValue, uri: head.uri, hosts: head.headers["host"]) { key in
            route = state.routes[key]
            return route != nil
        }
        let response: CannedResponse
        switch decision {
        case .policy: response = route!.answer(now: host.clock.now())
        case .response(400): response = head.uri.utf8.first == UInt8(ascii: "/") ? .badRequest : .absoluteForm
        case .response(405): response = .notAllowed
        case .response: response = .notFound
        }
        (route?.counters ?? host.metrics.unknownHost).count(response.status)
        let close = !head.isKeepAlive || response.status == 400 || response.status == 405
        write(response, includeBody: head.method != .HEAD, close: close, context: context)
        if let log = host.accessLog {
            log.info("request", metadata: [
                "remote": "\(context.remoteAddress?.ipAddress ?? "?")", "host": "\(head.headers.first(name: "host") ?? "")",
                "method": "\(head.method.rawValue)", "uri": "\(head.uri)", "status": "\(response.status)",
            ])
        }
    }

    private func write(_ response: CannedResponse, includeBody: Bool, close: Bool, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: response.size)
        response.render(into: &buffer, date: dateLine(), close: close, includeBody: includeBody)
        if close {
            closing = true
            timer?.cancel()
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
            needsFlush = true
            arm(context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A malformed request: answer once and close; anything else (TLS, reset): just close.
        if let parse = error as? HTTPParserError, !closing {
            let response: CannedResponse = parse == .headerOverflow ? .headersTooLarge : .badRequest
            host.metrics.unknownHost.count(response.status)
            write(response, includeBody: true, close: true, context: context)
        } else {
            context.close(promise: nil)
        }
    }
}
