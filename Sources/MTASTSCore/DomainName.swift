import CIDN2

/// A host or domain name in the one form every comparison, DNS query and cache key uses:
/// A-labels (IDNA2008 / UTS #46 for U-labels), lowercase, no trailing dot.
///
/// `DomainName("Bücher.Example.")` and `DomainName("xn--bcher-kva.example")` are equal.
public struct DomainName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The normalised text: lowercase A-labels joined by dots, no trailing dot.
    public let value: String

    /// Why a text is not a usable domain name.
    public struct Invalid: Error, Hashable, Sendable, CustomStringConvertible {
        public let input: String
        public let reason: String
        public var description: String { "\(ASCII.quoted(input.utf8)) is not a valid domain name: \(reason)" }
    }

    /// Normalises `text` to A-labels, lowercase, without a trailing dot.
    ///
    /// - Throws: ``Invalid`` when the text is empty, has an empty label, a label over 63 octets, a name over
    ///   253 characters, a character outside letters, digits and hyphen (LDH, RFC 5321 §4.1.2), a label that
    ///   starts or ends with a hyphen, or a U-label that IDNA2008 rejects.
    public init(_ text: String) throws(Invalid) {
        var bytes = Array(text.utf8)
        if bytes.contains(where: { $0 >= 0x80 }) {
            bytes = try Self.toASCII(text)
        }
        if bytes.last == ASCII.dot { bytes.removeLast() }
        if let reason = Self.ldhProblem(bytes) { throw Invalid(input: text, reason: reason) }
        value = ASCII.string(bytes.map(ASCII.lowercased))
    }

    init(validatedLowercase value: String) { self.value = value }

    public var description: String { value }

    /// The labels from left to right.
    public var labels: [Substring] { value.split(separator: ".", omittingEmptySubsequences: false) }

    public static func < (lhs: DomainName, rhs: DomainName) -> Bool { lhs.value < rhs.value }

    /// `label.self`, e.g. `_mta-sts.example.com`.
    public func prefixed(by label: String) -> String { label + "." + value }

    /// Where the TXT record lives: `_mta-sts.<domain>` (RFC 8461 §3.1).
    public var recordName: String { prefixed(by: "_mta-sts") }

    /// The policy host: "mta-sts" prepended to the policy domain (RFC 8461 §3.2). Nil only when that name
    /// would be longer than DNS allows.
    public var policyHost: DomainName? {
        let host = prefixed(by: "mta-sts")
        return host.utf8.count <= STSLimits.nameLength ? DomainName(validatedLowercase: host) : nil
    }

    /// The host-name syntax of RFC 5321 §4.1.2 (`sub-domain *("." sub-domain)`, LDH labels) with the
    /// DNS length limits of RFC 1035 §2.3.4. Returns nil when `bytes` (without trailing dot) is valid.
    static func ldhProblem(_ bytes: [UInt8]) -> String? {
        if bytes.isEmpty { return "the name is empty" }
        if bytes.count > STSLimits.nameLength {
            return "the name is \(bytes.count) characters long; at most \(STSLimits.nameLength) are allowed"
        }
        for label in bytes.split(separator: ASCII.dot, omittingEmptySubsequences: false) {
            if label.isEmpty { return "it has an empty label (two dots in a row, or a leading dot)" }
            if label.count > STSLimits.labelLength {
                return "the label \(ASCII.quoted(label)) is \(label.count) octets long; at most 63 are allowed"
            }
            if let bad = label.first(where: { !ASCII.isAlnum($0) && $0 != ASCII.hyphen }) {
                return "the label \(ASCII.quoted(label)) contains \(ASCII.quoted([bad])); only letters, digits and '-' are allowed"
            }
            if label.first == ASCII.hyphen || label.last == ASCII.hyphen {
                return "the label \(ASCII.quoted(label)) starts or ends with '-'"
            }
        }
        return nil
    }

    /// U-labels to A-labels with libidn2 (UTS #46 non-transitional processing, NFC input).
    static func toASCII(_ text: String) throws(Invalid) -> [UInt8] {
        var output: UnsafeMutablePointer<CChar>? = nil
        let flags = Int32(IDN2_NFC_INPUT.rawValue | IDN2_NONTRANSITIONAL.rawValue)
        let rc = idn2_to_ascii_8z(text, &output, flags)
        defer { idn2_free(output) }
        guard rc == Int32(IDN2_OK.rawValue), let output else {
            throw Invalid(input: text, reason: "IDNA conversion failed (\(String(cString: idn2_strerror(rc))))")
        }
        return Array(String(cString: output).utf8)
    }

    /// True when `label` starts with `xn--` but does not decode as Punycode to a valid U-label.
    static func isBrokenALabel(_ label: some Collection<UInt8>) -> Bool {
        let lower = label.map(ASCII.lowercased)
        guard lower.starts(with: Array("xn--".utf8)) else { return false }
        var output: UnsafeMutablePointer<CChar>? = nil
        let rc = idn2_to_unicode_8z8z(ASCII.string(lower), &output, 0)
        idn2_free(output)
        return rc != Int32(IDN2_OK.rawValue)
    }
}
