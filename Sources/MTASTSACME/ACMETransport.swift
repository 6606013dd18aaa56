import Foundation

/// One HTTP exchange with the ACME server. The client's protocol logic sees only this, so it runs against an
/// in-memory server in unit tests and against ``NIOACMETransport`` (HTTPS) for real.
public protocol ACMETransport: Sendable {
    func send(_ request: ACMERequest) async throws -> ACMEResponse
}

public struct ACMERequest: Sendable, Equatable {
    public enum Method: String, Sendable { case get = "GET", head = "HEAD", post = "POST" }

    public var method: Method
    public var url: String
    /// Besides Host, Content-Length and Connection, which the transport sets.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: Method, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    public static func == (a: ACMERequest, b: ACMERequest) -> Bool {
        a.method == b.method && a.url == b.url && a.body == b.body
            && a.headers.map { [$0.name, $0.value] } == b.headers.map { [$0.name, $0.value] }
    }
}

public struct ACMEResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        let name = name.lowercased()
        return headers.first { $0.name.lowercased() == name }?.value
    }

    /// RFC 8555 §6.5: every response carries a fresh nonce, errors included.
    public var replayNonce: String? { header("Replay-Nonce") }

    /// RFC 8555 §7.3, §7.4: the URL of a created account or order.
    public var location: String? { header("Location") }

    public var contentType: String? { header("Content-Type") }

    /// RFC 8288 Link header values with the given relation (`up`, `index`, `alternate`), in order; several
    /// links may share one header line, separated by commas.
    public func links(rel: String) -> [String] {
        headers.filter { $0.name.lowercased() == "link" }
            .flatMap { $0.value.split(separator: ",") }
            .compactMap { link -> String? in
                let parts = link.split(separator: ";").map { $0.trimming(" \t") }
                guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">") else { return nil }
                let relations = parts.dropFirst().compactMap { parameter -> Substring? in
                    let pair = parameter.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2, pair[0].trimming(" \t").lowercased() == "rel" else { return nil }
                    return pair[1].trimming("\" ")
                }
                guard relations.contains(where: { $0.split(separator: " ").contains(Substring(rel)) }) else { return nil }
                return String(target.dropFirst().dropLast())
            }
    }

    /// RFC 9110 §10.2.3: Retry-After as delay-seconds or an HTTP-date, as a wait from `now` (never negative).
    public func retryAfter(now: Date) -> Duration? {
        guard let value = header("Retry-After").map({ String($0.trimming(" \t")) }) else { return nil }
        if let seconds = Int(value), seconds >= 0 { return .seconds(seconds) }
        guard let date = HTTPDate.parse(value) else { return nil }
        return .seconds(max(0, Int(date.timeIntervalSince(now).rounded(.up))))
    }
}

/// IMF-fixdate (RFC 9110 §5.6.7), the only HTTP-date form a server may send today.
enum HTTPDate {
    static func parse(_ text: String) -> Date? {
        // An IMF-fixdate is ASCII. Foundation's DateFormatter on Linux traps on some non-ASCII text (a combining mark
        // after a colon: "08:\u{33E}:37"), so a server's Retry-After could stop the process (found by the `acme` fuzz target).
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.date(from: text)
    }
}

extension StringProtocol {
    /// Without the given characters at either end (pure Swift: Foundation's `trimmingCharacters(in:)` goes through
    /// NSString, which cost a tenth of reading a response).
    func trimming(_ characters: String) -> SubSequence {
        guard let first = firstIndex(where: { !characters.contains($0) }),
              let last = lastIndex(where: { !characters.contains($0) }) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
