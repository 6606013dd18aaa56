import Foundation
import MTASTSCore
import MTASTSDiscovery
import MTASTSHTTPFetch
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// The network side of a check that is not DNS or the policy fetch: TLS sessions whose certificates are
/// captured and judged (policy host), and SMTP STARTTLS sessions (MX hosts).
public protocol ConnectionProbing: Sendable {
    /// A TLS handshake at `address:port` with SNI `host` (none when `sni` is false); the presented chain is
    /// captured and judged against `host`.
    func tls(host: DomainName, address: IPAddress, port: Int, sni: Bool) async -> Result<TLSObservation, ConnectionFailure>
    /// An SMTP session: greeting, EHLO, STARTTLS, handshake with SNI `host` (none when `sni` is false), EHLO
    /// again, QUIT.
    func smtp(host: DomainName, address: IPAddress, port: Int, sni: Bool) async -> SMTPProbe
}

/// ``ConnectionProbing`` on SwiftNIO + NIOSSL. Every session has one deadline from connect to the end.
/// The chain is accepted whatever it is (custom verification callback) and judged afterwards by
/// ``CertificateEvaluator``, so a bad certificate yields its reasons rather than a handshake error.
public struct NIOConnectionProber: ConnectionProbing {
    private let evaluator: CertificateEvaluator
    private let context: NIOSSLContext
    private let timeout: Duration
    private let group: any EventLoopGroup
    /// The name sent in EHLO.
    private let ehloName: String

    public init(evaluator: CertificateEvaluator, timeout: Duration, ehloName: String = "mta-sts-check.invalid",
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        // Old versions are let through so that they can be named (RFC 8461 §7.2 finding), not just fail.
        tls.minimumTLSVersion = .tlsv1
        tls.certificateVerification = .noHostnameVerification
        context = try NIOSSLContext(configuration: tls)
        self.evaluator = evaluator
        self.timeout = timeout
        self.group = group
        self.ehloName = ehloName
    }

    public func tls(host: DomainName, address: IPAddress, port: Int, sni: Bool) async -> Result<TLSObservation, ConnectionFailure> {
        let session = ProbeSession(group: group, timeout: timeout)
        defer { session.close() }
        if let failure = await session.connect(address, port) { return .failure(failure) }
        switch await session.startTLS(context: context, host: host, sni: sni) {
        case .failed(let f): return .failure(f)
        case .injected(let bytes): return .failure(.handshake("the server sent `\(bytes)` before the handshake"))
        case .established(let version, let chain):
            let report = await evaluator.evaluate(chain: chain, host: host, now: Date())
            return .success(TLSObservation(version: version, chainDER: chain, certificate: report))
        }
    }

    public func smtp(host: DomainName, address: IPAddress, port: Int, sni: Bool) async -> SMTPProbe {
        let clock = ContinuousClock()
        let start = clock.now
        var probe = SMTPProbe(address: address, port: port)
        let session = ProbeSession(group: group, timeout: timeout)
        await run(session, host: host, sni: sni, into: &probe)
        session.close()
        probe.elapsed = clock.now - start
        return probe
    }

    /// The SMTP dialogue (RFC 5321, RFC 3207), stopping at the first failure.
    private func run(_ s: ProbeSession, host: DomainName, sni: Bool, into p: inout SMTPProbe) async {
        if let failure = await s.connect(p.address, p.port) { return p.failure = .connection(failure) }
        func reply(_ stage: String) async -> SMTPReply? {
            switch await s.reply() {
            case .success(let r): return r
            case .failure(.connection(.timeout)): p.failure = .connection(.timeout(stage))
            case .failure(.protocolError(let why)): p.failure = .protocolError("\(why) (\(stage))")
            case .failure(let f): p.failure = f
            }
            return nil
        }
        guard let banner = await reply("waiting for the greeting") else { return }
        p.banner = banner.lines.first
        guard banner.code == 220 else { return p.failure = .protocolError("the greeting was `\(banner.text)`, not 220") }
        s.send("EHLO \(ehloName)\r\n")
        guard let ehlo = await reply("waiting for the EHLO reply") else { return }
        guard ehlo.code == 250 else { return p.failure = .protocolError("EHLO was answered `\(ehlo.text)`") }
        p.ehloKeywords = ehlo.lines.dropFirst().map { $0.split(separator: " ").first.map { $0.uppercased() } ?? "" }
        guard p.ehloKeywords.contains("STARTTLS") else {
            s.send("QUIT\r\n")
            return p.failure = .starttlsMissing
        }
        s.send("STARTTLS\r\n")
        guard let ready = await reply("waiting for the STARTTLS reply") else { return }
        guard ready.code == 220 else { return p.failure = .starttlsRefused(ready.text) }
        switch await s.startTLS(context: context, host: host, sni: sni) {
        case .injected(let bytes):
            return p.failure = .injection(bytes)
        case .failed(let f):
            return p.failure = .connection(f)
        case .established(let version, let chain):
            let report = await evaluator.evaluate(chain: chain, host: host, now: Date())
            p.tls = TLSObservation(version: version, chainDER: chain, certificate: report)
        }
        // RFC 3207 §4.2: forget what was learnt before TLS and ask again.
        s.send("EHLO \(ehloName)\r\n")
        if let again = await reply("waiting for EHLO over TLS") { p.ehloAfterTLS = again.code == 250 } else { p.failure = nil }
        s.send("QUIT\r\n")
    }
}

