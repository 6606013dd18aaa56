import Foundation
import NIOCore

/// One HTTP/1.1 response rendered once (when its policy changes, or at start for the fixed error answers):
/// the status line and fixed headers, and the body. Per request only the `Date` line and, when the
/// connection ends, `Connection: close` are added.
public struct CannedResponse: Sendable {
    public let status: Int
    /// Status line and fixed headers, each ending in CRLF, without the blank line.
    let head: ByteBuffer
    public let body: ByteBuffer

    /// - Parameters:
    ///   - headers: extra header lines (name, value) after Content-Type/Content-Length.
    public init(status: Int, reason: String, contentType: String, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        var h = "HTTP/1.1 \(status) \(reason)\r\nServer: mta-sts\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { h += "\(name): \(value)\r\n" }
        head = ByteBuffer(string: h)
        self.body = ByteBuffer(bytes: body)
    }

    /// The response bytes for one request: without the body for HEAD.
    func render(into buffer: inout ByteBuffer, date: ByteBuffer, close: Bool, includeBody: Bool) {
        buffer.writeImmutableBuffer(head)
        buffer.writeImmutableBuffer(date)
        if close { buffer.writeStaticString("Connection: close\r\n") }
        buffer.writeStaticString("\r\n")
        if includeBody { buffer.writeImmutableBuffer(body) }
    }

    var size: Int { head.readableBytes + 40 + 19 + 2 + body.readableBytes }

    /// A policy answer: `200`, `text/plain; charset=utf-8`, the exact bytes, and `Cache-Control` for any
    /// reverse proxy in front (RFC 8461 §3.3: senders must not use HTTP caching anyway).
    public static func policy(_ body: [UInt8], cacheControl: String) -> CannedResponse {
        CannedResponse(status: 200, reason: "OK", contentType: "text/plain; charset=utf-8", body: body,
                       headers: [("Cache-Control", cacheControl)])
    }

    static func plain(_ status: Int, _ reason: String, _ text: String, headers: [(String, String)] = []) -> CannedResponse {
        CannedResponse(status: status, reason: reason, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8),
                       headers: [("Cache-Control", "no-store")] + headers)
    }

    static let badRequest = plain(400, "Bad Request", "bad request")
    static let absoluteForm = plain(400, "Bad Request", "this server is not a proxy")
    static let notFound = plain(404, "Not Found", "not found")
    static let notAllowed = plain(405, "Method Not Allowed", "only GET and HEAD", headers: [("Allow", "GET, HEAD")])
    static let uriTooLong = plain(414, "URI Too Long", "request line too long")
    static let headersTooLarge = plain(431, "Request Header Fields Too Large", "request header fields too large")
    static let unavailable = plain(503, "Service Unavailable", "no valid policy available right now", headers: [("Retry-After", "60")])

    // A report host's answers (RFC 8460 §5.3).
    static let onlyPost = plain(405, "Method Not Allowed", "only POST (a TLS report)", headers: [("Allow", "POST")])
    /// An http-01 validation's answer (RFC 8555 §8.3): the key authorization, nothing else.
    static func keyAuthorization(_ text: String) -> CannedResponse {
        CannedResponse(status: 200, reason: "OK", contentType: "application/octet-stream", body: Array(text.utf8), headers: [("Cache-Control", "no-store")])
    }
    static let continueLine = ByteBuffer(string: "HTTP/1.1 100 Continue\r\n\r\n")

    /// The answer to a report POST: the outcome's status with `text` (what was stored, or why not) as the body.
    static func report(_ outcome: ReportPost.Outcome, _ text: String) -> CannedResponse {
        let reasons: [ReportPost.Outcome: String] = [
            .stored: "Created", .duplicate: "OK", .rejected: "Bad Request", .lengthRequired: "Length Required",
            .tooLarge: "Content Too Large", .unsupportedType: "Unsupported Media Type", .storeUnavailable: "Service Unavailable",
        ]
        let retry = outcome == .storeUnavailable ? [("Retry-After", "300")] : []
        return plain(outcome.status, reasons[outcome] ?? "", text, headers: outcome == .unsupportedType
                     ? [("Accept-Post", ReportPost.mediaTypes.joined(separator: ", "))] : retry)
    }
}

/// The `Date` header line (RFC 9110 §6.6.1); each connection keeps its own for the current second.
enum HTTPDate {
    static func line(for second: time_t) -> ByteBuffer {
        ByteBuffer(string: "Date: \(format(second))\r\n")
    }

    /// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func format(_ t: time_t) -> String {
        var t = t
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
