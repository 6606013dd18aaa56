/// One `mx` value of a policy: an exact host name, or `*.` followed by a domain, which matches any host
/// with exactly one more label on the left (RFC 8461 §4.1).
public struct MXPattern: Hashable, Sendable, CustomStringConvertible {
    /// True for `*.domain` patterns.
    public let isWildcard: Bool
    /// The domain after `*.`, or the whole host for an exact pattern.
    public let domain: DomainName

    public init(wildcard: Bool, domain: DomainName) {
        self.isWildcard = wildcard
        self.domain = domain
    }

    /// The pattern as written in a policy: `*.mx.example.net` or `mx1.example.net`.
    public var description: String { isWildcard ? "*." + domain.value : domain.value }

    /// RFC 8461 §4.1: the pattern matches `host` exactly, or (wildcard) `host` is one whole label followed
    /// by the pattern's domain. Names are compared as normalised A-labels, so case and a trailing dot on
    /// the host do not matter.
    public func matches(_ host: DomainName) -> Bool {
        guard isWildcard else { return host == domain }
        // The host's first label (never empty in a DomainName) stands for `*`; the rest must be the domain.
        guard let dot = host.value.firstIndex(of: ".") else { return false }
        return host.value[host.value.index(after: dot)...] == domain.value
    }
}

extension MXPattern {
    /// Parses one `mx` value by RFC 8461 §3.2 (`["*."] Domain`, A-labels only).
    ///
    /// - Parameters:
    ///   - bytes: the value, without the `mx:` key and surrounding whitespace.
    ///   - tolerant: when true (a sender's reading), a trailing dot is removed with a warning instead of an error.
    /// - Returns: the pattern when the value is usable, and every finding. Diagnostic locations are byte
    ///   offsets into `bytes`; the policy parser moves them to the line they came from.
    public static func parse(_ bytes: some Collection<UInt8>, tolerant: Bool = false) -> (MXPattern?, [Diagnostic]) {
        let value = Array(bytes)
        let shown = ASCII.quoted(value)
        func at(_ offset: Int, _ length: Int = 1) -> Diagnostic.Location { .init(offset: offset, length: length) }
        if value.isEmpty {
            return (nil, [Diagnostic(.mxEmpty, .error, "the mx value is empty",
                                     fix: "write one host name or `*.domain` pattern per `mx:` line", at: at(0, 0))])
        }
        if let sep = value.firstIndex(where: { $0 == ASCII.comma || ASCII.isWSP($0) }) {
            let parts = value.split(whereSeparator: { $0 == ASCII.comma || ASCII.isWSP($0) }).map(ASCII.string)
            return (nil, [Diagnostic(.mxList, .error, "\(shown) lists several hosts in one mx field",
                                     fix: "give each host its own line: " + parts.map { "`mx: \($0)`" }.joined(separator: ", "),
                                     at: at(sep))])
        }
        if value.contains(where: { $0 >= 0x80 }) {
            let text = ASCII.string(value)
            let fix = (try? DomainName(text)).map { "write the A-label form: `mx: \($0.value)`" }
                ?? "write the name in its A-label (Punycode) form"
            return (nil, [Diagnostic(.mxULabel, .error, "\(shown) contains non-ASCII characters; mx values must be A-labels",
                                     fix: fix, at: at(value.firstIndex(where: { $0 >= 0x80 })!))])
        }
        var diagnostics: [Diagnostic] = []
        var body = value[...]
        var wildcard = false
        if body.first == ASCII.dot {
            let rest = ASCII.string(body.dropFirst())
            return (nil, [Diagnostic(.mxLegacySuffix, .error,
                                     "\(shown) uses the leading-dot suffix form of early drafts; senders do not match it",
                                     fix: "write `mx: *.\(rest)` to allow hosts one label below \(rest)", at: at(0))])
        }
        if body.starts(with: [ASCII.asterisk, ASCII.dot]) {
            wildcard = true
            body = body.dropFirst(2)
        }
        if let star = body.firstIndex(of: ASCII.asterisk) {
            return (nil, [Diagnostic(.mxWildcardInvalid, .error,
                                     "\(shown) has a `*` that is not the whole leftmost label",
                                     fix: "a wildcard must be the complete first label followed by a dot, e.g. `*.example.net`",
                                     at: at(star))])
        }
        if body.last == ASCII.dot {
            let trimmed = ASCII.string(value.dropLast())
            diagnostics.append(Diagnostic(.mxTrailingDot, tolerant ? .warning : .error,
                                          "\(shown) ends with a dot, which the mx syntax does not allow"
                                            + (tolerant ? "; read as `\(trimmed)`" : ""),
                                          fix: "write `mx: \(trimmed)`", at: at(value.count - 1)))
            body = body.dropLast()
        }
        if let reason = DomainName.ldhProblem(Array(body)) {
            diagnostics.append(Diagnostic(.mxInvalid, .error, "\(shown) is not a valid host name: \(reason)",
                                          fix: "write a host name such as `mx1.example.net` or a pattern such as `*.example.net`",
                                          at: at(0, value.count)))
            return (nil, diagnostics)
        }
        let domain = DomainName(validatedLowercase: ASCII.string(body.map(ASCII.lowercased)))
        let labels = domain.labels
        if wildcard && labels.count == 1 {
            diagnostics.append(Diagnostic(.mxWildcardTLD, .warning,
                                          "\(shown) allows every host directly under the top-level domain `\(domain)`",
                                          fix: "name your own mail domain, e.g. `*.mx.example.\(domain)`", at: at(0, value.count)))
        }
        if labels.allSatisfy({ $0.utf8.allSatisfy(ASCII.isDigit) }) {
            diagnostics.append(Diagnostic(.mxAddressLiteral, .warning,
                                          "\(shown) looks like an IP address; mx patterns match MX host names, never addresses",
                                          fix: "list the MX host name that your MX record points to", at: at(0, value.count)))
        }
        if let broken = labels.first(where: { DomainName.isBrokenALabel($0.utf8) }) {
            diagnostics.append(Diagnostic(.mxALabelInvalid, .warning,
                                          "the label `\(broken)` starts with `xn--` but is not valid Punycode, so no real host can match it",
                                          fix: "convert the U-label with an IDNA tool, e.g. `idn2 mx.bücher.example`", at: at(0, value.count)))
        }
        if diagnostics.hasErrors { return (nil, diagnostics) }
        return (MXPattern(wildcard: wildcard, domain: domain), diagnostics)
    }
}
