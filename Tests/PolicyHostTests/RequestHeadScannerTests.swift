@testable import MTASTSPolicyHost
import Testing

/// The strict request-head scanner on its own: good heads with what it extracts, every rejection with its
/// status, limits at and just past the boundary, and heads that arrive in pieces.
@Suite("Request head scanner")
struct RequestHeadScannerTests {
    typealias Outcome = RequestHeadScanner.Outcome

    /// The whole input at once.
    func scan(_ text: String) -> Outcome {
        var scanner = RequestHeadScanner()
        return scanner.scan(Array(text.utf8))
    }

    /// The same input one byte at a time (each call sees everything so far, as the handler feeds it).
    func trickle(_ text: String) -> Outcome {
        var scanner = RequestHeadScanner()
        let bytes = Array(text.utf8)
        for n in 0..<bytes.count {
            let outcome = scanner.scan(Array(bytes[..<n]))
            if outcome != .needMore { return outcome }
        }
        return scanner.scan(bytes)
    }

    func head(_ method: String = "GET", _ target: String = "/.well-known/mta-sts.txt", http11: Bool = true, hosts: [String] = ["mta-sts.example.com"],
              keepAlive: Bool = true, body: Bool = false, length: UInt64? = nil, chunked: Bool = false, type: String? = nil,
              expect: Bool = false) -> RequestHead {
        RequestHead(method: method, target: target, isHTTP11: http11, hosts: hosts, keepAlive: keepAlive, hasBody: body,
                    contentLength: length, transferEncoding: chunked, contentType: type, expectsContinue: expect)
    }

    struct Good: CustomTestStringConvertible, Sendable {
        let text: String, head: RequestHead, why: String
        var testDescription: String { why }
    }

