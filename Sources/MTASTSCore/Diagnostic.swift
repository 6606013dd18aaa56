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
    /// A stable, documented identifier for a kind of problem, such as `policy-mode-invalid`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code as printed and as written in JSON output.
        public let rawValue: String
        /// The RFC section whose rule this code reports, e.g. `RFC 8461 §3.2`.
        public let rfcSection: String

        init(_ rawValue: String, _ rfcSection: String) {
            self.rawValue = rawValue
            self.rfcSection = rfcSection
        }

        public var description: String { rawValue }

        public static func == (lhs: Code, rhs: Code) -> Bool { lhs.rawValue == rhs.rawValue }
        public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    }
}

extension Diagnostic.Code {
    // MARK: TXT record (RFC 8461 §3.1)
    public static let recordEmpty = Self("record-empty", "RFC 8461 §3.1")
    public static let recordNotASCII = Self("record-not-ascii", "RFC 8461 §3.1")
    public static let recordVersionMissing = Self("record-version-missing", "RFC 8461 §3.1")
    public static let recordVersionInvalid = Self("record-version-invalid", "RFC 8461 §3.1")
    public static let recordIDMissing = Self("record-id-missing", "RFC 8461 §3.1")
    public static let recordIDInvalid = Self("record-id-invalid", "RFC 8461 §3.1")
    public static let recordFieldInvalid = Self("record-field-invalid", "RFC 8461 §3.1")
    public static let recordFieldEmpty = Self("record-field-empty", "RFC 8461 §3.1")
    public static let recordDelimiterMissing = Self("record-delimiter-missing", "RFC 8461 §3.1")
    public static let recordDuplicateField = Self("record-duplicate-field", "RFC 8461 §3.2")
    public static let recordUnknownField = Self("record-unknown-field", "RFC 8461 §3.2")
    // MARK: TXT RRset (RFC 8461 §3.1)
    public static let recordNone = Self("record-none", "RFC 8461 §3.1")
    public static let recordMultiple = Self("record-multiple", "RFC 8461 §3.1")
    public static let recordIgnored = Self("record-ignored", "RFC 8461 §3.1")

    // MARK: Policy file (RFC 8461 §3.2)
    public static let policyEmpty = Self("policy-empty", "RFC 8461 §3.2")
    public static let policyBOM = Self("policy-bom", "RFC 8461 §3.2")
    public static let policyNUL = Self("policy-nul", "RFC 8461 §3.2")
    public static let policyNotUTF8 = Self("policy-not-utf8", "RFC 8461 §3.2")
    public static let policyBareCR = Self("policy-bare-cr", "RFC 8461 §3.2")
    public static let policyControlCharacter = Self("policy-control-character", "RFC 8461 §3.2")
    public static let policyBlankLine = Self("policy-blank-line", "RFC 8461 §3.2")
    public static let policyLineEndings = Self("policy-line-endings", "RFC 8461 §3.2")
    public static let policyComment = Self("policy-comment", "RFC 8461 §3.2")
    public static let policyLeadingWhitespace = Self("policy-leading-whitespace", "RFC 8461 §3.2")
    public static let policyTrailingWhitespace = Self("policy-trailing-whitespace", "RFC 8461 §3.2")
    public static let policyNoColon = Self("policy-no-colon", "RFC 8461 §3.2")
    public static let policySpaceBeforeColon = Self("policy-space-before-colon", "RFC 8461 §3.2")
    public static let policyKeyInvalid = Self("policy-key-invalid", "RFC 8461 §3.2")
    public static let policyKeyCase = Self("policy-key-case", "RFC 8461 §3.2")
    public static let policyUnknownKey = Self("policy-unknown-key", "RFC 8461 §3.2")
    public static let policyDuplicateKey = Self("policy-duplicate-key", "RFC 8461 §3.2")
    public static let policyExtensionInvalid = Self("policy-extension-invalid", "RFC 8461 §3.2")
    public static let policyVersionMissing = Self("policy-version-missing", "RFC 8461 §3.2")
    public static let policyVersionInvalid = Self("policy-version-invalid", "RFC 8461 §3.2")
    public static let policyModeMissing = Self("policy-mode-missing", "RFC 8461 §3.2")
    public static let policyModeInvalid = Self("policy-mode-invalid", "RFC 8461 §3.2")
    public static let policyMaxAgeMissing = Self("policy-max-age-missing", "RFC 8461 §3.2")
    public static let policyMaxAgeInvalid = Self("policy-max-age-invalid", "RFC 8461 §3.2")
    public static let policyMaxAgeTooLarge = Self("policy-max-age-too-large", "RFC 8461 §3.2")
    public static let policyMaxAgeShort = Self("policy-max-age-short", "RFC 8461 §3.2")
    public static let policyMXMissing = Self("policy-mx-missing", "RFC 8461 §3.2")
    public static let policyMXDuplicate = Self("policy-mx-duplicate", "RFC 8461 §3.2")

    // MARK: MX patterns (RFC 8461 §3.2, §4.1)
    public static let mxEmpty = Self("mx-empty", "RFC 8461 §3.2")
    public static let mxInvalid = Self("mx-invalid", "RFC 8461 §3.2")
    public static let mxList = Self("mx-list", "RFC 8461 §3.2")
    public static let mxULabel = Self("mx-ulabel", "RFC 8461 §3.2")
    public static let mxTrailingDot = Self("mx-trailing-dot", "RFC 8461 §3.2")
    public static let mxWildcardInvalid = Self("mx-wildcard-invalid", "RFC 8461 §4.1")
    public static let mxLegacySuffix = Self("mx-legacy-suffix", "RFC 8461 §4.1")
    public static let mxWildcardTLD = Self("mx-wildcard-tld", "RFC 8461 §10.4")
    public static let mxAddressLiteral = Self("mx-address-literal", "RFC 8461 §4.1")
    public static let mxALabelInvalid = Self("mx-alabel-invalid", "RFC 8461 §3.2")

    /// Every code, in documentation order. docs/diagnostics.md lists each one (a test checks this).
    public static let all: [Self] = [
        .recordEmpty, .recordNotASCII, .recordVersionMissing, .recordVersionInvalid, .recordIDMissing,
        .recordIDInvalid, .recordFieldInvalid, .recordFieldEmpty, .recordDelimiterMissing, .recordDuplicateField,
        .recordUnknownField, .recordNone, .recordMultiple, .recordIgnored,
        .policyEmpty, .policyBOM, .policyNUL, .policyNotUTF8, .policyBareCR, .policyControlCharacter,
        .policyBlankLine, .policyLineEndings, .policyComment, .policyLeadingWhitespace, .policyTrailingWhitespace,
        .policyNoColon, .policySpaceBeforeColon, .policyKeyInvalid, .policyKeyCase, .policyUnknownKey,
        .policyDuplicateKey, .policyExtensionInvalid, .policyVersionMissing, .policyVersionInvalid,
        .policyModeMissing, .policyModeInvalid, .policyMaxAgeMissing, .policyMaxAgeInvalid, .policyMaxAgeTooLarge,
        .policyMaxAgeShort, .policyMXMissing, .policyMXDuplicate,
        .mxEmpty, .mxInvalid, .mxList, .mxULabel, .mxTrailingDot, .mxWildcardInvalid, .mxLegacySuffix,
        .mxWildcardTLD, .mxAddressLiteral, .mxALabelInvalid,
    ]
}

extension Array where Element == Diagnostic {
    /// True when any diagnostic is an error.
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public var errors: [Diagnostic] { filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { filter { $0.severity == .warning } }
    public var notes: [Diagnostic] { filter { $0.severity == .info } }
}
