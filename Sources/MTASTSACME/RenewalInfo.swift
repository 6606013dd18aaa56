import Foundation

extension ACMERenewalInfo {
    /// RFC 9773 §4.2: the renewal information in a 200 response (its JSON body and Retry-After). Pure, so the fuzz
    /// target `acme` reads server bytes through exactly this (Fuzz/FuzzACME).
    static func parse(_ response: ACMEResponse, now: Date) throws -> ACMERenewalInfo {
        struct Body: Decodable {
            struct Window: Decodable { var start: String; var end: String }
            var suggestedWindow: Window
            var explanationURL: String?
        }
        let body = try JSONDecoder.acme(Body.self, from: response.body, what: "the renewal information")
        guard let start = RFC3339.parse(body.suggestedWindow.start), let end = RFC3339.parse(body.suggestedWindow.end) else {
            throw ACMEClientError.badResponse("the suggested window's times are not RFC 3339")
        }
        // §4.2: a window whose end is not after its start is invalid; the client treats it as absent.
        guard end > start else { throw ACMEClientError.badResponse("the suggested window ends before it starts") }
        return ACMERenewalInfo(windowStart: start, windowEnd: end, explanationURL: body.explanationURL,
                               retryAfter: response.retryAfter(now: now))
    }
}

/// RFC 3339 timestamps, with or without fractional seconds.
enum RFC3339 {
    static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
