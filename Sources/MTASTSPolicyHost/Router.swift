import MTASTSCore
import MTASTSDiscovery

/// One configured policy host name `mta-sts.<domain>`: where its policy comes from right now.
public final class Route: Sendable {
    public let domain: DomainName
    public let slot: PolicySlot
    /// Set for proxied domains with `mx_guard: true`.
    public let mxGuard: MXGuard?
    /// Requests by answer (``PolicyHostMetrics/statuses``).
    let counters: RequestCounters

    init(domain: DomainName, slot: PolicySlot, mxGuard: MXGuard?, counters: RequestCounters) {
        self.domain = domain
        self.slot = slot
        self.mxGuard = mxGuard
        self.counters = counters
    }

    /// The answer for a GET or HEAD of the policy path.
    func answer(now: @autoclosure () -> Double) -> CannedResponse {
        if let mxGuard {
            switch mxGuard.current {
            case .matches: break
            case .mismatch: return .notFound
            case .unknown: return .unavailable
            }
        }
        // Never invent a policy: nothing valid in force → 503.
        return slot.current(now: now())?.response ?? .unavailable
    }
}

/// Request routing, without I/O: `GET`/`HEAD /.well-known/mta-sts.txt` on a configured `mta-sts.<domain>`.
public enum Router {
    public enum Decision: Equatable, Sendable {
        /// Serve the route's policy (or its 503/404 when it has none in force).
        case policy(String)
        /// A POST to a report host (``ReportPost`` decides about its body).
        case report(String)
        /// An http-01 validation (RFC 8555 §8.3): `GET`/`HEAD /.well-known/acme-challenge/<token>` on a configured
        /// host; answered with the pending key authorization for (host, token), or 404.
        case challenge(host: String, token: String)
        case response(Int)

        static let badRequest = Decision.response(400)
    }

    /// Decides what to answer. Unknown host or path → 404; a method other than GET/HEAD on the policy →
    /// 405; `GET`/`HEAD` of an ACME http-01 path with a base64url token → ``Decision/challenge(host:token:)`` (404 unless
    /// that host and token are pending); CONNECT and absolute-form targets → 400 (never a proxy); no redirects anywhere. A report host
    /// (`reports.hosts`) takes `POST` on any path (the `rua` URI is the operator's choice, RFC 8460 §3) and
    /// answers every other method 405.
    ///
    /// - Parameters:
    ///   - hosts: the values of every `Host` header.
    ///   - knownHost: whether a lowercased `mta-sts.<domain>` is configured.
    ///   - reportHost: whether a lowercased name receives TLS reports.
    public static func decide(method: String, uri: String, hosts: [String], knownHost: (String) -> Bool,
                              reportHost: (String) -> Bool = { _ in false }) -> Decision {
        // Origin-form only: "http://...", "host:port" (CONNECT) or "*" would make us a proxy or are meaningless here.
        guard uri.utf8.first == UInt8(ascii: "/"), method != "CONNECT" else { return .response(400) }
        guard hosts.count == 1, let host = hostKey(hosts[0]) else { return .response(400) }
        if reportHost(host) { return method == "POST" ? .report(host) : .response(405) }
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(uri[..<$0]) } ?? uri
        // http-01 before the host check: in a fleet a host answers a challenge another host published for a name it
        // does not serve yet (a rolling change); only a pending (host, token) pair is ever answered.
        if method == "GET" || method == "HEAD", path.hasPrefix(ChallengeTokens.pathPrefix) {
            let token = path.dropFirst(ChallengeTokens.pathPrefix.count)
            // RFC 8555 §8.1: a token is base64url (no padding); anything else is never one of ours.
            if !token.isEmpty, token.utf8.allSatisfy(Base64URLAlphabet.contains) { return .challenge(host: host, token: String(token)) }
        }
        guard knownHost(host) else { return .response(404) }
        guard path == policyPath else { return .response(404) }
        guard method == "GET" || method == "HEAD" else { return .response(405) }
        return .policy(host)
    }

    /// The `Host` value as a route key: port stripped, lowercase, trailing dot removed, IDN as A-labels.
    /// Nil when it is not a host name at all.
    public static func hostKey(_ value: String) -> String? {
        // On the UTF-8 bytes (per request; Character-wise String operations cost grapheme breaking).
        let bytes = value.utf8
        if bytes.first == UInt8(ascii: "[") { return nil }  // an IPv6 literal is never a policy host
        var end = bytes.endIndex
        if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
            guard bytes[bytes.index(after: colon)...].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            end = colon
        }
        var name = bytes[..<end]
        // The common case: already lowercase ASCII.
        if name.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E }) {
            if name.last == UInt8(ascii: ".") { name = name.dropLast() }
            if name.isEmpty { return nil }
            return name.endIndex == bytes.endIndex ? value : String(Substring(name))
        }
        return (try? DomainName(String(Substring(name))))?.value
    }
}

enum Base64URLAlphabet {
    static func contains(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x2D || byte == 0x5F
    }
}
