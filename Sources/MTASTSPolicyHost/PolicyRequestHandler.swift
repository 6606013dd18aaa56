import Foundation
import Logging
import NIOCore

/// One connection's HTTP/1.1 handling, straight on the (decrypted) bytes: ``RequestHeadScanner`` finds each
/// request head, the router decides, the pre-rendered response bytes are written (no request decoder, no
/// response encoder), one flush per read batch. Pipelined requests are answered in order.
///
/// Slow and idle clients: every connection must deliver a complete request head within `requestTimeout`
/// of connecting (TLS handshake included) or of its previous response, else it is closed. That is a
/// deadline moved on each response and one timer per connection that, when it fires before the (moved)
/// deadline, re-arms itself for it (no timer cancelled and scheduled per request).
final class PolicyRequestHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let host: PolicyHost
    private let requestTimeout: TimeAmount
    private var deadline = NIODeadline.uptimeNanoseconds(0)
    private var timer: Scheduled<Void>?
    private var closing = false
    private var needsFlush = false
    private var scanner = RequestHeadScanner()
    /// The start of an unfinished request head (nil when nothing is buffered).
    private var pending: ByteBuffer?
    /// The host's state as of `stateVersion` (re-read after a reload).
    private var state: HostState
    private var stateVersion: Int
    /// This connection's `Date` line and the second it was made for.
    private var date = (second: -1, line: ByteBuffer())
    /// The last response's buffer: reused (no allocation) once the TLS handler has encrypted it.
    private var output = ByteBuffer()

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

    func handlerAdded(context: ChannelHandlerContext) {
        deadline = context.eventLoop.now + requestTimeout
        schedule(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    private func schedule(_ context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            guard !closing else { return }
            if context.eventLoop.now >= deadline { context.close(promise: nil) } else { schedule(context) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var input = unwrapInboundIn(data)
        if var buffered = pending {
            pending = nil
            buffered.writeBuffer(&input)
            input = buffered
        }
        while !closing {
            switch input.withUnsafeReadableBytes({ scanner.scan($0) }) {
            case .needMore:
                if input.readableBytes > 0 {
                    input.discardReadBytes()
                    pending = input
                }
                return
            case .head(let head, let length):
                input.moveReaderIndex(forwardBy: length)
                respond(to: head, context: context)
            case .reject(let status):
                let response: CannedResponse = status == 431 ? .headersTooLarge : status == 414 ? .uriTooLong : .badRequest
                host.metrics.unknownHost.count(response.status)
                write(response, includeBody: true, close: true, context: context)
            }
        }
    }

    private func respond(to head: RequestHead, context: ChannelHandlerContext) {
        let state = currentState()
        var route: Route?
        let decision = Router.decide(method: head.method, uri: head.target, hosts: head.hosts) { key in
            route = state.routes[key]
            return route != nil
        }
        let response: CannedResponse
        switch decision {
        case .policy: response = route!.answer(now: host.clock.now())
        case .response(400): response = head.target.utf8.first == UInt8(ascii: "/") ? .badRequest : .absoluteForm
        case .response(405): response = .notAllowed
        case .response: response = .notFound
        }
        (route?.counters ?? host.metrics.unknownHost).count(response.status)
        // A request body is never read: answer, then close, so it cannot be taken for a request.
        let close = !head.keepAlive || head.hasBody || response.status == 400 || response.status == 405
        write(response, includeBody: head.method != "HEAD", close: close, context: context)
        if let log = host.accessLog {
            log.info("request", metadata: [
                "remote": "\(context.remoteAddress?.ipAddress ?? "?")", "host": "\(head.hosts.first ?? "")",
                "method": "\(head.method)", "uri": "\(head.target)", "status": "\(response.status)",
            ])
        }
    }

    private func write(_ response: CannedResponse, includeBody: Bool, close: Bool, context: ChannelHandlerContext) {
        output.clear(minimumCapacity: response.size)
        response.render(into: &output, date: dateLine(), close: close, includeBody: includeBody)
        let buffer = output
        if close {
            closing = true
            pending = nil
            timer?.cancel()
            timer = nil
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
            needsFlush = true
            deadline = context.eventLoop.now + requestTimeout
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
        // TLS errors, resets: just close (malformed requests are answered by channelRead).
        context.close(promise: nil)
    }
}
