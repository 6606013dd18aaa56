import MTASTSCore

/// Fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt` by the rules of RFC 8461 §3.3: HTTPS only,
/// SNI and certificate name check for the policy host, TLS 1.2 or later, no redirects, status 200 only,
/// `text/plain`, a body cap and a total deadline, no HTTP caching.
public protocol PolicyFetcher: Sendable {
    /// - Parameters:
    ///   - host: the policy host, `mta-sts.<domain>`.
    ///   - addresses: the host's addresses as resolved by our ``DNSResolver``, tried in order.
    func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult
}

/// The URL path every policy is served at (RFC 8461 §3.2).
public let policyPath = "/.well-known/mta-sts.txt"

/// What one fetch gave: the body, or why there is none; and each connection attempt.
public struct PolicyFetchResult: Sendable {
    public enum Outcome: Sendable {
        /// Status 200, `text/plain`, within the cap: the body exactly as received.
        case body([UInt8])
        case failure(FetchFailure)
    }

    /// One try at one address.
    public struct Attempt: Sendable {
        public let address: IPAddress
        /// "200 text/plain 123 bytes", "connection refused", ...
        public let summary: String
        public let elapsed: Duration

        public init(address: IPAddress, summary: String, elapsed: Duration) {
            self.address = address
            self.summary = summary
            self.elapsed = elapsed
        }
    }

    public let outcome: Outcome
    public let attempts: [Attempt]

    public init(_ outcome: Outcome, attempts: [Attempt]) {
        self.outcome = outcome
        self.attempts = attempts
    }
}

/// Why a policy fetch failed. `code` is stable (docs/lookup.md lists them); `isWebPKI` says whether it is
/// a certificate failure (TLS-RPT `sts-webpki-invalid`) rather than a fetch failure (`sts-policy-fetch-error`).
public struct FetchFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let message: String
    public let isWebPKI: Bool
    /// True when the next address may be tried (the connection itself failed).
    public let isConnectFailure: Bool

    public init(code: String, message: String, isWebPKI: Bool = false, isConnectFailure: Bool = false) {
        self.code = code
        self.message = message
        self.isWebPKI = isWebPKI
        self.isConnectFailure = isConnectFailure
    }

    public var description: String { "\(code): \(message)" }

    // MARK: The failures RFC 8461 §3.3 names (other codes come from the transport, e.g. tls-handshake)

    public static func status(_ code: Int) -> Self {
        .init(code: "http-status", message: "the server answered HTTP \(code); only 200 makes a policy valid (RFC 8461 §3.3)")
    }

    public static func redirect(_ code: Int, location: String?) -> Self {
        .init(code: "http-redirect",
              message: "the server answered HTTP \(code) redirecting to \(location ?? "(no Location)"); redirects must not be followed (RFC 8461 §3.3)")
    }

    public static func contentType(_ value: String?) -> Self {
        .init(code: "http-content-type",
              message: value.map { "the Content-Type is \"\($0)\", not text/plain (RFC 8461 §3.2)" }
                ?? "the response has no Content-Type; it must be text/plain (RFC 8461 §3.2)")
    }

    public static func tooLarge(limit: Int) -> Self {
        .init(code: "http-too-large", message: "the body is larger than \(limit) bytes (RFC 8461 §3.3 limit)")
    }

    public static func timeout(_ limit: Duration) -> Self {
        .init(code: "http-timeout", message: "no complete response within \(limit) (RFC 8461 §3.3 limit)")
    }

    /// True when a Content-Type header value is `text/plain`, parameters ignored (RFC 8461 §3.2).
    public static func isTextPlain(_ value: String) -> Bool {
        let media = value.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: " \t") } ?? ""
        return media.lowercased() == "text/plain"
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
