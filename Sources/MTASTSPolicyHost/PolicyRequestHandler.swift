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
///
/// Clients that do not read: while the channel is not writable (its outbound buffer is over the high water
/// mark) no request is answered and nothing more is read, so a client that pipelines requests and never
/// reads costs bounded memory; with no response written its deadline is not moved and the timer closes it.
/// A closing response (400, 405, 414, 431) has the same deadline to be written, then the connection closes.
///
/// Request bodies are never read, but a report POST's (``ReportPost``, `reports.hosts`): its body, within the same
/// deadline as its head, is parsed and stored off the event loop and answered on it, and the connection closed.
final class PolicyRequestHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Unflushed response bytes after which the handler flushes and looks at writability again (so one large
    /// read of pipelined requests cannot queue more than about this much before back-pressure applies).
    static let flushThreshold = 64 * 1024

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
    /// Response bytes written since the last flush.
    private var unflushed = 0
    /// A read was held back because the channel was not writable; issued once it is again.
    private var readHeld = false
    /// Answering stopped because the channel was not writable; `pending` holds the rest of the input.
    private var paused = false
    /// A report POST whose body is being read (then stored off the loop); the connection closes after its answer.
    private var upload: Upload?
    private var removed = false

    private struct Upload {
        let head: RequestHead
        let host: String
        let intake: ReportIntake
        let length: Int
        var body: ByteBuffer
        /// The body is complete and on its way to the store.
        var stored = false
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

    func handlerAdded(context: ChannelHandlerContext) {
        deadline = context.eventLoop.now + requestTimeout
        schedule(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        timer?.cancel()
        timer = nil
    }

    private func schedule(_ context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            if context.eventLoop.now >= deadline { context.close(promise: nil) } else { schedule(context) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var input = unwrapInboundIn(data)
        if upload != nil { return receiveBody(&input, context: context) }
        if var buffered = pending {
            pending = nil
            buffered.writeBuffer(&input)
            input = buffered
        }
        if paused { pending = input } else { answer(&input, context: context) }
    }

    /// Answers the complete request heads in `input`, keeping an unfinished one (or, while the channel is
    /// not writable, everything not yet answered) in `pending`.
    private func answer(_ input: inout ByteBuffer, context: ChannelHandlerContext) {
        while !closing {
            if unflushed >= Self.flushThreshold {
                flush(context)
                guard context.channel.isWritable else {
                    paused = true
                    if input.readableBytes > 0 { pending = input }
                    return
                }
            }
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
                if upload != nil { return receiveBody(&input, context: context) }
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
        var reportHost: String?
        let decision = Router.decide(method: head.method, uri: head.target, hosts: head.hosts, knownHost: { key in
            route = state.routes[key]
            return route != nil
        }, reportHost: { key in
            if state.reports?.hosts.contains(key) == true { reportHost = key }
            return reportHost != nil
        })
        let response: CannedResponse
        switch decision {
        case .policy: response = route!.answer(now: host.clock.now())
        case .challenge(let name, let token):
            response = host.challengeTokens.keyAuthorization(name: name, token: token).map(CannedResponse.keyAuthorization) ?? .notFound
        case .report(let name):
            guard let intake = state.reports else { return }
            return startReport(head, host: name, intake: intake, context: context)
        case .response(400): response = head.target.utf8.first == UInt8(ascii: "/") ? .badRequest : .absoluteForm
        case .response(405): response = reportHost == nil ? .notAllowed : .onlyPost
        case .response: response = .notFound
        }
        (route?.counters ?? reportHost.map(host.metrics.counters(host:)) ?? host.metrics.unknownHost).count(response.status)
        // A request body is never read (but a report POST's): answer, then close, so it cannot be taken for a request.
        let close = !head.keepAlive || head.hasBody || response.status == 400 || response.status == 405
        write(response, includeBody: head.method != "HEAD", close: close, context: context)
        logAccess(head, status: response.status, context: context)
    }

    private func logAccess(_ head: RequestHead, status: Int, context: ChannelHandlerContext) {
        if let log = host.accessLog {
            log.info("request", metadata: [
                "remote": "\(context.remoteAddress?.ipAddress ?? "?")", "host": "\(head.hosts.first ?? "")",
                "method": "\(head.method)", "uri": "\(head.target)", "status": "\(status)",
            ])
        }
    }

    // MARK: report POSTs (RFC 8460 §5.3)

    /// A POST to a report host: refused at once on its head (411, 413, 415: the body unread, the connection closed), or
    /// its body read (within the same `request_timeout` as the head: a slow body is cut) and then stored.
    private func startReport(_ head: RequestHead, host name: String, intake: ReportIntake, context: ChannelHandlerContext) {
        switch ReportPost.decide(head, maxBody: intake.maxBody) {
        case .refuse(let outcome):
            let text = switch outcome {
            case .lengthRequired: "a report needs a Content-Length (chunked bodies are not read)"
            case .tooLarge: "the report is larger than \(intake.maxBody) bytes"
            default: "the Content-Type must be " + ReportPost.mediaTypes.joined(separator: " or ")
            }
            finishReport(head: head, host: name, outcome: outcome, text: text, context: context)
        case .read(let length):
            upload = Upload(head: head, host: name, intake: intake, length: length, body: context.channel.allocator.buffer(capacity: length))
            // RFC 9110 §10.1.1: a client that waits for it sends the body now.
            if head.expectsContinue && head.isHTTP11 && length > 0 { context.writeAndFlush(wrapOutboundOut(CannedResponse.continueLine), promise: nil) }
        }
    }

    /// Takes the body's bytes from `input` (anything after it is dropped: the connection closes after the answer);
    /// once complete, parses and stores it off the event loop and answers on it.
    private func receiveBody(_ input: inout ByteBuffer, context: ChannelHandlerContext) {
        guard var u = upload, !u.stored else { return }
        let take = min(input.readableBytes, u.length - u.body.readableBytes)
        if var slice = input.readSlice(length: take) { u.body.writeBuffer(&slice) }
        u.stored = u.body.readableBytes == u.length
        upload = u
        guard u.stored else { return }
        let head = u.head
        // The store gets `request_timeout` to answer; a store slower than that loses the connection (the sender retries).
        deadline = context.eventLoop.now + requestTimeout
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let (body, logger) = (Array(u.body.readableBytesView), host.logger)
        let source = "POST https://\(u.host)\(head.target) from \(context.remoteAddress?.ipAddress ?? "?")"
        let (store, name) = (u.intake.store, u.host)
        Task {
            let (outcome, text) = await store.receive(body, source: source, logger: logger)
            loop.execute {
                let (handler, context) = bound.value
                handler.finishReport(head: head, host: name, outcome: outcome, text: text, context: context)
            }
        }
    }

    private func finishReport(head: RequestHead, host name: String, outcome: ReportPost.Outcome, text: String, context: ChannelHandlerContext) {
        host.metrics.recordReport(outcome)
        host.metrics.counters(host: name).count(outcome.status)
        logAccess(head, status: outcome.status, context: context)
        guard !removed, !closing else { return }
        write(.report(outcome, text), includeBody: true, close: true, context: context)
    }

    private func write(_ response: CannedResponse, includeBody: Bool, close: Bool, context: ChannelHandlerContext) {
        output.clear(minimumCapacity: response.size)
        response.render(into: &output, date: dateLine(), close: close, includeBody: includeBody)
        let buffer = output
        deadline = context.eventLoop.now + requestTimeout
        if close {
            // Closed once written, or by the timer at the deadline when the peer does not take it.
            closing = true
            pending = nil
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
            needsFlush = true
            unflushed += buffer.readableBytes
        }
    }

    private func flush(_ context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            unflushed = 0
            context.flush()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush(context)
        context.fireChannelReadComplete()
    }

    /// Reads (autoRead's included) pass only while the channel is writable.
    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable { context.read() } else { readHeld = true }
    }

    /// Writable again: answer what was held back, then read on.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !closing {
            if paused {
                paused = false
                if var held = pending {
                    pending = nil
                    answer(&held, context: context)
                    flush(context)
                }
            }
            if readHeld, context.channel.isWritable {
                readHeld = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // TLS errors, resets: just close (malformed requests are answered by channelRead).
        context.close(promise: nil)
    }
}
