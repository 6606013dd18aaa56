import MTASTSCore
import MTASTSDiscovery
import PostfixSocketmap

/// Per-zone reply options, chosen by the socketmap name (`socketmap:inet:127.0.0.1:8461:NAME`), as in
/// postfix-mta-sts-resolver.
public struct ZoneOptions: Sendable, Hashable {
    /// Treat `mode: testing` like `enforce` (off: testing never changes delivery, RFC 8461 §5).
    public var strictTesting = false
    /// Append `servername=hostname` so Postfix sends SNI (RFC 8461 §7.1; Postfix ≥ 3.4).
    public var requireSNI = true
    /// Append the TLS-RPT attributes of Postfix ≥ 3.10 (`policy_type=sts`, `mx_host_pattern`, ...).
    public var tlsrpt = false
    /// How long a lookup of an unknown domain may wait for discovery before answering NOTFOUND.
    public var timeout: Duration = .seconds(4)
    /// The reply when DANE applies to a domain with an enforced policy (docs/dane.md).
    public var daneReply: DANEReply = .daneOnly

    /// Postfix's level for a DANE domain: `dane-only` (mandatory DANE; MX hosts without usable TLSA are not
    /// used) or `dane` (opportunistic DANE: such hosts get Postfix's `may`/`encrypt`).
    public enum DANEReply: String, Sendable, Hashable, CaseIterable {
        case daneOnly = "dane-only"
        case dane
    }

    public init() {}
}

/// How a socketmap key maps to a policy domain (RFC 8461 §3.4; rfc-checklist §2.2).
public enum PolicyKey: Sendable, Equatable {
    /// Look up the policy of this domain.
    case domain(DomainName)
    /// Answer NOTFOUND without any lookup, for this reason.
    case skip(String)

    /// - Postfix's parent-domain probes (`.example.com`): NOTFOUND; a parent's policy never applies (§3.4).
    /// - IP literals (`[192.0.2.1]`, `[IPv6:2001:db8::1]`, `192.0.2.1`): NOTFOUND; no policy can be associated.
    /// - Next hops with brackets or a port (`[relay.example]:587`, `relay.example:25`): the host is the
    ///   policy domain (§3.4: with a smart host, the smart host's domain is the policy domain).
    /// - Anything else is the recipient domain: case-folded, trailing dot removed, U-labels to A-labels.
    public init(_ key: String) {
        var host = Substring(key)
        if host.isEmpty { self = .skip("empty key"); return }
        if host.hasPrefix(".") { self = .skip("parent-domain probe"); return }
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { self = .skip("unbalanced brackets"); return }
            let rest = host[host.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isNumber) && rest.count > 1) else {
                self = .skip("not a next hop")
                return
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            let port = host[host.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy(\.isNumber), !host[..<colon].contains(":") else {
                self = .skip("IP literal")  // a bare IPv6 address, or garbage
                return
            }
            host = host[..<colon]
        }
        if host.lowercased().hasPrefix("ipv6:") || host.contains(":") || Self.isIPv4(host) {
            self = .skip("IP literal")
            return
        }
        guard let domain = try? DomainName(String(host)) else { self = .skip("not a domain name"); return }
        self = .domain(domain)
    }

    private static func isIPv4(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }
    }
}

/// The Postfix TLS policy reply for an MTA-STS decision (rfc-checklist §2.4). Same input, same bytes.
public enum PostfixPolicyReply {
    /// - enforce (or testing with `strictTesting`): `OK secure match=<host patterns in policy order, *.x as .x>`
    ///   plus `servername=hostname` and, with `tlsrpt`, the TLS-RPT attributes. Address-like patterns are left
    ///   out (``hostPatterns(_:)``); when none is left, `TEMP <reason>`.
    /// - testing, none, no policy: `NOTFOUND ` (Postfix's own default level applies, DANE included; never
    ///   `may`, which would lower a stricter global level).
    /// - DANE (`dane` given): only for a policy that would be enforced, because otherwise NOTFOUND leaves
    ///   Postfix's own level — its own DANE included — in charge. DANE applies → `OK dane-only` (or `OK dane`);
    ///   DANE undecidable (bogus or failed DNSSEC answers) → `TEMP <reason>`: the mail waits rather than go
    ///   out without the DANE check (RFC 8461 §2, RFC 7672 §2.2); DANE does not apply → the MTA-STS reply.
    ///
    /// `now` (the policy cache's clock) is read only for `policy_ttl` (zone `tlsrpt`): the policy's remaining lifetime.
    public static func reply(for decision: PolicyCache.Decision, dane: DANEStatus? = nil, options: ZoneOptions,
                             now: @autoclosure () -> Double) -> SocketmapReply {
        guard case .policy(let cached) = decision else { return .notFound }
        let ttl = options.tlsrpt ? max(0, Int((cached.expiresAt - now()).rounded(.down))) : nil
        return reply(for: cached.policy, domain: cached.domain, dane: dane, options: options, policyTTL: ttl)
    }

