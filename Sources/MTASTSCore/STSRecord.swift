/// The `_mta-sts.<domain>` TXT record: `v=STSv1; id=<policy id>;` plus optional extensions (RFC 8461 §3.1).
public struct STSRecord: Hashable, Sendable, CustomStringConvertible {
    /// The policy id: 1–32 letters and digits. It names one policy version; ids have no order.
    public let id: String
    /// Extension fields in the order they appeared; the first of duplicate names is kept.
    public let extensions: [Extension]

    /// A `name=value` field other than `v` and `id`.
    public typealias Extension = ExtensionField

    /// A record with the given id, or nil when `id` is not 1–32 letters and digits.
    public init?(id: String, extensions: [Extension] = []) {
        guard PolicyID.isValid(id) else { return nil }
        self.id = id
        self.extensions = extensions
    }

    init(validatedID id: String, extensions: [Extension]) {
        self.id = id
        self.extensions = extensions
    }

    /// The record text as it goes into DNS: `v=STSv1; id=20230615T153000;`.
    public var description: String {
        (["v=STSv1", "id=" + id] + extensions.map { $0.name + "=" + $0.value }).joined(separator: "; ") + ";"
    }
}

/// The result of parsing one TXT record string.
public struct RecordParseResult: Sendable {
    /// The record, or nil when any error was found.
    public let record: STSRecord?
    public let diagnostics: [Diagnostic]
}

extension STSRecord {
    /// Parses one TXT record (its strings already joined without spaces) exactly by the RFC 8461 §3.1 ABNF:
    ///
    ///     sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
    ///     sts-field-delim = *WSP ";" *WSP
    ///     sts-version     = %s"v=STSv1"
    ///     sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
    ///     sts-extension   = sts-ext-name "=" sts-ext-value
    ///     sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
    ///     sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
    public static func parse(_ text: String) -> RecordParseResult { parse(Array(text.utf8)) }

    /// Parses one TXT record given as raw bytes (see ``parse(_:)-(String)``).
    public static func parse(_ bytes: [UInt8]) -> RecordParseResult {
        var parser = RecordParser(bytes)
        return parser.run()
    }

    /// True when `bytes` begins with `v=STSv1`, optional spaces and `;`: the filter RFC 8461 §3.1 applies to
    /// an RRset before counting records. (The prose says "begin with `v=STSv1;`"; the ABNF also allows
    /// whitespace before the `;`, errata 6285, so we accept both.)
    public static func isCandidate(_ bytes: some Collection<UInt8>) -> Bool {
        let version = Array("v=STSv1".utf8)
        guard bytes.starts(with: version) else { return false }
        return bytes.dropFirst(version.count).first(where: { !ASCII.isWSP($0) }) == ASCII.semicolon
    }
}

private struct RecordParser {
    let bytes: [UInt8]
    var pos = 0
    var diagnostics: [Diagnostic] = []

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func at(_ offset: Int, _ length: Int = 1) -> Diagnostic.Location { .init(column: offset + 1, offset: offset, length: length) }

    mutating func error(_ code: Diagnostic.Code, _ message: String, fix: String?, at loc: Diagnostic.Location) {
        diagnostics.append(Diagnostic(code, .error, message, fix: fix, at: loc))
    }

    func remaining() -> String { ASCII.quoted(bytes[pos...]) }

    mutating func run() -> RecordParseResult {
        if bytes.isEmpty {
            error(.recordEmpty, "the record is empty", fix: "publish `v=STSv1; id=<id>;`", at: at(0, 0))
            return finish(id: nil, extensions: [])
        }
        if let bad = bytes.firstIndex(where: { $0 >= 0x80 }) {
            error(.recordNotASCII, "the record contains a non-ASCII byte at offset \(bad); it must be US-ASCII",
                  fix: "remove the character; ids and extension values are plain ASCII", at: at(bad))
            return finish(id: nil, extensions: [])
        }
        guard parseVersion() else { return finish(id: nil, extensions: []) }

        var id: String?
        var extensions: [STSRecord.Extension] = []
        var seen: Set<String> = []
        while pos < bytes.count {
            // sts-field-delim = *WSP ";" *WSP
            let delimStart = pos
            skipWSP()
            guard pos < bytes.count, bytes[pos] == ASCII.semicolon else {
                if pos == bytes.count {
                    error(.recordDelimiterMissing, "the record ends with whitespace after its last field",
                          fix: "remove the trailing whitespace or end the record with `;`", at: at(delimStart, pos - delimStart))
                } else {
                    error(.recordDelimiterMissing, "expected `;` before \(remaining())",
                          fix: "separate fields with `;`, e.g. `v=STSv1; id=abc123;`", at: at(pos))
                }
                return finish(id: id, extensions: extensions)
            }
            pos += 1
            skipWSP()
            if pos == bytes.count { break }  // [sts-field-delim] at the end
            if bytes[pos] == ASCII.semicolon {
                error(.recordFieldEmpty, "empty field (two `;` in a row)", fix: "remove the extra `;`", at: at(pos))
                return finish(id: id, extensions: extensions)
            }
            guard let (name, value, start) = parseField() else { return finish(id: id, extensions: extensions) }
            if seen.contains(name) {
                diagnostics.append(Diagnostic(.recordDuplicateField, .warning,
                                              "the field `\(name)` appears more than once; the first one counts",
                                              fix: "remove the later `\(name)=` field", at: at(start, pos - start)))
                continue
            }
            seen.insert(name)
            if name == "id" {
                guard PolicyID.isValid(value) else {
                    error(.recordIDInvalid, "the id \(ASCII.quoted(value.utf8)) is not 1 to 32 letters and digits",
                          fix: "use only A-Z, a-z and 0-9, at most 32 of them, e.g. `id=\(PolicyID.suggestion(from: value))`",
                          at: at(start, pos - start))
                    return finish(id: nil, extensions: extensions)
                }
                id = value
            } else {
                extensions.append(.init(name: name, value: value))
                let hint = ASCII.differsOnlyInCase(name.utf8, "id") ? " (field names are case-sensitive: did you mean `id`?)" : ""
                diagnostics.append(Diagnostic(.recordUnknownField, .info,
                                              "unknown field `\(name)` is ignored by senders\(hint)", fix: nil, at: at(start, pos - start)))
            }
        }
        if id == nil {
            error(.recordIDMissing, "the record has no `id=` field",
                  fix: "add an id of 1 to 32 letters and digits, e.g. `v=STSv1; id=20240101T000000;`", at: at(bytes.count, 0))
        }
        return finish(id: id, extensions: extensions)
    }

