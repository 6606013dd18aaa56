/// How strictly to read a policy.
public enum PolicyReading: Sendable {
    /// Exactly the RFC 8461 §3.2 ABNF: any deviation is an error. This is the verdict a checker gives.
    case strict
    /// As a careful sender applies a fetched policy: the ABNF, except that blank lines are skipped, a
    /// trailing dot on an mx host is removed and a `max_age` above 31557600 is clamped to it. Each of
    /// these is still reported, as a warning. Everything else stays an error.
    case sender
}

/// The result of parsing a policy file.
public struct PolicyParseResult: Sendable {
    /// The policy, or nil when any error was found (under the chosen reading).
    public let policy: STSPolicy?
    /// Every finding, in the order of the text; findings without a line come last.
    public let diagnostics: [Diagnostic]
}

extension STSPolicy {
    /// Parses a policy body exactly by the RFC 8461 §3.2 ABNF (LF or CRLF per line, final newline optional,
    /// keys and values case-sensitive, first of duplicate keys wins, unknown keys kept as extensions).
    ///
    /// - Parameters:
    ///   - bytes: the body exactly as served (no decoding, no trimming).
    ///   - reading: ``PolicyReading/strict`` for the RFC verdict, ``PolicyReading/sender`` for what a sender applies.
    public static func parse(_ bytes: some Collection<UInt8>, reading: PolicyReading = .strict) -> PolicyParseResult {
        var parser = PolicyParser(Array(bytes), tolerant: reading == .sender)
        return parser.run()
    }

    /// Parses policy text (see ``parse(_:reading:)``).
    public static func parse(_ text: String, reading: PolicyReading = .strict) -> PolicyParseResult {
        parse(Array(text.utf8), reading: reading)
    }
}

private struct PolicyParser {
    /// The fields RFC 8461 §3.2 defines; any other key is an extension.
    static let knownKeys = ["version", "mode", "max_age", "mx"]

    let bytes: [UInt8]
    let tolerant: Bool
    var diagnostics: [Diagnostic] = []

    // What has been read so far. `present` holds known keys that appeared (valid or not), so a bad
    // `mode:` line is reported as invalid and not also as missing.
    var mode: STSPolicy.Mode?
    var maxAge: UInt32?
    var maxAgeLocation: Diagnostic.Location?
    var versionSeen = false
    var mx: [MXPattern] = []
    var extensions: [STSPolicy.Extension] = []
    var present: Set<String> = []
    var firstLine: [String: Int] = [:]

    init(_ bytes: [UInt8], tolerant: Bool) {
        self.bytes = bytes
        self.tolerant = tolerant
    }

    // MARK: Locations

    /// Location of `length` bytes at absolute `offset` on the line starting at `lineStart`.
    func at(line: Int, lineStart: Int, offset: Int, length: Int = 1) -> Diagnostic.Location {
        // Columns count characters (UTF-8 lead bytes), not bytes.
        let column = bytes[lineStart..<offset].reduce(1) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        return .init(line: line, column: column, offset: offset, length: length)
    }

    mutating func add(_ code: Diagnostic.Code, _ severity: Diagnostic.Severity, _ message: String, fix: String?,
                      _ location: Diagnostic.Location?) {
        diagnostics.append(Diagnostic(code, severity, message, fix: fix, at: location))
    }

    // MARK: Whole text

