// Pure: no imports, no I/O (scripts/fuzz.sh compiles this file alone into the `request` fuzz target).

/// The parts of an HTTP/1.x request head the policy host acts on (RFC 9112 §2–§3, §5, §9.3).
public struct RequestHead: Equatable, Sendable {
    public var method: String
    /// The request-target as sent (origin-form expected; the router rejects the other forms).
    public var target: String
    /// `HTTP/1.0` (false) or `HTTP/1.1` (true).
    public var isHTTP11: Bool
    /// The value of every `Host` field, OWS trimmed.
    public var hosts: [String]
    /// HTTP/1.1 without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive` (RFC 9112 §9.3).
    public var keepAlive: Bool
    /// A body follows (`Transfer-Encoding`, or `Content-Length` other than 0). The host never reads request
    /// bodies: such a request is answered and the connection closed, so a body is never read as a request.
    public var hasBody: Bool
    /// The body's framing and type, read only on a report host (``ReportPost``): `Content-Length`, whether
    /// `Transfer-Encoding` was sent, the `Content-Type` value (OWS trimmed), and `Expect: 100-continue`.
    public var contentLength: UInt64? = nil
    public var transferEncoding = false
    public var contentType: String? = nil
    public var expectsContinue = false
}

/// A strict, incremental request-head scanner: request line and field lines up to the empty line, nothing
/// else (no body framing, no header map). Feed it everything buffered since the start of the current request
/// (the same bytes again plus what arrived); it resumes at the first line it has not finished yet, so a head
/// that trickles in byte by byte is scanned once.
///
/// Rejected (400, connection closed): bare LF or CR, obs-fold (RFC 9112 §5.2), whitespace before a field's
/// colon (§5.1), control characters, anything but one SP between method, target and `HTTP/1.0`/`HTTP/1.1`
/// (§3), a bad or conflicting `Content-Length`, `Transfer-Encoding` together with `Content-Length` or in
/// HTTP/1.0 (§6.1). Limits: request line ≤ 8 KiB (else 414), each field line ≤ 8 KiB, the head ≤ 16 KiB and
/// ≤ 64 fields (else 431). Empty lines before the request line are skipped (§2.2).
public struct RequestHeadScanner: Sendable {
    public static let maxLineLength = 8 * 1024
    public static let maxHeadLength = 16 * 1024
    public static let maxFieldCount = 64

    public enum Outcome: Equatable, Sendable {
        /// Not a complete head yet and no rule broken so far.
        case needMore
        /// A complete head of `length` bytes (the empty line included).
        case head(RequestHead, length: Int)
        /// Answer `status` (400, 414 or 431) and close.
        case reject(Int)
    }

    /// Where the first unfinished line starts, relative to the start of the request.
    private var lineStart = 0
    /// Where to look for the next LF: the bytes before it (from `lineStart`) have none.
    private var searchFrom = 0
    private var fields = 0
    private var sawRequestLine = false
    private var head = RequestHead(method: "", target: "", isHTTP11: true, hosts: [], keepAlive: true, hasBody: false)
    private var connectionClose = false
    private var connectionKeepAlive = false
    private var contentLength: UInt64?
    private var transferEncoding = false

    public init() {}

