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

/// Why a policy fetch failed: a stable ``Code`` (docs/lookup.md lists them) and a message for people.
public struct FetchFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The failure codes. The raw values are printed and appear in `mta-sts lookup --json` (a contract).
    public enum Code: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// The policy host has no address to connect to.
        case hostNotFound = "host-not-found"
        /// No connection at this address (refused, unreachable, timed out): the next address may be tried.
        case connectFailed = "connect-failed"
        /// TLS failed for a reason other than the certificate (e.g. no TLS 1.2, RFC 8461 §7.2).
        case tlsHandshake = "tls-handshake"
        /// No SAN DNS-ID of the certificate covers the policy host (RFC 8461 §3.3).
        case tlsCertificateName = "tls-certificate-name"
        case tlsCertificateExpired = "tls-certificate-expired"
        case tlsCertificateNotYetValid = "tls-certificate-not-yet-valid"
        /// The chain does not reach a trusted root (self-signed or unknown issuer).
        case tlsCertificateUntrusted = "tls-certificate-untrusted"
        /// Verification failed and the reason could not be determined.
        case tlsCertificateInvalid = "tls-certificate-invalid"
        case httpRedirect = "http-redirect"
        case httpStatus = "http-status"
        case httpContentType = "http-content-type"
        case httpTooLarge = "http-too-large"
        case httpTimeout = "http-timeout"
        /// The connection closed before a complete response.
        case httpBody = "http-body"
        /// Any other HTTP failure.
        case httpError = "http-error"

        public var description: String { rawValue }

        /// A certificate failure: TLS-RPT `sts-webpki-invalid` rather than `sts-policy-fetch-error` (RFC 8460 §4.3.2.2).
        public var isWebPKI: Bool {
            switch self {
            case .tlsCertificateName, .tlsCertificateExpired, .tlsCertificateNotYetValid, .tlsCertificateUntrusted,
                 .tlsCertificateInvalid: true
            default: false
            }
        }

        /// A failure of the TLS session itself (handshake or certificate), not of the HTTP exchange over it.
        public var isTLS: Bool { self == .tlsHandshake || isWebPKI }

        /// The connection itself failed, so the next address may be tried.
        public var isConnectFailure: Bool { self == .connectFailed }
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// Whether it is a certificate failure (TLS-RPT `sts-webpki-invalid`) rather than a fetch failure.
    public var isWebPKI: Bool { code.isWebPKI }
    /// True when the next address may be tried (the connection itself failed).
    public var isConnectFailure: Bool { code.isConnectFailure }

    public var description: String { "\(code): \(message)" }

    // MARK: The failures RFC 8461 §3.3 names (other codes come from the transport, e.g. tls-handshake)

    public static func status(_ code: Int) -> Self {
        .init(code: .httpStatus, message: "the server answered HTTP \(code); only 200 makes a policy valid (RFC 8461 §3.3)")
    }

    public static func redirect(_ code: Int, location: String?) -> Self {
        .init(code: .httpRedirect,
              message: "the server answered HTTP \(code) redirecting to \(location ?? "(no Location)"); redirects must not be followed (RFC 8461 §3.3)")
    }

    public static func contentType(_ value: String?) -> Self {
        .init(code: .httpContentType,
              message: value.map { "the Content-Type is \"\($0)\", not text/plain (RFC 8461 §3.2)" }
                ?? "the response has no Content-Type; it must be text/plain (RFC 8461 §3.2)")
    }

    public static func tooLarge(limit: Int) -> Self {
        .init(code: .httpTooLarge, message: "the body is larger than \(limit) bytes (RFC 8461 §3.3 limit)")
    }

    public static func timeout(_ limit: Duration) -> Self {
        .init(code: .httpTimeout, message: "no complete response within \(limit) (RFC 8461 §3.3 limit)")
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