    mutating func run() -> PolicyParseResult {
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            add(.policyBOM, .error, "the policy starts with a UTF-8 byte order mark (bytes EF BB BF at offset 0)",
                fix: "save the file as UTF-8 without BOM", .init(line: 1, column: 1, offset: 0, length: 3))
            start = 3
        }
        if start == bytes.count {
            add(.policyEmpty, .error, "the policy is empty",
                fix: "serve at least `version: STSv1`, `mode:`, `mx:` and `max_age:` lines", nil)
            return finish()
        }
        var lineNumber = 1
        var lf = 0, crlf = 0
        while start < bytes.count {
            let newline = bytes[start...].firstIndex(of: ASCII.lf)
            var end = newline ?? bytes.count
            if newline != nil {
                if end > start, bytes[end - 1] == ASCII.cr {
                    end -= 1
                    crlf += 1
                } else {
                    lf += 1
                }
            }
            parseLine(number: lineNumber, start: start, end: end)
            start = (newline ?? bytes.count) + 1
            lineNumber += 1
        }
        if lf > 0 {
            add(.policyLineEndings, .info,
                crlf > 0 ? "the policy mixes LF and CRLF line endings; both are valid (RFC 8461 §3.2 ABNF, errata 6253)"
                         : "the policy uses LF line endings; valid by the ABNF, though the RFC prose says CRLF",
                fix: "serve CRLF line endings to match the RFC's prose", nil)
        }
        checkRequiredFields()
        return finish()
    }

    mutating func checkRequiredFields() {
        if !present.contains("version") {
            add(.policyVersionMissing, .error, "the policy has no `version` field", fix: "add the line `version: STSv1`", nil)
        }
        if !present.contains("mode") {
            add(.policyModeMissing, .error, "the policy has no `mode` field",
                fix: "add `mode: enforce`, `mode: testing` or `mode: none`", nil)
        }
        if !present.contains("max_age") {
            add(.policyMaxAgeMissing, .error, "the policy has no `max_age` field",
                fix: "add `max_age: 604800` (one week) or another number of seconds up to 31557600", nil)
        }
        // mx: required at least once, except when mode is "none" (RFC 8461 §3.2 ABNF comment).
        if let mode, mode != .none, !present.contains("mx") {
            add(.policyMXMissing, .error, "mode `\(mode.rawValue)` needs at least one `mx` field",
                fix: "add one `mx:` line per MX host or pattern, e.g. `mx: mail.example.com`", nil)
        }
        if let mode, mode != .none, let maxAge, maxAge < STSLimits.shortMaxAgeWarning, let location = maxAgeLocation {
            add(.policyMaxAgeShort, .warning,
                "max_age \(maxAge) is under one day: a sender forgets the policy \(maxAge == 0 ? "at once" : "quickly"), "
                    + "so an attacker who blocks the policy fetch can downgrade delivery",
                fix: "use at least `max_age: 86400`; one to several weeks (604800 or more) is usual for enforce",
                location)
        }
    }

    func finish() -> PolicyParseResult {
        let ordered = diagnostics.enumerated().sorted { a, b in
            let la = a.element.location?.line ?? Int.max, lb = b.element.location?.line ?? Int.max
            return la != lb ? la < lb : a.offset < b.offset
        }.map(\.element)
        guard !ordered.hasErrors, let mode, let maxAge, versionSeen else {
            return PolicyParseResult(policy: nil, diagnostics: ordered)
        }
        return PolicyParseResult(policy: STSPolicy(mode: mode, maxAge: maxAge, mx: mx, extensions: extensions),
                                 diagnostics: ordered)
    }

    // MARK: One line

    mutating func parseLine(number: Int, start: Int, end: Int) {
        let line = bytes[start..<end]
        func loc(_ offset: Int, _ length: Int = 1) -> Diagnostic.Location {
            at(line: number, lineStart: start, offset: offset, length: length)
        }
        // Bytes that may appear nowhere: CR alone, NUL, other controls; then UTF-8 validity.
        var clean = true
        for i in line.indices {
            let b = bytes[i]
            if b == ASCII.cr {
                add(.policyBareCR, .error, "a CR without LF at line \(number) (byte offset \(i))",
                    fix: "end lines with CRLF or LF only", loc(i))
                clean = false
            } else if b == 0 {
                add(.policyNUL, .error, "a NUL byte at line \(number) (byte offset \(i))",
                    fix: "remove the NUL byte; the policy must be plain text", loc(i))
                clean = false
            } else if ASCII.isControl(b) && b != ASCII.tab {
                add(.policyControlCharacter, .error, "control character \(ASCII.quoted([b])) at byte offset \(i)",
                    fix: "remove it; only printable text, spaces and tabs are allowed", loc(i))
                clean = false
            }
        }
        if clean, let bad = firstInvalidUTF8(line) {
            add(.policyNotUTF8, .error, "invalid UTF-8 at byte offset \(bad)", fix: "save the policy as UTF-8", loc(bad))
            clean = false
        }
        if line.allSatisfy(ASCII.isWSP) {
            add(.policyBlankLine, tolerant ? .warning : .error,
                "line \(number) is blank; the policy grammar has no blank lines"
                    + (tolerant ? " (skipped, as most senders do)" : " (most senders skip it, some reject the whole policy)"),
                fix: "remove the blank line", loc(start, 0))
            return
        }
        if line.first == ASCII.hash {
            add(.policyComment, .error, "line \(number) is a comment; policies cannot contain comments",
                fix: "remove the comment line", loc(start, line.count))
            return
        }
        var keyStart = start
        if ASCII.isWSP(bytes[start]) {
            keyStart = line.firstIndex(where: { !ASCII.isWSP($0) })!
            add(.policyLeadingWhitespace, .error, "line \(number) starts with whitespace",
                fix: "start the line with its key", loc(start, keyStart - start))
        }
        var keyEnd = keyStart
        while keyEnd < end, ASCII.isNameChar(bytes[keyEnd]) { keyEnd += 1 }
        let key = bytes[keyStart..<keyEnd]
        var colon = keyEnd
        if keyEnd < end, ASCII.isWSP(bytes[keyEnd]) {
            let next = bytes[keyEnd..<end].firstIndex(where: { !ASCII.isWSP($0) }) ?? end
            if next < end, bytes[next] == ASCII.colon, !key.isEmpty {
                add(.policySpaceBeforeColon, .error, "whitespace between the key `\(ASCII.string(key))` and `:`",
                    fix: "write `\(ASCII.string(key)):` with no space before the colon", loc(keyEnd, next - keyEnd))
                colon = next
            }
        }
        guard colon < end, bytes[colon] == ASCII.colon, !key.isEmpty else {
            if !line.contains(ASCII.colon) {
                add(.policyNoColon, .error, "line \(number) is not a `key: value` field: \(ASCII.quoted(line.prefix(40)))",
                    fix: "write fields as `key: value`, e.g. `mode: enforce`", loc(start, line.count))
            } else {
                let shown = ASCII.quoted(bytes[keyStart..<(line[keyStart...].firstIndex(of: ASCII.colon) ?? end)])
                add(.policyKeyInvalid, .error, "the key \(shown) is not a valid field name",
                    fix: "keys are letters, digits, `_`, `-` and `.`, starting with a letter or digit", loc(keyStart))
            }
            noteUnusable(key)
            return
        }
        guard ASCII.isAlnum(key.first!), STSLimits.extensionNameLength.contains(key.count) else {
            add(.policyKeyInvalid, .error,
                "the key \(ASCII.quoted(key)) must start with a letter or digit and be at most 32 characters",
                fix: "rename the key: 1 to 32 letters, digits, `_`, `-` or `.`, starting with a letter or digit",
                loc(keyStart, key.count))
            return
        }
        // ":" *WSP value *WSP
        var valueStart = colon + 1
        while valueStart < end, ASCII.isWSP(bytes[valueStart]) { valueStart += 1 }
        var valueEnd = end
        while valueEnd > valueStart, ASCII.isWSP(bytes[valueEnd - 1]) { valueEnd -= 1 }
        if valueEnd < end, valueEnd > valueStart {
            add(.policyTrailingWhitespace, .warning, "trailing whitespace after the value on line \(number)",
                fix: "remove it; some senders keep it as part of the value", loc(valueEnd, end - valueEnd))
        }
        let keyText = ASCII.string(key)
        guard clean else {
            noteUnusable(key)
            return
        }
        let value = bytes[valueStart..<valueEnd]
        field(keyText, value, line: number, lineStart: start, keyStart: keyStart, valueStart: valueStart)
    }

    /// A known key whose line could not be read still counts as present, so "missing" is not reported too.
    mutating func noteUnusable(_ key: ArraySlice<UInt8>) {
        let k = ASCII.string(key)
        if Self.knownKeys.contains(k) { present.insert(k) }
    }

    mutating func field(_ key: String, _ value: ArraySlice<UInt8>, line: Int, lineStart: Int, keyStart: Int, valueStart: Int) {
        func loc(_ offset: Int, _ length: Int) -> Diagnostic.Location {
            at(line: line, lineStart: lineStart, offset: offset, length: length)
        }
        let valueLoc = loc(valueStart, value.count)
        let shown = ASCII.quoted(value)
        if key != "mx", let first = firstLine[key] {
            add(.policyDuplicateKey, .warning,
                "`\(key)` appears again (first on line \(first)); the first one counts, but some senders use the last",
                fix: "keep one `\(key):` line", loc(keyStart, valueStart + value.count - keyStart))
            return
        }
        firstLine[key] = line
        switch key {
        case "version":
            present.insert(key)
            if value.elementsEqual("STSv1".utf8) {
                versionSeen = true
            } else {
                add(.policyVersionInvalid, .error, "the version is \(shown); only `STSv1` exists (case-sensitive)",
                    fix: "write `version: STSv1`", valueLoc)
            }
        case "mode":
            present.insert(key)
            if let m = STSPolicy.Mode(rawValue: ASCII.string(value)) {
                mode = m
            } else {
                let lower = ASCII.string(value.map(ASCII.lowercased))
                let fix = STSPolicy.Mode(rawValue: lower).map { "values are case-sensitive: write `mode: \($0.rawValue)`" }
                    ?? "write `mode: enforce`, `mode: testing` or `mode: none`"
                add(.policyModeInvalid, .error, "the mode is \(shown); it must be `enforce`, `testing` or `none`", fix: fix, valueLoc)
            }
        case "max_age":
            present.insert(key)
            maxAgeLocation = valueLoc
            parseMaxAge(value, shown: shown, loc: valueLoc)
        case "mx":
            present.insert(key)
            let (pattern, found) = MXPattern.parse(value, tolerant: tolerant)
            for d in found {
                var moved = d
                let off = valueStart + (d.location?.offset ?? 0)
                moved.location = loc(off, d.location?.length ?? 0)
                diagnostics.append(moved)
            }
            guard let pattern else { return }
            if mx.contains(pattern) {
                add(.policyMXDuplicate, .warning, "`mx: \(pattern)` is listed twice", fix: "remove the repeated line", valueLoc)
            } else {
                mx.append(pattern)
            }
        default:
            extensionField(key, value, line: line, lineStart: lineStart, keyStart: keyStart, valueStart: valueStart)
        }
    }

    mutating func parseMaxAge(_ value: ArraySlice<UInt8>, shown: String, loc: Diagnostic.Location) {
        // sts-policy-max-age = %s"max_age" ":" *WSP 1*10(DIGIT); decimal even with leading zeros.
        guard !value.isEmpty, value.allSatisfy(ASCII.isDigit) else {
            let why = value.isEmpty ? "it is empty" : "it must be a whole number of seconds written with digits only"
            add(.policyMaxAgeInvalid, .error, "max_age \(shown) is invalid: \(why)",
                fix: "write seconds as plain digits, e.g. `max_age: 604800`", loc)
            return
        }
        guard value.count <= STSLimits.maxAgeDigits else {
            add(.policyMaxAgeInvalid, .error, "max_age \(shown) has \(value.count) digits; at most 10 are allowed",
                fix: "use at most `max_age: 31557600`", loc)
            return
        }
        let seconds = value.reduce(UInt64(0)) { $0 * 10 + UInt64($1 - 0x30) }
        if seconds > UInt64(STSLimits.maxAgeCeiling) {
            add(.policyMaxAgeTooLarge, tolerant ? .warning : .error,
                "max_age \(seconds) is above the maximum of 31557600 seconds (about one year)"
                    + (tolerant ? "; applied as 31557600" : ""),
                fix: "use at most `max_age: 31557600`", loc)
            maxAge = STSLimits.maxAgeCeiling
        } else {
            maxAge = UInt32(seconds)
        }
    }

    mutating func extensionField(_ key: String, _ value: ArraySlice<UInt8>, line: Int, lineStart: Int, keyStart: Int, valueStart: Int) {
        func loc(_ offset: Int, _ length: Int) -> Diagnostic.Location {
            at(line: line, lineStart: lineStart, offset: offset, length: length)
        }
        if let known = Self.knownKeys.first(where: { ASCII.differsOnlyInCase(key.utf8, $0) }) {
            add(.policyKeyCase, .warning,
                "`\(key)` is not `\(known)`: keys are case-sensitive, so senders ignore this line as an unknown extension",
                fix: "write `\(known):` in lowercase", loc(keyStart, key.utf8.count))
        } else {
            add(.policyUnknownKey, .info, "unknown field `\(key)` is kept but ignored by senders", fix: nil,
                loc(keyStart, key.utf8.count))
        }
        // sts-policy-ext-value = sts-policy-vchar [*(%x20 / sts-policy-vchar) sts-policy-vchar]
        if value.isEmpty {
            add(.policyExtensionInvalid, .error, "the field `\(key)` has an empty value", fix: "give it a value or remove the line",
                loc(valueStart, 0))
            return
        }
        if let tab = value.firstIndex(of: ASCII.tab) {
            add(.policyExtensionInvalid, .error, "the value of `\(key)` contains a tab", fix: "use spaces inside values",
                loc(tab, 1))
            return
        }
        extensions.append(.init(name: key, value: ASCII.string(value)))
    }

    /// Offset of the first byte that is not part of a well-formed UTF-8 sequence, if any.
    func firstInvalidUTF8(_ line: ArraySlice<UInt8>) -> Int? {
        var i = line.startIndex
        while i < line.endIndex {
            let b = line[i]
            let n: Int
            switch b {
            case 0x00...0x7F: i += 1; continue
            case 0xC2...0xDF: n = 1
            case 0xE0...0xEF: n = 2
            case 0xF0...0xF4: n = 3
            default: return i
            }
            guard i + n < line.endIndex, line[(i + 1)...(i + n)].allSatisfy({ $0 & 0xC0 == 0x80 }) else { return i }
            // Overlongs and surrogates: E0 needs A0..BF, ED needs 80..9F, F0 needs 90..BF, F4 needs 80..8F.
            let second = line[i + 1]
            if (b == 0xE0 && second < 0xA0) || (b == 0xED && second > 0x9F) || (b == 0xF0 && second < 0x90) || (b == 0xF4 && second > 0x8F) {
                return i
            }
            i += n + 1
        }
        return nil
    }
}
