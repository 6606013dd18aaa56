// Policy test vectors, one per line with the rule they exercise: "C<n>" is item n of
// shared/reference/rfc-checklist.md, "L<n>" is edge case n of landscape.md §4.
// Plain data with no imports: the unit tests and the fuzz seed writer (Fuzz/SeedWriter) both compile it.

struct PolicyVector: Sendable, CustomStringConvertible {
    enum Expect: Sendable {
        /// Valid under the strict reading, with these values.
        case valid(mode: String, maxAge: UInt32, mx: [String])
        /// Invalid under the strict reading, with this error code among the diagnostics.
        case invalid(String)
    }
    let text: String
    let expect: Expect
    /// A warning code that must also be reported (or nil).
    let warning: String?
    let why: String

    init(_ text: String, _ expect: Expect, warning: String? = nil, _ why: String) {
        self.text = text
        self.expect = expect
        self.warning = warning
        self.why = why
    }

    var description: String { why }
}

private let base = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n"

let policyVectors: [PolicyVector] = [
    // C18/C19: line endings
    .init(base, .valid(mode: "enforce", maxAge: 604800, mx: ["mail.example.com"]), "C19 CRLF"),
    .init("version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 604800\n", .valid(mode: "enforce", maxAge: 604800, mx: ["mail.example.com"]), warning: nil, "C19 LF"),
    .init("version: STSv1\r\nmode: testing\nmx: a.example\r\nmax_age: 86400", .valid(mode: "testing", maxAge: 86400, mx: ["a.example"]), "C19 mixed endings, no final newline"),
    .init("version: STSv1\rmode: enforce\r\nmx: a.example\r\nmax_age: 86400\r\n", .invalid("policy-bare-cr"), "C19 bare CR"),
    // C20: version
    .init("mode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-version-missing"), "C20 L4.1.10 version missing"),
    .init("Version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-version-missing"), warning: "policy-key-case", "C20 `Version:` is an extension"),
    .init("version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-version-invalid"), "C20 version case"),
    .init("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-version-invalid"), "C20 L4.1.5 STSv2"),
    .init("version: STSv10\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-version-invalid"), "L4.1.5 STSv10"),
    // C21: mode
    .init("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-mode-invalid"), "C21 mode case"),
    .init("version: STSv1\nmode: ENFORCE\nmx: a.example\nmax_age: 86400\n", .invalid("policy-mode-invalid"), "C21 mode upper"),
    .init("version: STSv1\nmode: report\nmx: a.example\nmax_age: 86400\n", .invalid("policy-mode-invalid"), "C21 L4.1.15 unknown mode"),
    .init("version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-mode-missing"), warning: "policy-key-case", "C21 `Mode:` alone"),
    .init("version: STSv1\nmx: a.example\nmax_age: 86400\n", .invalid("policy-mode-missing"), "L4.1.6 mode missing"),
    .init("version: STSv1\nmode none\nmax_age: 86400\n", .invalid("policy-no-colon"), "L4.1.16 no colon"),
    // C22: max_age
    .init("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 0\n", .valid(mode: "testing", maxAge: 0, mx: ["a.example"]), warning: "policy-max-age-short", "C22 L4.1.14 max_age 0"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n", .valid(mode: "enforce", maxAge: 31557600, mx: ["a.example"]), "C22 L4.1.12 ceiling"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 0086400\n", .valid(mode: "enforce", maxAge: 86400, mx: ["a.example"]), "C22 leading zeros are decimal"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", .invalid("policy-max-age-too-large"), "C22 L4.1.12 above ceiling"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999\n", .invalid("policy-max-age-too-large"), "L4.1.12 99999999"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", .invalid("policy-max-age-invalid"), "C22 L4.1.11 eleven digits"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", .invalid("policy-max-age-invalid"), "C22 L4.1.13 negative"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: +86400\n", .invalid("policy-max-age-invalid"), "C22 plus sign"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400s\n", .invalid("policy-max-age-invalid"), "C22 unit suffix"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 8.64e4\n", .invalid("policy-max-age-invalid"), "C22 exponent"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400.5\n", .invalid("policy-max-age-invalid"), "L4.1.13 decimal point"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86 400\n", .invalid("policy-max-age-invalid"), "C22 inner space"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age:\n", .invalid("policy-max-age-invalid"), "C22 L4.1.18 empty"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: \u{FF18}\u{FF16}\u{FF14}\u{FF10}\u{FF10}\n", .invalid("policy-max-age-invalid"), "C22 full-width digits"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\n", .invalid("policy-max-age-missing"), "L4.1.7 max_age missing"),
    .init("version: STSv1\nmode: testing\nmax_age:", .invalid("policy-max-age-invalid"), "fuzz: empty max_age at end of input"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 3600\n", .valid(mode: "enforce", maxAge: 3600, mx: ["a.example"]), warning: "policy-max-age-short", "max_age under a day in enforce"),
    // C23/C24: mx presence and one per line
    .init("version: STSv1\nmode: enforce\nmax_age: 86400\n", .invalid("policy-mx-missing"), "C23 L4.1.8 enforce without mx"),
    .init("version: STSv1\nmode: testing\nmax_age: 86400\n", .invalid("policy-mx-missing"), "C23 testing without mx"),
    .init("version: STSv1\nmode: none\nmax_age: 86400\n", .valid(mode: "none", maxAge: 86400, mx: []), "C23 L4.1.9 none without mx"),
    .init("version:STSv1\nmode:none\nmax_age:86400", .valid(mode: "none", maxAge: 86400, mx: []), "L4.1.9 none, no spaces"),
    .init("version: STSv1\nmode: enforce\nmx: a.example, b.example\nmax_age: 86400\n", .invalid("mx-list"), "C24 two hosts in one field"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmx: *.b.example\nmx: c.example\nmax_age: 31557600\n", .valid(mode: "enforce", maxAge: 31557600, mx: ["a.example", "*.b.example", "c.example"]), "L4.1.1 three mx in order"),
    // C25: wildcard syntax
    .init("version: STSv1\nmode: enforce\nmx: *.example.com\nmax_age: 86400\n", .valid(mode: "enforce", maxAge: 86400, mx: ["*.example.com"]), "C25 wildcard"),
    .init("version: STSv1\nmode: enforce\nmx: mx*.example.com\nmax_age: 86400\n", .invalid("mx-wildcard-invalid"), "C25 partial-label wildcard"),
    .init("version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 86400\n", .invalid("mx-wildcard-invalid"), "C25 L4.1.20 two wildcards"),
    .init("version: STSv1\nmode: enforce\nmx: **.example\nmax_age: 86400\n", .invalid("mx-wildcard-invalid"), "L4.1.21 double star"),
    .init("version: STSv1\nmode: enforce\nmx: foo.*.example.com\nmax_age: 86400\n", .invalid("mx-wildcard-invalid"), "C25 inner wildcard"),
    .init("version: STSv1\nmode: enforce\nmx: *\nmax_age: 86400\n", .invalid("mx-wildcard-invalid"), "C25 bare star"),
    .init("version: STSv1\nmode: enforce\nmx: *.\nmax_age: 86400\n", .invalid("mx-invalid"), "C25 star dot"),
    .init("version: STSv1\nmode: enforce\nmx: .example.com\nmax_age: 86400\n", .invalid("mx-legacy-suffix"), "C25 L4.3.76 legacy suffix"),
    .init("version: STSv1\nmode: enforce\nmx: *.com\nmax_age: 86400\n", .valid(mode: "enforce", maxAge: 86400, mx: ["*.com"]), warning: "mx-wildcard-tld", "C25 TLD wildcard is legal but warned"),
    // C26/C27: A-labels and LDH
    .init("version: STSv1\nmode: enforce\nmx: mx.bücher.example\nmax_age: 86400\n", .invalid("mx-ulabel"), "C26 L4.1.23 U-label"),
    .init("version: STSv1\nmode: enforce\nmx: mx.xn--bcher-kva.example\nmax_age: 86400\n", .valid(mode: "enforce", maxAge: 86400, mx: ["mx.xn--bcher-kva.example"]), "C26 A-label"),
    .init("version: STSv1\nmode: enforce\nmx: _mx.example.com\nmax_age: 86400\n", .invalid("mx-invalid"), "C27 underscore"),
    .init("version: STSv1\nmode: enforce\nmx: -mx.example.com\nmax_age: 86400\n", .invalid("mx-invalid"), "C27 leading hyphen"),
    .init("version: STSv1\nmode: enforce\nmx: mx-.example.com\nmax_age: 86400\n", .invalid("mx-invalid"), "C27 L4.1.22 trailing hyphen"),
    .init("version: STSv1\nmode: enforce\nmx: *.example-\nmax_age: 86400\n", .invalid("mx-invalid"), "L4.1.22 wildcard, trailing hyphen"),
    .init("version: STSv1\nmode: enforce\nmx:\nmax_age: 86400\n", .invalid("mx-empty"), "C27 L4.1.19 empty mx"),
    .init("version: STSv1\nmode: enforce\nmx: mail.example.com.\nmax_age: 86400\n", .invalid("mx-trailing-dot"), "C27 L4.1.24 trailing dot"),
    .init("version: STSv1\nmode: enforce\nmx: MAIL.Example.COM\nmax_age: 86400\n", .valid(mode: "enforce", maxAge: 86400, mx: ["mail.example.com"]), "C59 case-insensitive names"),
    .init("version: STSv1\nmode: enforce\nmx: 192.0.2.1\nmax_age: 86400\n", .valid(mode: "enforce", maxAge: 86400, mx: ["192.0.2.1"]), warning: "mx-address-literal", "an address is LDH but never an MX name"),
    .init("version: STSv1\nmode: enforce\nmx: xn--zz.example\nmax_age: 86400\n", .valid(mode: "enforce", maxAge: 86400, mx: ["xn--zz.example"]), warning: "mx-alabel-invalid", "L4.3.75 broken punycode"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmx: a.example\nmax_age: 86400\n", .valid(mode: "enforce", maxAge: 86400, mx: ["a.example"]), warning: "policy-mx-duplicate", "repeated mx"),
    // C28: extensions
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nfoo: bar\n", .valid(mode: "enforce", maxAge: 86400, mx: ["a.example"]), warning: nil, "C28 L4.1.28 unknown key kept"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nnote: grüße  aus   Köln\n", .valid(mode: "enforce", maxAge: 86400, mx: ["a.example"]), "C28 L4.1.3 UTF-8 and inner spaces"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nfoo:\n", .invalid("policy-extension-invalid"), "L4.1.25 empty extension value"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nabcdefghijabcdefghijabcdefghijabc: x\n", .invalid("policy-key-invalid"), "L4.1.26 key over 32"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n_ext: x\n", .invalid("policy-key-invalid"), "L4.1.27 key starting with underscore"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n: x\n", .invalid("policy-key-invalid"), "L4.1.17 empty key"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nfoo: a\tb\n", .invalid("policy-extension-invalid"), "C32 tab inside a value"),
    // C29: duplicates, first wins
    .init("version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .valid(mode: "testing", maxAge: 86400, mx: ["a.example"]), warning: "policy-duplicate-key", "C29 L4.1.29 first mode wins"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nmax_age: 5\n", .valid(mode: "enforce", maxAge: 86400, mx: ["a.example"]), warning: "policy-duplicate-key", "C29 first max_age wins"),
    // C30: whitespace
    .init("version:STSv1\nmode:\tenforce\t\nmx:   \t *.example.com \nmax_age: 0 \n", .valid(mode: "enforce", maxAge: 0, mx: ["*.example.com"]), warning: "policy-trailing-whitespace", "C30 L4.1.2 WSP after colon and at end"),
    .init("version : STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-space-before-colon"), "C30 space before colon"),
    .init(" version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-leading-whitespace"), "C30 L4.1.30 leading space"),
    // C31: blank lines, BOM, comments
    .init("version: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-blank-line"), "C31 L4.1.31 blank line inside"),
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n\n", .invalid("policy-blank-line"), "C31 L4.1.35 extra trailing newline"),
    .init("\u{FEFF}version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-bom"), "C31 BOM"),
    .init("# policy\nversion: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n", .invalid("policy-comment"), "C31 comment line"),
    .init("", .invalid("policy-empty"), "L4.1.4 empty body"),
    .init("bogus", .invalid("policy-no-colon"), "L4.1.37 not a policy"),
    .init("<html><body>Not found</body></html>", .invalid("policy-no-colon"), "C37 an HTML page"),
    // C32: control characters
    .init("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nfoo: a\u{0}b\n", .invalid("policy-nul"), "C32 NUL in a value"),
    .init("version: STSv1\nmode: enforce\u{7}\nmx: a.example\nmax_age: 86400\n", .invalid("policy-control-character"), "C32 BEL"),
    // L4.1.33: Google-style exact plus wildcard of the same host
    .init("version: STSv1\nmode: enforce\nmx: gmail-smtp-in.l.google.com\nmx: *.gmail-smtp-in.l.google.com\nmax_age: 86400\n", .valid(mode: "enforce", maxAge: 86400, mx: ["gmail-smtp-in.l.google.com", "*.gmail-smtp-in.l.google.com"]), "L4.1.33 exact and wildcard"),
]