    /// Scans `bytes`, everything received since the start of the current request. After `.head` the scanner
    /// is ready for the next request (whose bytes start at `length`); after `.reject` it must not be used again.
    public mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        let end = bytes.count
        while true {
            // One line: [lineStart, lf), CR required just before the LF.
            var lf = max(lineStart, searchFrom)
            while lf < end && bytes[lf] != 0x0A { lf += 1 }
            if lf == end {
                // The unfinished line may end in its CR already.
                if end - lineStart > Self.maxLineLength + 1 { return .reject(sawRequestLine ? 431 : 414) }
                if end > Self.maxHeadLength { return .reject(431) }
                searchFrom = end
                return .needMore
            }
            guard lf > lineStart, bytes[lf - 1] == 0x0D else { return .reject(400) }  // bare LF
            let line = lineStart..<(lf - 1)
            if line.count > Self.maxLineLength { return .reject(sawRequestLine ? 431 : 414) }
            lineStart = lf + 1
            if lineStart > Self.maxHeadLength { return .reject(431) }
            if !sawRequestLine {
                if line.isEmpty { continue }  // RFC 9112 §2.2: empty lines before the request line
                guard requestLine(bytes, line) else { return .reject(400) }
                sawRequestLine = true
            } else if line.isEmpty {
                return finish()
            } else {
                fields += 1
                if fields > Self.maxFieldCount { return .reject(431) }
                guard field(bytes, line) else { return .reject(400) }
            }
        }
    }

    private mutating func finish() -> Outcome {
        if transferEncoding && (contentLength != nil || !head.isHTTP11) { return .reject(400) }
        var done = head
        done.keepAlive = head.isHTTP11 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        done.hasBody = transferEncoding || (contentLength ?? 0) > 0
        done.contentLength = contentLength
        done.transferEncoding = transferEncoding
        let length = lineStart
        self = RequestHeadScanner()
        return .head(done, length: length)
    }

    /// `method SP request-target SP HTTP-version` (RFC 9112 §3).
    private mutating func requestLine(_ b: UnsafeRawBufferPointer, _ line: Range<Int>) -> Bool {
        guard let method = Self.token(b, line, then: 0x20) else { return false }
        var i = method.upperBound + 1
        let targetStart = i
        while i < line.upperBound && b[i] > 0x20 && b[i] < 0x7F { i += 1 }
        let target = targetStart..<i
        guard !target.isEmpty, i < line.upperBound, b[i] == 0x20 else { return false }
        i += 1
        guard line.upperBound - i == 8, Self.matches(b, i, "HTTP/1."), b[i + 7] == 0x30 || b[i + 7] == 0x31 else { return false }
        head.method = Self.string(b, method)
        head.target = Self.string(b, target)
        head.isHTTP11 = b[i + 7] == 0x31
        return true
    }

    /// `field-name ":" OWS field-value OWS` (RFC 9112 §5); only Host, Connection, Content-Length,
    /// Transfer-Encoding, Content-Type and Expect are kept.
    private mutating func field(_ b: UnsafeRawBufferPointer, _ line: Range<Int>) -> Bool {
        // Also rejects obs-fold (a line starting with SP/HTAB) and whitespace before the colon.
        guard let name = Self.token(b, line, then: 0x3A) else { return false }
        var i = name.upperBound + 1
        var valueEnd = line.upperBound
        for j in i..<line.upperBound {
            let c = b[j]
            // field-vchar (VCHAR / obs-text), SP, HTAB; no other controls, no DEL.
            guard c >= 0x20 && c != 0x7F || c == 0x09 else { return false }
        }
        while i < valueEnd && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
        while valueEnd > i && (b[valueEnd - 1] == 0x20 || b[valueEnd - 1] == 0x09) { valueEnd -= 1 }
        let value = i..<valueEnd
        switch name.count {
        case 4 where Self.matchesLowercased(b, name.lowerBound, "host"):
            head.hosts.append(Self.string(b, value))
        case 10 where Self.matchesLowercased(b, name.lowerBound, "connection"):
            connectionTokens(b, value)
        case 14 where Self.matchesLowercased(b, name.lowerBound, "content-length"):
            // 1*DIGIT only (no lists, no signs); a repeated field must repeat the same value (RFC 9110 §8.6).
            guard !value.isEmpty, value.count <= 18 else { return false }
            var n: UInt64 = 0
            for j in value {
                guard b[j] >= 0x30 && b[j] <= 0x39 else { return false }
                n = n * 10 + UInt64(b[j] - 0x30)
            }
            if let previous = contentLength, previous != n { return false }
            contentLength = n
        case 17 where Self.matchesLowercased(b, name.lowerBound, "transfer-encoding"):
            transferEncoding = true
        case 12 where Self.matchesLowercased(b, name.lowerBound, "content-type"):
            // More than one: not one type (RFC 9110 §5.3); the report host answers 415.
            head.contentType = head.contentType == nil ? Self.string(b, value) : ""
        case 6 where Self.matchesLowercased(b, name.lowerBound, "expect"):
            head.expectsContinue = value.count == 12 && Self.matchesLowercased(b, value.lowerBound, "100-continue")
        default:
            break
        }
        return true
    }

    /// `Connection` is a comma-separated list of case-insensitive tokens.
    private mutating func connectionTokens(_ b: UnsafeRawBufferPointer, _ value: Range<Int>) {
        var i = value.lowerBound
        while i < value.upperBound {
            while i < value.upperBound && (b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x2C) { i += 1 }
            let start = i
            while i < value.upperBound && b[i] != 0x2C && b[i] != 0x20 && b[i] != 0x09 { i += 1 }
            if i - start == 5 && Self.matchesLowercased(b, start, "close") { connectionClose = true }
            if i - start == 10 && Self.matchesLowercased(b, start, "keep-alive") { connectionKeepAlive = true }
        }
    }

    /// The tchar run at the start of `line`, when it is not empty and `delimiter` follows it.
    private static func token(_ b: UnsafeRawBufferPointer, _ line: Range<Int>, then delimiter: UInt8) -> Range<Int>? {
        var i = line.lowerBound
        while i < line.upperBound && isTChar(b[i]) { i += 1 }
        guard i > line.lowerBound, i < line.upperBound, b[i] == delimiter else { return nil }
        return line.lowerBound..<i
    }

    /// tchar (RFC 9110 §5.6.2): the characters of methods and field names.
    private static func isTChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
        default: false
        }
    }

    /// Whether the bytes at `i` are `literal` (the caller checked there is room).
    private static func matches(_ b: UnsafeRawBufferPointer, _ i: Int, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { l in
            guard i + l.count <= b.count else { return false }
            for k in 0..<l.count where b[i + k] != l[k] { return false }
            return true
        }
    }

    /// Like ``matches(_:_:_:)`` for a lowercase `literal`, ignoring ASCII case in `b`.
    private static func matchesLowercased(_ b: UnsafeRawBufferPointer, _ i: Int, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { l in
            guard i + l.count <= b.count else { return false }
            for k in 0..<l.count where b[i + k] | 0x20 != l[k] { return false }
            return true
        }
    }

    private static func string(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: b[r]), as: UTF8.self)
    }
}
