import MTASTSCore
import MTASTSDiscovery

/// The line query mode's answer (for Exim's `${readsocket}`, docs/exim.md): one line of space-separated `key=value`
/// fields, keys only ever added. Values hold no space, quote, backslash or brace, except `reason`, which is quoted
/// (`reason="..."`, without `"`, `\` or control characters inside), so Exim's `${extract{KEY}{...}}` reads each.
///
/// - `mode=enforce|testing|none|dane-only|dane|temp`: `testing` is `enforce` with the zone's `strict_testing`;
///   `dane-only`/`dane` where DANE applies to an enforced domain (RFC 8461 §2); `temp` exactly where the socketmap
///   answers `TEMP` (DANE undecidable, an enforce policy naming no MX host) with its `reason`; `none` without a
///   policy, as the socketmap's `NOTFOUND` (a failed discovery included, RFC 8461 §5).
/// - With a policy (enforce, testing, none): `policy_domain`, `id`, `max_age`, `expires` (Unix time), `mx` (the
///   patterns in policy order joined by `:`, for logs) and `mx_re` (``MXPattern/anchoredRegex(_:)`` of the patterns
///   that name hosts: the MX filter).
public enum LineReply {
    public static let none = "mode=none"

    public static func temp(_ reason: String) -> String {
        "mode=temp reason=\"" + String(reason.unicodeScalars.filter { $0 != "\"" && $0 != "\\" && $0.value >= 0x20 && $0.value != 0x7f }) + "\""
    }

    public static func render(_ decision: PolicyCache.Decision, dane: DANEStatus?, options: ZoneOptions, now: Double) -> String {
        // The socketmap's reply decides `temp` and DANE, so both modes answer alike.
        switch PostfixPolicyReply.reply(for: decision, dane: dane, options: options, now: now) {
        case .temp(let reason), .perm(let reason): return temp(reason)
        case .ok(let data) where !data.hasPrefix("secure"): return "mode=" + data  // dane-only or dane
        case .ok, .notFound: break
        }
        guard case .policy(let cached) = decision else { return none }
        let policy = cached.policy
        let mode = policy.mode == .testing && options.strictTesting ? STSPolicy.Mode.enforce : policy.mode
        var fields = ["mode=\(mode.rawValue)", "policy_domain=\(cached.domain.value)", "id=\(cached.id)",
                      "max_age=\(policy.maxAge)", "expires=\(Int(cached.expiresAt.rounded(.down)))"]
        if !policy.mx.isEmpty { fields.append("mx=" + policy.mx.map(\.description).joined(separator: ":")) }
        if let regex = MXPattern.anchoredRegex(PostfixPolicyReply.hostPatterns(policy)) { fields.append("mx_re=" + regex) }
        return fields.joined(separator: " ")
    }
}