    /// Whether the policy changes delivery (so DANE precedence must be decided first).
    public static func isEnforced(_ policy: STSPolicy, options: ZoneOptions) -> Bool {
        isEnforced(mode: policy.mode, hasMX: !policy.mx.isEmpty, options: options)
    }

    public static func isEnforced(mode: STSPolicy.Mode, hasMX: Bool, options: ZoneOptions) -> Bool {
        (mode == .enforce || (mode == .testing && options.strictTesting)) && hasMX
    }

    /// Whether a reply must be rendered for each lookup rather than remembered: a TEMP reason may change, and
    /// `policy_ttl` counts down.
    public static func changesOverTime(_ reply: SocketmapReply) -> Bool {
        switch reply {
        case .temp: true
        case .ok(let data): data.contains(" policy_ttl=")
        case .notFound, .perm: false
        }
    }

    /// The `mx` patterns that can name an MX host. `mx: 192.0.2.1` is legal ABNF (all-digit labels), but an MX
    /// record names a host, never an address (RFC 8461 §4.1), and Postfix matches an address-like `match=`
    /// pattern as an IP address (postfix-tlspol#70): such patterns can only mislead, so they are left out.
    public static func hostPatterns(_ policy: STSPolicy) -> [MXPattern] {
        policy.mx.filter { !$0.domain.labels.allSatisfy { $0.utf8.allSatisfy { (0x30...0x39).contains($0) } } }
    }

    /// - Parameter policyTTL: the `policy_ttl` attribute (with `tlsrpt`): seconds Postfix may cache the reply, the
    ///   policy's remaining lifetime (nil: not sent).
    public static func reply(for policy: STSPolicy, domain: DomainName, dane: DANEStatus? = nil, options: ZoneOptions,
                             policyTTL: Int? = nil) -> SocketmapReply {
        guard isEnforced(policy, options: options) else { return .notFound }
        switch dane?.regime {
        case .dane: return .ok(options.daneReply.rawValue)
        case .deferred: return .temp("DANE cannot be evaluated for \(domain): \(dane!.reason)")
        case .mtaSTS, nil: break
        }
        let hosts = hostPatterns(policy)
        // Enforce with no MX host that can match: nothing may be delivered (RFC 8461 §4.2), and the mail waits for a
        // corrected policy rather than bounce (§5.1). TEMP defers it without any connection to an MX; an empty
        // `match=` would be a Postfix configuration error, and a made-up name would still connect to every MX.
        guard !hosts.isEmpty else {
            return .temp("the MTA-STS policy of \(domain) names no MX host, only addresses such as \(policy.mx[0]): "
                         + "no MX can match, mail waits for a corrected policy (RFC 8461 section 4.1)")
        }
        var seen = Set<String>()
        // Postfix has no `*`: `.example.net` is its "any name under example.net". With the mx_host_pattern
        // attributes (Postfix ≥ 3.10.5) Postfix itself applies RFC 8461's one-label rule.
        let match = hosts.map { $0.isWildcard ? "." + $0.domain.value : $0.domain.value }.filter { seen.insert($0).inserted }
        var base = "secure match=" + match.joined(separator: ":")
        if options.requireSNI { base += " servername=hostname" }
        guard options.tlsrpt else { return .ok(base) }
        // Postfix TLSRPT_README, "MTA-STS Support via smtp_tls_policy_maps" (Postfix ≥ 3.10).
        let attributes = " policy_type=sts policy_domain=\(domain.value)" + (policyTTL.map { " policy_ttl=\($0)" } ?? "")
            + hosts.map { " mx_host_pattern=\($0)" }.joined()
        // `{ name = value }` carries values with spaces; a value holding a brace cannot be written, so it is left out.
        let strings = policy.lines.filter { !$0.contains("{") && !$0.contains("}") }.map { " { policy_string = \($0) }" }.joined()
        for candidate in [base + attributes + strings, base + attributes, base] {
            if candidate.utf8.count + 3 <= SocketmapReply.maxPayload { return .ok(candidate) }
        }
        return .notFound  // cannot happen with a 64 KiB policy; never exceed Postfix's reply limit
    }
}
