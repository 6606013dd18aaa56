// TXT record test vectors (RFC 8461 §3.1), one per line with the rule they exercise: "C<n>" is item n of
// shared/reference/rfc-checklist.md, "L<n>" edge case n of landscape.md §4.2. Plain data, no imports:
// shared with the fuzz seed writer.

struct RecordVector: Sendable, CustomStringConvertible {
    let text: String
    /// The id when valid, nil when invalid.
    let id: String?
    /// The error code when invalid (or a warning/info code that must be present when valid).
    let code: String?
    let why: String

    init(_ text: String, id: String?, _ code: String?, _ why: String) {
        self.text = text
        self.id = id
        self.code = code
        self.why = why
    }

    init(_ text: String, id: String?, _ why: String) { self.init(text, id: id, nil, why) }

    var description: String { why }
}

let recordVectors: [RecordVector] = [
    .init("v=STSv1; id=20160831085700Z;", id: "20160831085700Z", "C3 L40 trailing semicolon"),
    .init("v=STSv1;id=abc123", id: "abc123", "C3 no spaces, no final semicolon"),
    .init("v=STSv1;  id=abc  ;  ", id: "abc", "C3 L41 whitespace around semicolons"),
    .init("v=STSv1\t;\tid=abc", id: "abc", "L41 tab before the first semicolon"),
    .init("v=STSv1  ;    id=foo", id: "foo", "L41 spaces before the first semicolon"),
    .init("v=STSv1; id=a", id: "a", "L42 one-character id"),
    .init("v=STSv1; id=" + String(repeating: "a", count: 32), id: String(repeating: "a", count: 32), "C3 32-character id"),
    .init("v=STSv1; id=" + String(repeating: "a", count: 33), id: nil, "record-id-invalid", "C3 L47 33-character id"),
    .init("v=STSv1; id=test-123", id: nil, "record-id-invalid", "C4 L48 hyphen in id"),
    .init("v=STSv1; id=2024.01.01", id: nil, "record-id-invalid", "C3 dots in id"),
    .init("v=STSv1; id=abc_def", id: nil, "record-id-invalid", "C3 underscore in id"),
    .init("v=STSv1; id=abc+def", id: nil, "record-id-invalid", "L48 base64 plus"),
    .init("v=STSv1; id=###", id: nil, "record-id-invalid", "L48 hashes"),
    .init("v=STSv1; id=", id: nil, "record-id-invalid", "L46 empty id"),
    .init("id=abc; v=STSv1;", id: nil, "record-version-missing", "C6 version not first"),
    .init("v=STSv1; ext=1; id=abc", id: "abc", "record-unknown-field", "C6 id after an extension"),
    .init("V=STSv1; id=a", id: nil, "record-version-invalid", "C7 upper-case v"),
    .init("v=stsv1; id=a", id: nil, "record-version-invalid", "C7 lower-case version"),
    .init("v=STSv1; ID=a", id: nil, "record-id-missing", "C7 upper-case ID is an extension"),
    .init("v=STSv10; id=a", id: nil, "record-version-invalid", "C7 L44 STSv10"),
    .init("v=STSv2; id=a", id: nil, "record-version-invalid", "L44 STSv2"),
    .init("v=STSv0; id=a", id: nil, "record-version-invalid", "L44 STSv0"),
    .init("v=STSv1; id=abc; ext=café", id: nil, "record-not-ascii", "C2 non-ASCII"),
    .init("v=STSv1; id=abc; foo=bar", id: "abc", "record-unknown-field", "C10 L53 unknown field"),
    .init("v=STSv1; id=abc; more=a; ext=2", id: "abc", "record-unknown-field", "L43 extensions kept"),
    .init("v=STSv1; id=abc; id=def", id: "abc", "record-duplicate-field", "C11 L54 duplicate id, first wins"),
    .init("v=STSv1", id: nil, "record-id-missing", "L45 version alone"),
    .init("v=STSv1;", id: nil, "record-id-missing", "L45 version and semicolon"),
    .init("v=STSv1; ext=1", id: nil, "record-id-missing", "L45 extension only"),
    .init("v=STSv1; id=a;;", id: nil, "record-field-empty", "L50 double semicolon"),
    .init("v=STSv1; id=foo include=foo.com", id: nil, "record-delimiter-missing", "L51 missing semicolon"),
    .init("v=STSv1; id=foo include", id: nil, "record-delimiter-missing", "L51 bare token"),
    .init("v=STSv1; id=abc ", id: nil, "record-delimiter-missing", "trailing space without semicolon"),
    .init("v=STSv1; ext=", id: nil, "record-field-invalid", "L49 empty extension value"),
    .init("v=STSv1; id=a; " + String(repeating: "e", count: 33) + "=1", id: nil, "record-field-invalid", "L49 extension name over 32"),
    .init("v=STSv1; id=a; e%t=1", id: nil, "record-field-invalid", "L49 percent in name"),
    .init("v=STSv1; id=a; test==", id: nil, "record-field-invalid", "L49 test=="),
    .init("", id: nil, "record-empty", "L52 empty"),
    .init("unrelated=foo", id: nil, "record-version-missing", "L52 unrelated"),
    .init("syntax error", id: nil, "record-version-missing", "L52 prose"),
    .init("v=STSv1; i" + "d=abc", id: "abc", "C9 split string joined without spaces"),
]

/// RRset vectors: the records at `_mta-sts.<domain>`, and the selection outcome (C8, L55–L58).
struct RRsetVector: Sendable, CustomStringConvertible {
    enum Outcome: Sendable, Equatable { case record(String), none, multiple, invalid }
    let records: [String]
    let outcome: Outcome
    let why: String
    init(_ records: [String], _ outcome: Outcome, _ why: String) {
        self.records = records
        self.outcome = outcome
        self.why = why
    }
    var description: String { why }
}

let rrsetVectors: [RRsetVector] = [
    .init(["v=spf1 -all", "v=STSv1; id=abc"], .record("abc"), "C8 L55 STS record beside an unrelated one"),
    .init(["v=STSv1; id=abc", "v=STSv1; id=def"], .multiple, "C8 L56 two STS records"),
    .init(["v=STSv1; id=abc", "v=STSv1; id=bad-id!"], .multiple, "C8 an invalid second record still counts"),
    .init(["v=STSv1; id=bad-id"], .invalid, "C8 one malformed record"),
    .init(["v=STSv1; bogus"], .invalid, "L58 malformed, not 'no record'"),
    .init([], .none, "C8 L61 empty RRset"),
    .init(["bogus", "more"], .none, "L57 only unrelated strings"),
    .init(["v=spf1 -all"], .none, "L62 SPF at _mta-sts"),
    .init(["v=STSv10; id=a"], .none, "C7 v=STSv10 is filtered out"),
    .init(["v=STSv1 ; id=a"], .record("a"), "C8 errata 6285 space before semicolon"),
    .init(["v=STSv1"], .none, "L45 version without semicolon is discarded"),
]