/// One connection driven step by step from async code; all channel state lives on its event loop.
final class ProbeSession: @unchecked Sendable {
    enum TLSStart {
        case established(version: String, chain: [[UInt8]])
        case failed(ConnectionFailure)
        /// Bytes arrived after the `220` to STARTTLS, before the handshake.
        case injected(String)
    }

    private let loop: any EventLoop
    private let timeout: Duration
    private var channel: (any Channel)?
    private let handler: ReplyReader
    private var deadline: Scheduled<Void>?

    init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, timeout: Duration) {
        loop = group.next()
        self.timeout = timeout
        handler = ReplyReader()
    }

    /// Connects; a failure is returned as a value.
    func connect(_ address: IPAddress, _ port: Int) async -> ConnectionFailure? {
        let handler = self.handler
        do {
            let socketAddress = try SocketAddress(ipAddress: address.description, port: port)
            let channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.nanoseconds(timeout.nanoseconds))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(handler) } }
                .connect(to: socketAddress).get()
            self.channel = channel
            deadline = loop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) {
                handler.timedOut = true
                channel.close(promise: nil)
            }
            return nil
        } catch let e as IOError {
            return .connect(String(cString: strerror(e.errnoCode)))
        } catch ChannelError.connectTimeout {
            return .timeout("connecting")
        } catch {
            return .connect(String(describing: error))
        }
    }

    func send(_ line: String) {
        guard let channel else { return }
        var buffer = channel.allocator.buffer(capacity: line.utf8.count)
        buffer.writeString(line)
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// The next complete reply, or why none came: a timeout, a closed connection, a reply over ``SMTPLimits``.
    func reply() async -> Result<SMTPReply, SMTPProbe.Failure> {
        let handler = self.handler
        do {
            let loop = self.loop
            return .success(try await loop.flatSubmit { handler.nextReply(on: loop) }.get())
        } catch let overflow as ReplyOverflow {
            return .failure(.protocolError(overflow.description))
        } catch {
            return .failure(.connection(handler.timedOut ? .timeout("") : .connect("the server closed the connection")))
        }
    }

    /// Bytes the server sent that reached the reply reader.
    var received: Int { get async { let handler = self.handler; return (try? await loop.submit { handler.received }.get()) ?? 0 } }

    /// Adds TLS below the reply reader and waits for the handshake. Bytes already received and not yet read
    /// (sent after the `220` to STARTTLS) are an injection: a sender must abort (RFC 3207 §5).
    func startTLS(context: NIOSSLContext, host: DomainName, sni: Bool) async -> TLSStart {
        guard let channel else { return .failed(.connect("not connected")) }
        let handler = self.handler
        let chain = ChainBox()
        do {
            try await loop.flatSubmit { () -> EventLoopFuture<Void> in
                if !handler.buffer.isEmpty {
                    let shown = String(decoding: handler.buffer.prefix(200), as: UTF8.self)  // as sent; escaped where it is shown
                    return channel.eventLoop.makeFailedFuture(InjectionError(shown: shown))
                }
                let promise = channel.eventLoop.makePromise(of: Void.self)
                handler.handshake = promise
                do {
                    let tls = try NIOSSLClientHandler(context: context, serverHostname: sni ? host.value : nil) { certificates, verdict in
                        chain.der = certificates.compactMap { try? $0.toDERBytes() }
                        verdict.succeed(.certificateVerified)
                    }
                    try channel.pipeline.syncOperations.addHandler(tls, position: .first)
                } catch {
                    promise.fail(error)
                }
                return promise.futureResult
            }.get()
            let version = try await channel.nioSSL_tlsVersion().get()
            return .established(version: version.map(Self.name) ?? "unknown", chain: chain.der)
        } catch let e as InjectionError {
            return .injected(e.shown)
        } catch {
            if handler.timedOut { return .failed(.timeout("during the TLS handshake")) }
            let text = String(describing: error)
            return .failed(.handshake(text.contains("OPENSSL_internal") ? boringSSLReason(text) : text))
        }
    }

    static func name(_ v: TLSVersion) -> String {
        switch v {
        case .tlsv1: "TLSv1"
        case .tlsv11: "TLSv1.1"
        case .tlsv12: "TLSv1.2"
        case .tlsv13: "TLSv1.3"
        }
    }

    func close() {
        deadline?.cancel()
        channel?.close(promise: nil)
    }

    private struct InjectionError: Error { let shown: String }
    private final class ChainBox: @unchecked Sendable { var der: [[UInt8]] = [] }
}