    mutating func skipWSP() { while pos < bytes.count, ASCII.isWSP(bytes[pos]) { pos += 1 } }

    mutating func parseVersion() -> Bool {
        let version = Array("v=STSv1".utf8)
        if bytes.starts(with: version) {
            pos = version.count
            if pos == bytes.count || ASCII.isWSP(bytes[pos]) || bytes[pos] == ASCII.semicolon { return true }
            let end = bytes[pos...].firstIndex(where: { ASCII.isWSP($0) || $0 == ASCII.semicolon }) ?? bytes.count
            error(.recordVersionInvalid, "the version is \(ASCII.quoted(bytes[0..<end])), not `v=STSv1`",
                  fix: "begin the record with exactly `v=STSv1;`", at: at(0, end))
            return false
        }
        let end = bytes.firstIndex(where: { ASCII.isWSP($0) || $0 == ASCII.semicolon }) ?? bytes.count
        let first = bytes[0..<end]
        if ASCII.differsOnlyInCase(first, "v=STSv1") {
            error(.recordVersionInvalid, "the version \(ASCII.quoted(first)) has the wrong case; it is case-sensitive",
                  fix: "write exactly `v=STSv1`", at: at(0, end))
        } else if bytes.starts(with: Array("v=".utf8)) {
            error(.recordVersionInvalid, "the version \(ASCII.quoted(first)) is not `v=STSv1`",
                  fix: "begin the record with exactly `v=STSv1;`", at: at(0, end))
        } else {
            let elsewhere = bytes.firstRange(of: Array("v=STSv1".utf8)) != nil
            error(.recordVersionMissing, elsewhere ? "`v=STSv1` must be the first field of the record"
                                                   : "the record does not begin with `v=STSv1`",
                  fix: "begin the record with `v=STSv1;`, e.g. `v=STSv1; id=20240101T000000;`", at: at(0, end))
        }
        return false
    }

    /// sts-ext-name "=" sts-ext-value (which also covers `id=`; the id syntax is checked by the caller).
    mutating func parseField() -> (String, String, Int)? {
        let start = pos
        while pos < bytes.count, ASCII.isNameChar(bytes[pos]) { pos += 1 }
        let name = bytes[start..<pos]
        guard pos < bytes.count, bytes[pos] == ASCII.equals, !name.isEmpty else {
            let end = bytes[pos...].firstIndex(of: ASCII.semicolon) ?? bytes.count
            error(.recordFieldInvalid, "expected a `name=value` field at \(ASCII.quoted(bytes[start..<end]))",
                  fix: "fields are `name=value` separated by `;`", at: at(start, max(end - start, 1)))
            return nil
        }
        if !ASCII.isAlnum(name.first!) || name.count > STSLimits.extensionNameLength.upperBound {
            error(.recordFieldInvalid, "the field name \(ASCII.quoted(name)) must start with a letter or digit and be at most 32 characters",
                  fix: "rename the field: 1 to 32 letters, digits, `_`, `-` or `.`, starting with a letter or digit",
                  at: at(start, name.count))
            return nil
        }
        pos += 1
        let valueStart = pos
        // %x21-3A / %x3C / %x3E-7E: visible ASCII except ";" and "=".
        while pos < bytes.count, (0x21...0x7E).contains(bytes[pos]), bytes[pos] != ASCII.semicolon, bytes[pos] != ASCII.equals {
            pos += 1
        }
        if pos == valueStart {
            let nameText = ASCII.string(name)
            if nameText == "id" {
                error(.recordIDInvalid, "the id is empty", fix: "write 1 to 32 letters and digits after `id=`", at: at(start, pos - start))
            } else {
                error(.recordFieldInvalid, "the field `\(nameText)` has an empty value", fix: "give it a value or remove it",
                      at: at(start, pos - start))
            }
            return nil
        }
        if pos < bytes.count, bytes[pos] == ASCII.equals {
            error(.recordFieldInvalid, "unexpected `=` in the value of `\(ASCII.string(name))`",
                  fix: "values cannot contain `=`, `;`, spaces or control characters", at: at(pos))
            return nil
        }
        if pos < bytes.count, !ASCII.isWSP(bytes[pos]), bytes[pos] != ASCII.semicolon {
            error(.recordFieldInvalid, "unexpected character \(ASCII.quoted([bytes[pos]])) in the value of `\(ASCII.string(name))`",
                  fix: "values cannot contain `=`, `;`, spaces or control characters", at: at(pos))
            return nil
        }
        return (ASCII.string(name), ASCII.string(bytes[valueStart..<pos]), start)
    }

    func finish(id: String?, extensions: [STSRecord.Extension]) -> RecordParseResult {
        guard !diagnostics.hasErrors, let id else { return RecordParseResult(record: nil, diagnostics: diagnostics) }
        return RecordParseResult(record: STSRecord(validatedID: id, extensions: extensions), diagnostics: diagnostics)
    }
}