    static let t = RequestHeadScannerTests()
    static let good: [Good] = [
        Good(text: "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n", head: t.head(), why: "a policy fetch"),
        Good(text: "GET /.well-known/mta-sts.txt HTTP/1.1\r\nhOsT:mta-sts.example.com \t\r\nUser-Agent: x/1 (\u{e9})\r\n\r\n",
             head: t.head(), why: "field names ignore case; OWS trimmed; obs-text in a value"),
        Good(text: "\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\n", head: t.head("HEAD", "/", hosts: ["a"]), why: "empty lines before the request line (RFC 9112 §2.2)"),
        Good(text: "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", head: t.head("GET", "/", hosts: ["a"], keepAlive: false),
             why: "Connection: close among other tokens"),
        Good(text: "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", head: t.head("GET", "/", hosts: ["a"]), why: "closed is not close"),
        Good(text: "GET / HTTP/1.0\r\nHost: a\r\n\r\n", head: t.head("GET", "/", http11: false, hosts: ["a"], keepAlive: false), why: "HTTP/1.0 closes by default"),
        Good(text: "GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", head: t.head("GET", "/", http11: false, hosts: ["a"]),
             why: "HTTP/1.0 with keep-alive"),
        Good(text: "GET / HTTP/1.1\r\n\r\n", head: t.head("GET", "/", hosts: []), why: "no Host (the router answers 400)"),
        Good(text: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", head: t.head("GET", "/", hosts: ["a", "b"]), why: "two Hosts (the router answers 400)"),
        Good(text: "GET / HTTP/1.1\r\nHost:\r\n\r\n", head: t.head("GET", "/", hosts: [""]), why: "an empty Host (the router answers 400)"),
        Good(text: "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n", head: t.head("GET", "/", hosts: ["a"], length: 0),
             why: "Content-Length 0, repeated identically"),
        Good(text: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", head: t.head("POST", "/", hosts: ["a"], body: true, length: 3),
             why: "a body: the head ends before it"),
        Good(text: "POST /r HTTP/1.1\r\nHost: a\r\nContent-Type: Application/TLSRPT+gzip \r\nExpect: 100-Continue\r\nContent-Length: 9\r\n\r\n",
             head: t.head("POST", "/r", hosts: ["a"], body: true, length: 9, type: "Application/TLSRPT+gzip", expect: true),
             why: "a report POST: Content-Type as sent (OWS trimmed), Expect: 100-continue in any case"),
        Good(text: "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\nContent-Type: a/b\r\nExpect: 200-ok\r\n\r\n",
             head: t.head("POST", "/", hosts: ["a"], type: ""), why: "two Content-Types are none (415); another Expect is not 100-continue"),
        Good(text: "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", head: t.head("GET", "/", hosts: ["a"], body: true, chunked: true),
             why: "Transfer-Encoding: a body"),
        Good(text: "CONNECT mail.example:25 HTTP/1.1\r\nHost: mail.example:25\r\n\r\n",
             head: t.head("CONNECT", "mail.example:25", hosts: ["mail.example:25"]), why: "CONNECT (the router answers 400)"),
        Good(text: "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", head: t.head("GET", "http://x/", hosts: ["x"]), why: "absolute-form (the router answers 400)"),
    ]

    @Test("Good heads: what is extracted, at once and byte by byte", arguments: good)
    func goodHeads(_ g: Good) {
        let length = g.text.hasSuffix("abc") ? g.text.utf8.count - 3 : g.text.utf8.count
        #expect(scan(g.text) == .head(g.head, length: length))
        #expect(trickle(g.text) == .head(g.head, length: length))
    }

    struct Bad: CustomTestStringConvertible, Sendable {
        let text: String, status: Int, why: String
        var testDescription: String { why }
    }

    static let bad: [Bad] = [
        Bad(text: "GET / HTTP/1.1\nHost: a\n\n", status: 400, why: "bare LF"),
        Bad(text: "GET / HTTP/1.1\r\nHost: a\n\r\n", status: 400, why: "bare LF after a field"),
        Bad(text: "GET / HTTP/1.1\r\nHost: a\r\n\n", status: 400, why: "bare LF as the empty line"),
        Bad(text: "\n\nGET / HTTP/1.1\r\n\r\n", status: 400, why: "bare LF before the request line"),
        Bad(text: "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", status: 400, why: "bare CR in a value"),
        Bad(text: "GET /\r HTTP/1.1\r\n\r\n", status: 400, why: "bare CR in the target"),
        Bad(text: "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", status: 400, why: "obs-fold"),
        Bad(text: "GET / HTTP/1.1\r\nX: 1\r\n\t2\r\n\r\n", status: 400, why: "obs-fold with HTAB"),
        Bad(text: "GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: 400, why: "whitespace before the colon (request smuggling)"),
        Bad(text: "GET / HTTP/1.1\r\n Host: a\r\n\r\n", status: 400, why: "whitespace before the first field"),
        Bad(text: "GET / HTTP/1.1\r\nHost a\r\n\r\n", status: 400, why: "no colon"),
        Bad(text: "GET / HTTP/1.1\r\n: a\r\n\r\n", status: 400, why: "empty field name"),
        Bad(text: "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", status: 400, why: "a delimiter in a field name"),
        Bad(text: "GET / HTTP/1.1\r\nHost: a\u{0}b\r\n\r\n", status: 400, why: "NUL in a value"),
        Bad(text: "GET / HTTP/1.1\r\nHost: a\u{7f}\r\n\r\n", status: 400, why: "DEL in a value"),
        Bad(text: "GET  / HTTP/1.1\r\n\r\n", status: 400, why: "two spaces"),
        Bad(text: "GET / HTTP/1.1 \r\n\r\n", status: 400, why: "trailing space"),
        Bad(text: "GET\t/ HTTP/1.1\r\n\r\n", status: 400, why: "HTAB as separator"),
        Bad(text: "GET /\u{e9} HTTP/1.1\r\n\r\n", status: 400, why: "non-ASCII target"),
        Bad(text: "GET / HTTP/2.0\r\n\r\n", status: 400, why: "HTTP/2.0"),
        Bad(text: "GET / HTTP/1.2\r\n\r\n", status: 400, why: "HTTP/1.2"),
        Bad(text: "GET / http/1.1\r\n\r\n", status: 400, why: "lowercase version"),
        Bad(text: "GET /\r\n\r\n", status: 400, why: "HTTP/0.9"),
        Bad(text: "G(T / HTTP/1.1\r\n\r\n", status: 400, why: "a delimiter in the method"),
        Bad(text: " / HTTP/1.1\r\n\r\n", status: 400, why: "no method"),
        Bad(text: "\u{1}\u{2}garbage\r\n\r\n", status: 400, why: "not HTTP"),
        Bad(text: "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", status: 400, why: "conflicting Content-Length"),
        Bad(text: "GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", status: 400, why: "Content-Length list"),
        Bad(text: "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", status: 400, why: "negative Content-Length"),
        Bad(text: "GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", status: 400, why: "signed Content-Length"),
        Bad(text: "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", status: 400, why: "empty Content-Length"),
        Bad(text: "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", status: 400, why: "Content-Length overflow"),
        Bad(text: "GET / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, why: "Transfer-Encoding and Content-Length"),
        Bad(text: "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400, why: "Transfer-Encoding in HTTP/1.0"),
    ]

    @Test("Malformed heads: 400, at once and byte by byte", arguments: bad)
    func badHeads(_ b: Bad) {
        #expect(scan(b.text) == .reject(b.status))
        #expect(trickle(b.text) == .reject(b.status))
    }

    @Test("Limits: request line 8 KiB (414), field line 8 KiB, head 16 KiB, 64 fields (431); at the limit is fine")
    func limits() {
        let prefix = "GET /"
        let requestLine = { (n: Int) in prefix + String(repeating: "a", count: n - prefix.utf8.count - 9) + " HTTP/1.1" }
        #expect(requestLine(8192).utf8.count == 8192)
        #expect(scan(requestLine(8192) + "\r\nHost: a\r\n\r\n") != .reject(414))
        #expect(scan(requestLine(8193) + "\r\nHost: a\r\n\r\n") == .reject(414))
        #expect(scan(requestLine(9000)) == .reject(414), "detected before the line ends")

        let field = { (n: Int) in "X: " + String(repeating: "b", count: n - 3) }
        let base = "GET / HTTP/1.1\r\nHost: a\r\n"
        #expect(scan(base + field(8192) + "\r\n\r\n") != .reject(431))
        #expect(scan(base + field(8193) + "\r\n\r\n") == .reject(431))
        #expect(scan(base + field(9000)) == .reject(431), "detected before the line ends")
        #expect(trickle(base + field(8193) + "\r\n\r\n") == .reject(431))

        let fields = { (n: Int) in base + (1..<n).map { "X\($0): y\r\n" }.joined() + "\r\n" }
        #expect(scan(fields(64)) != .reject(431))
        #expect(scan(fields(65)) == .reject(431))

        // 16 KiB in all: two 7 KiB fields pass, three do not, also when the head never ends.
        let big = field(7 * 1024) + "\r\n"
        #expect(scan(base + big + big + "\r\n") != .reject(431))
        #expect(scan(base + big + big + big + "\r\n") == .reject(431))
        #expect(scan(base + big + big + big) == .reject(431))
        #expect(scan(String(repeating: "\r\n", count: 9000)) == .reject(431), "empty lines count too")
    }

    @Test("Pipelined heads: each one's length; the scanner resets after a head")
    func pipelined() {
        let one = "GET / HTTP/1.1\r\nHost: a\r\n\r\n", two = "HEAD /x HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
        var scanner = RequestHeadScanner()
        var bytes = Array((one + two + "GET").utf8)
        #expect(scanner.scan(bytes) == .head(head("GET", "/", hosts: ["a"]), length: one.utf8.count))
        bytes.removeFirst(one.utf8.count)
        #expect(scanner.scan(bytes) == .head(head("HEAD", "/x", hosts: ["b"], keepAlive: false), length: two.utf8.count))
        bytes.removeFirst(two.utf8.count)
        #expect(scanner.scan(bytes) == .needMore)
        bytes += Array(" / HTTP/1.1\r\nHost: c\r\n\r\n".utf8)
        #expect(scanner.scan(bytes) == .head(head("GET", "/", hosts: ["c"]), length: bytes.count))
    }

    @Test("Incomplete heads need more, whatever they end in")
    func incomplete() {
        for text in ["", "G", "GET / HTTP/1.1", "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r"] {
            #expect(scan(text) == .needMore, "\(text.debugDescription)")
        }
    }
}

extension RequestHeadScanner {
    mutating func scan(_ bytes: [UInt8]) -> Outcome { bytes.withUnsafeBytes { scan($0) } }
}
