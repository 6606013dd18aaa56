import Foundation
import Logging
import MTASTSCore
@testable import MTASTSPolicyHost
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

/// The request path on an in-memory channel: bytes in, bytes out (the listener tests in
/// PolicyHostIntegrationTests do the same over real TLS).
@Suite("Policy request handler")
struct HandlerTests {
    static let yaml = """
        https: []
        http: 127.0.0.1:0
        default: {mode: testing, mx: [mx.provider.example], max_age: 604800}
        domains:
          example.com: {mode: enforce, mx: [mx1.example.com, "*.mx.example.com"], max_age: 86400}
          same.example: {mode: enforce, mx: [mx1.example.com, "*.mx.example.com"], max_age: 86400}
          customer.example:
          proxied.example: {proxy: "https://mta-sts.provider.example/.well-known/mta-sts.txt"}
        """

    func makeHost(_ yaml: String = yaml) throws -> PolicyHost {
        try PolicyHost(configuration: try PolicyHostConfiguration.parse(yaml), discovery: UpstreamWorld().discovery,
                       load: { () throws(PolicyHostConfiguration.Invalid) in try PolicyHostConfiguration.parse(yaml) },
                       clock: TestClock(), logger: Logger(label: "test"))
    }

    /// Sends raw request bytes (in `chunks` pieces of about equal size, each its own read); returns everything
    /// written back and whether the channel is still open.
    func exchange(_ host: PolicyHost, _ request: String, chunks: Int = 1) throws -> (String, Bool) {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(PolicyRequestHandler(host: host, requestTimeout: .seconds(10)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let bytes = Array(request.utf8), size = max(1, (bytes.count + chunks - 1) / chunks)
        for start in stride(from: 0, to: bytes.count, by: size) where channel.isActive {
            _ = try? channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(bytes.count, start + size)]))
        }
        var out = ""
        while let b = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: b) }
        let open = channel.isActive
        _ = try? channel.finish()
        return (out, open)
    }

    func get(_ host: String, _ path: String = "/.well-known/mta-sts.txt", method: String = "GET") -> String {
        "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: test\r\n\r\n"
    }

    @Test("The policy: 200, text/plain; charset=utf-8, CRLF lines with a final newline, Cache-Control, Date (L107, L109)")
    func policy() throws {
        let (out, open) = try exchange(try makeHost(), get("mta-sts.example.com"))
        let (head, body) = split(out)
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"))
        #expect(head.contains("\r\nCache-Control: max-age=60\r\n") && head.contains("\r\nDate: ") && head.contains(" GMT\r\n"))
        #expect(head.contains("\r\nContent-Length: \(body.utf8.count)\r\n"))
        #expect(body == "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmx: *.mx.example.com\r\nmax_age: 86400\r\n")
        #expect(!head.lowercased().contains("location:"))
        #expect(open)
        // What is served parses back to the same policy (C33).
        let parsed = STSPolicy.parse(body)
        #expect(parsed.policy?.mode == .enforce && !parsed.diagnostics.hasErrors)
    }

    @Test("Identical policies are byte-identical; the default policy covers domains without their own")
    func identical() throws {
        let host = try makeHost()
        #expect(split(try exchange(host, get("mta-sts.example.com")).0).1 == split(try exchange(host, get("mta-sts.same.example")).0).1)
        #expect(split(try exchange(host, get("mta-sts.customer.example")).0).1.contains("mode: testing\r\n"))
    }

    @Test("HEAD: the headers without the body")
    func head() throws {
        let (out, _) = try exchange(try makeHost(), get("mta-sts.example.com", method: "HEAD"))
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n") && out.hasSuffix("\r\n\r\n"))
        #expect(out.contains("Content-Length: 90\r\n"))
    }

    @Test("Keep-alive: pipelined requests answered in order on one connection; Connection: close closes")
    func keepAlive() throws {
        let host = try makeHost()
        let (out, open) = try exchange(host, get("mta-sts.example.com") + get("mta-sts.unknown.example") + get("mta-sts.customer.example"))
        #expect(out.components(separatedBy: "HTTP/1.1 ").map { String($0.prefix(3)) } == ["", "200", "404", "200"])
        #expect(open)
        let (closed, stillOpen) = try exchange(host, "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nConnection: close\r\n\r\n")
        #expect(closed.contains("\r\nConnection: close\r\n") && !stillOpen)
    }

    @Test("Pipelined requests split anywhere across reads, even byte by byte, are answered in order")
    func splitReads() throws {
        let host = try makeHost()
        let requests = get("mta-sts.example.com") + get("mta-sts.unknown.example", method: "HEAD") + get("mta-sts.customer.example")
        for chunks in [2, 3, 7, requests.utf8.count] {
            let (out, open) = try exchange(host, requests, chunks: chunks)
            #expect(out.components(separatedBy: "HTTP/1.1 ").map { String($0.prefix(3)) } == ["", "200", "404", "200"], "\(chunks) chunks")
            #expect(open)
        }
    }

    @Test("A request with a body is answered and the connection closed: the body is never read as a request")
    func bodyCloses() throws {
        let host = try makeHost()
        let smuggled = "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nContent-Length: \(get("mta-sts.customer.example").utf8.count)\r\n\r\n"
            + get("mta-sts.customer.example")
        let (out, open) = try exchange(host, smuggled)
        #expect(out.hasPrefix("HTTP/1.1 200 ") && out.contains("\r\nConnection: close\r\n"))
        #expect(out.components(separatedBy: "HTTP/1.1 ").count == 2 && !out.contains("mode: testing"))
        #expect(!open)
    }

    @Test("The request timeout: from connecting, then from each response; an idle keep-alive connection is closed")
    func requestTimeout() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(PolicyRequestHandler(host: try makeHost(), requestTimeout: .seconds(10)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        try channel.writeInbound(ByteBuffer(string: get("mta-sts.example.com")))
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))  // 12 s after connecting, 6 s after the response
        #expect(channel.isActive)
        try channel.writeInbound(ByteBuffer(string: "GET /.well-known/mta-sts.txt HTTP/1.1\r\n"))  // no response: no new deadline
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))  // 10 s after the response
        #expect(!channel.isActive)
        _ = try? channel.finish()
    }

    struct Abuse: CustomTestStringConvertible, Sendable {
        let request: String, status: String, closes: Bool, why: String
        var testDescription: String { why }
    }

    static let abusive: [Abuse] = [
        Abuse(request: "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.nope.example\r\n\r\n", status: "404", closes: false, why: "unknown Host"),
        Abuse(request: "GET /index.html HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n", status: "404", closes: false, why: "path outside the policy"),
        Abuse(request: "GET /.well-known/mta-sts.txt HTTP/1.1\r\n\r\n", status: "400", closes: true, why: "no Host"),
        Abuse(request: "POST /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nContent-Length: 3\r\n\r\nabc", status: "405", closes: true, why: "POST: 405 with Allow"),
        Abuse(request: "GET http://mta-sts.example.com/.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n", status: "400", closes: true, why: "absolute-form: not a proxy"),
        Abuse(request: "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n", status: "400", closes: true, why: "absolute-form to another host"),
        Abuse(request: "CONNECT mail.example:25 HTTP/1.1\r\nHost: mail.example:25\r\n\r\n", status: "400", closes: true, why: "CONNECT: not a tunnel"),
        Abuse(request: "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nX: \(String(repeating: "a", count: 100_000))\r\n\r\n", status: "431", closes: true, why: "huge header"),
        Abuse(request: "\u{1}\u{2}garbage\r\n\r\n", status: "400", closes: true, why: "not HTTP"),
        Abuse(request: "GET /.well-known/mta-sts.txt HTTP/1.1\nHost: mta-sts.example.com\n\n", status: "400", closes: true, why: "bare LF"),
        Abuse(request: "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nX: a\r\n b\r\n\r\n", status: "400", closes: true,
              why: "obs-fold"),
        Abuse(request: "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost : mta-sts.example.com\r\n\r\n", status: "400", closes: true,
              why: "space before the colon"),
        Abuse(request: "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nHost: mta-sts.same.example\r\n\r\n", status: "400",
              closes: true, why: "two Host fields"),
        Abuse(request: "GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n", status: "414", closes: true,
              why: "request line over 8 KiB"),
        Abuse(request: "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n" + (1...65).map { "X\($0): y\r\n" }.joined() + "\r\n",
              status: "431", closes: true, why: "65 fields"),
    ]

    @Test("Abuse is answered with a 4xx and never proxied", arguments: abusive)
    func abuse(_ a: Abuse) throws {
        let (out, open) = try exchange(try makeHost(), a.request)
        #expect(out.hasPrefix("HTTP/1.1 \(a.status) "), "\(out.prefix(200))")
        #expect(open == !a.closes)
        if a.status == "405" { #expect(out.contains("\r\nAllow: GET, HEAD\r\n")) }
    }

    @Test("A proxied domain with nothing valid fetched yet: 503, never an invented policy")
    func proxyUnavailable() throws {
        let host = try makeHost()
        let (out, _) = try exchange(host, get("mta-sts.proxied.example"))
        #expect(out.hasPrefix("HTTP/1.1 503 "))
        #expect(host.health().status == .serviceUnavailable)
        #expect(host.metrics.requests(host: "mta-sts.proxied.example", status: 503) == 1)
    }

    @Test("Metrics count requests by host and status")
    func metrics() throws {
        let host = try makeHost()
        _ = try exchange(host, get("mta-sts.example.com") + get("mta-sts.example.com") + get("mta-sts.nope.example"))
        #expect(host.metrics.requests(host: "mta-sts.example.com", status: 200) == 2)
        #expect(host.metrics.requests(host: "", status: 404) == 1)
        #expect(host.metrics.exposition().contains("mtasts_host_requests_total{host=\"mta-sts.example.com\",status=\"200\"} 2\n"))
    }

    @Test("Reload swaps policies at once; a bad new configuration keeps the running one")
    func reload() throws {
        let text = LockedText(Self.yaml)
        let host = try PolicyHost(configuration: try PolicyHostConfiguration.parse(text.value), discovery: UpstreamWorld().discovery,
                                  load: { () throws(PolicyHostConfiguration.Invalid) in try PolicyHostConfiguration.parse(text.value) },
                                  clock: TestClock(), logger: Logger(label: "test"))
        text.value = Self.yaml.replacingOccurrences(of: "max_age: 86400", with: "max_age: 172800")
        #expect(host.reload())
        #expect(split(try exchange(host, get("mta-sts.example.com")).0).1.contains("max_age: 172800\r\n"))
        text.value = Self.yaml.replacingOccurrences(of: "mode: enforce", with: "mode: enforced")
        #expect(!host.reload())
        #expect(split(try exchange(host, get("mta-sts.example.com")).0).1.contains("max_age: 172800\r\n"))
    }

    func split(_ response: String) -> (String, String) {
        guard let r = response.range(of: "\r\n\r\n") else { return (response, "") }
        return (String(response[..<r.upperBound]), String(response[r.upperBound...]))
    }
}

final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var text: String
    init(_ text: String) { self.text = text }
    var value: String {
        get { lock.withLock { text } }
        set { lock.withLock { text = newValue } }
    }
}
