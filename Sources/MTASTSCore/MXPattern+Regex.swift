extension MXPattern {
    /// RFC 8461 §4.1's matching of `patterns` (an exact name, or `*.` and one whole label) as one anchored regular
    /// expression over lower-case A-label host names, e.g. `^(mx1[.]example[.]net|[^.]+[.]mx[.]example[.]net)$`.
    ///
    /// Written for MTAs that filter MX hosts by regular expression in a configuration language (Exim's host lists):
    /// a dot is `[.]` and a wildcard's label `[^.]+`, so the text holds no backslash, colon, semicolon, brace,
    /// quote or space, which such languages treat as syntax. Names hold only letters, digits and hyphens (A-labels).
    /// Nil for no pattern (a regular expression that matches nothing would read as a mistake).
    public static func anchoredRegex(_ patterns: [MXPattern]) -> String? {
        guard !patterns.isEmpty else { return nil }
        var seen = Set<String>()
        let alternatives = patterns.map { p in
            (p.isWildcard ? "[^.]+[.]" : "") + p.domain.value.split(separator: ".").joined(separator: "[.]")
        }.filter { seen.insert($0).inserted }
        return "^(" + alternatives.joined(separator: "|") + ")$"
    }
}
