/// An MTA-STS policy as served at `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.2).
///
/// One type for both directions: ``parse(_:reading:)`` reads a policy exactly by the ABNF, and ``text``
/// writes the canonical form (CRLF lines, final newline), so parse → ``text`` → parse is the identity.
public struct STSPolicy: Hashable, Sendable {
    /// What a sender does with the policy (RFC 8461 §5).
    public enum Mode: String, Hashable, Sendable, CaseIterable {
        /// Deliver only over verified TLS to MX hosts the policy allows.
        case enforce
        /// Deliver as without MTA-STS, but report failures (TLS-RPT).
        case testing
        /// No active policy; used to retire MTA-STS.
        case none
    }

    /// A field other than `version`, `mode`, `max_age` and `mx`; senders ignore it, we keep it.
    public typealias Extension = ExtensionField

    public var mode: Mode
    /// Seconds a sender may cache the policy from the time it fetched it (0 ... 31557600).
    public var maxAge: UInt32
    /// The allowed MX hosts, in policy order.
    public var mx: [MXPattern]
    public var extensions: [Extension]

    public init(mode: Mode, maxAge: UInt32, mx: [MXPattern], extensions: [Extension] = []) {
        self.mode = mode
        self.maxAge = maxAge
        self.mx = mx
        self.extensions = extensions
    }

    /// The canonical policy text: `version`, `mode`, each `mx`, `max_age`, then extensions, one per CRLF line.
    public var text: String {
        var lines = ["version: STSv1", "mode: \(mode.rawValue)"]
        lines += mx.map { "mx: \($0)" }
        lines.append("max_age: \(maxAge)")
        lines += extensions.map { "\($0.name): \($0.value)" }
        return lines.map { $0 + "\r\n" }.joined()
    }

    /// The policy's lines without line endings, e.g. for TLS-RPT `policy-string`.
    public var lines: [String] {
        text.split(separator: "\r\n").map(String.init)
    }
}

/// The result of matching one MX host against a policy's `mx` patterns.
public enum MXMatch: Hashable, Sendable {
    /// The host is allowed; this is the first pattern that matched.
    case matched(MXPattern)
    /// No pattern matched. `reason` explains why; `suggestion`, when present, is the smallest pattern that
    /// would allow the host.
    case notMatched(reason: String, suggestion: MXPattern?)

    public var isMatch: Bool {
        if case .matched = self { return true }
        return false
    }
}

extension STSPolicy {
    /// Matches an MX host name against the patterns by RFC 8461 §4.1, and explains a mismatch.
    public func match(_ host: DomainName) -> MXMatch {
        if let pattern = mx.first(where: { $0.matches(host) }) { return .matched(pattern) }
        if mx.isEmpty {
            return .notMatched(reason: "the policy lists no mx patterns", suggestion: MXPattern(wildcard: false, domain: host))
        }
        let labels = host.labels
        for pattern in mx where pattern.isWildcard {
            if host == pattern.domain {
                return .notMatched(reason: "`\(pattern)` matches hosts one label below \(pattern.domain), not \(pattern.domain) itself",
                                   suggestion: MXPattern(wildcard: false, domain: host))
            }
            let suffix = "." + pattern.domain.value
            if host.value.hasSuffix(suffix) {
                let extra = labels.count - pattern.domain.labels.count
                let parent = DomainName(validatedLowercase: labels.dropFirst().joined(separator: "."))
                return .notMatched(
                    reason: "`\(pattern)` matches exactly one label before \(pattern.domain), but \(host) has \(extra) "
                        + "(`\(labels.prefix(extra).joined(separator: "."))`); `*` never spans several labels",
                    suggestion: MXPattern(wildcard: true, domain: parent))
            }
        }
        let list = mx.map { "`\($0)`" }.joined(separator: ", ")
        return .notMatched(reason: "\(host) matches none of the policy's patterns (\(list))",
                           suggestion: labels.count > 2
                               ? MXPattern(wildcard: true, domain: DomainName(validatedLowercase: labels.dropFirst().joined(separator: ".")))
                               : MXPattern(wildcard: false, domain: host))
    }
}
