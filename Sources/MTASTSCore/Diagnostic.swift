/// One problem (or remark) found in a TXT record, a policy file or a value given on the command line.
///
/// Every diagnostic has a stable ``Code`` (scripts match on it; see docs/diagnostics.md), a severity,
/// a message that says what is wrong, and where possible a fix that says what to write instead.
/// Policy diagnostics carry a ``Location`` (line, column, byte offset) so tools can point at the text.
public struct Diagnostic: Hashable, Sendable {
    /// How bad the finding is.
    public enum Severity: String, Hashable, Sendable, Comparable {
        /// The input breaks RFC 8461: a strict sender treats it as absent or invalid.
        case error
        /// The input is legal but risky, or real senders read it differently.
        case warning
        /// A remark with no effect on validity.
        case info

        private var rank: Int {
            switch self {
            case .error: 0
            case .warning: 1
            case .info: 2
            }
        }

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    /// Where in the input the problem is. Lines and columns count from 1, byte offsets from 0.
    public struct Location: Hashable, Sendable {
        public var line: Int?
        public var column: Int?
        /// Byte offset of the problem from the start of the input.
        public var offset: Int
        /// Number of bytes the problem spans (at least 1 when known, 0 for "at this point").
        public var length: Int

        public init(line: Int? = nil, column: Int? = nil, offset: Int, length: Int = 0) {
            self.line = line
            self.column = column
            self.offset = offset
            self.length = length
        }
    }

    public var code: Code
    public var severity: Severity
    public var message: String
    public var fix: String?
    public var location: Location?

    public init(_ code: Code, _ severity: Severity, _ message: String, fix: String? = nil, at location: Location? = nil) {
        self.code = code
        self.severity = severity
        self.message = message
        self.fix = fix
        self.location = location
    }

    /// The RFC section that the rule behind this diagnostic comes from.
    public var rfcSection: String { code.rfcSection }
}

extension Diagnostic {
    /// A stable, documented identifier for a kind of problem, such as `policy-mode-invalid`. The raw value is
    /// the code as printed and as written in JSON output; the cases are in documentation order, and
    /// docs/diagnostics.md lists each one (a test checks this against `allCases`).
    public enum Code: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        // MARK: TXT record (RFC 8461 §3.1)
        case recordEmpty = "record-empty"
        case recordNotASCII = "record-not-ascii"
        case recordVersionMissing = "record-version-missing"
        case recordVersionInvalid = "record-version-invalid"
        case recordIDMissing = "record-id-missing"
        case recordIDInvalid = "record-id-invalid"
        case recordFieldInvalid = "record-field-invalid"
        case recordFieldEmpty = "record-field-empty"
        case recordDelimiterMissing = "record-delimiter-missing"
        case recordDuplicateField = "record-duplicate-field"
        case recordUnknownField = "record-unknown-field"

        // MARK: TXT RRset (RFC 8461 §3.1)
        case recordNone = "record-none"
        case recordMultiple = "record-multiple"
        case recordIgnored = "record-ignored"

        // MARK: Policy file (RFC 8461 §3.2)
        case policyEmpty = "policy-empty"
        case policyBOM = "policy-bom"
        case policyNUL = "policy-nul"
        case policyNotUTF8 = "policy-not-utf8"
        case policyBareCR = "policy-bare-cr"
        case policyControlCharacter = "policy-control-character"
        case policyBlankLine = "policy-blank-line"
        case policyLineEndings = "policy-line-endings"
        case policyComment = "policy-comment"
        case policyLeadingWhitespace = "policy-leading-whitespace"
        case policyTrailingWhitespace = "policy-trailing-whitespace"
        case policyNoColon = "policy-no-colon"
        case policySpaceBeforeColon = "policy-space-before-colon"
        case policyKeyInvalid = "policy-key-invalid"
        case policyKeyCase = "policy-key-case"
        case policyUnknownKey = "policy-unknown-key"
        case policyDuplicateKey = "policy-duplicate-key"
        case policyExtensionInvalid = "policy-extension-invalid"
        case policyVersionMissing = "policy-version-missing"
        case policyVersionInvalid = "policy-version-invalid"
        case policyModeMissing = "policy-mode-missing"
        case policyModeInvalid = "policy-mode-invalid"
        case policyMaxAgeMissing = "policy-max-age-missing"
        case policyMaxAgeInvalid = "policy-max-age-invalid"
        case policyMaxAgeTooLarge = "policy-max-age-too-large"
        case policyMaxAgeShort = "policy-max-age-short"
        case policyMXMissing = "policy-mx-missing"
        case policyMXDuplicate = "policy-mx-duplicate"

        // MARK: MX patterns (RFC 8461 §3.2, §4.1)
        case mxEmpty = "mx-empty"
        case mxInvalid = "mx-invalid"
        case mxList = "mx-list"
        case mxULabel = "mx-ulabel"
        case mxTrailingDot = "mx-trailing-dot"
        case mxWildcardInvalid = "mx-wildcard-invalid"
        case mxLegacySuffix = "mx-legacy-suffix"
        case mxWildcardTLD = "mx-wildcard-tld"
        case mxAddressLiteral = "mx-address-literal"
        case mxALabelInvalid = "mx-alabel-invalid"

        public var description: String { rawValue }

        /// The RFC section whose rule this code reports, e.g. `RFC 8461 §3.2`.
        public var rfcSection: String {
            switch self {
            case .recordEmpty, .recordNotASCII, .recordVersionMissing, .recordVersionInvalid, .recordIDMissing,
                 .recordIDInvalid, .recordFieldInvalid, .recordFieldEmpty, .recordDelimiterMissing, .recordNone,
                 .recordMultiple, .recordIgnored: "RFC 8461 §3.1"
            case .recordDuplicateField, .recordUnknownField, .policyEmpty, .policyBOM, .policyNUL, .policyNotUTF8,
                 .policyBareCR, .policyControlCharacter, .policyBlankLine, .policyLineEndings, .policyComment,
                 .policyLeadingWhitespace, .policyTrailingWhitespace, .policyNoColon, .policySpaceBeforeColon,
                 .policyKeyInvalid, .policyKeyCase, .policyUnknownKey, .policyDuplicateKey, .policyExtensionInvalid,
                 .policyVersionMissing, .policyVersionInvalid, .policyModeMissing, .policyModeInvalid,
                 .policyMaxAgeMissing, .policyMaxAgeInvalid, .policyMaxAgeTooLarge, .policyMaxAgeShort,
                 .policyMXMissing, .policyMXDuplicate, .mxEmpty, .mxInvalid, .mxList, .mxULabel, .mxTrailingDot,
                 .mxALabelInvalid: "RFC 8461 §3.2"
            case .mxWildcardInvalid, .mxLegacySuffix, .mxAddressLiteral: "RFC 8461 §4.1"
            case .mxWildcardTLD: "RFC 8461 §10.4"
            }
        }
    }
}

extension Array where Element == Diagnostic {
    /// True when any diagnostic is an error.
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public var errors: [Diagnostic] { filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { filter { $0.severity == .warning } }
    public var notes: [Diagnostic] { filter { $0.severity == .info } }
}
