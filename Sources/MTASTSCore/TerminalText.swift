/// Text bound for a terminal or a log line, built so that text from elsewhere cannot steer either.
///
/// A TXT record, an SMTP banner, the names in an unverified certificate or a DNS name can hold ESC (which
/// moves the cursor, sets the window title, or hides what follows), a newline or a carriage return (which
/// forge a line of output or of a log), or a C1 control (U+009B is CSI on many terminals). Renderers build
/// their output as `TerminalText`: string literals and other `TerminalText` values (our own words and our
/// own colour codes) are kept as they are; every interpolated value is passed through ``escaped(_:)``. So a
/// value cannot reach the output raw by being forgotten: it has to be wrapped in ``init(verbatim:)``, on
/// purpose. JSON output does not use this: JSON's own escaping keeps such text exact.
public struct TerminalText: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The text to write, with every foreign value escaped.
    public private(set) var description: String

    /// Our own text, kept as it is (a literal, or an escape sequence we generate on purpose).
    public init(verbatim: String) { description = verbatim }

    /// Text from elsewhere, escaped.
    public init(_ foreign: some StringProtocol) { description = Self.escaped(foreign) }

    public init(stringLiteral value: String) { description = value }

    public init(stringInterpolation: StringInterpolation) { description = stringInterpolation.text }

    public struct StringInterpolation: StringInterpolationProtocol {
        fileprivate var text = ""

        public init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity + 16 * interpolationCount) }
        public mutating func appendLiteral(_ literal: String) { text += literal }
        /// Already safe (our own, or escaped when it was built).
        public mutating func appendInterpolation(_ value: TerminalText) { text += value.description }
        /// Anything else is foreign: escaped.
        public mutating func appendInterpolation(_ value: some CustomStringConvertible) { text += TerminalText.escaped(value.description) }
    }

    public static func + (lhs: TerminalText, rhs: TerminalText) -> TerminalText { TerminalText(verbatim: lhs.description + rhs.description) }
    public static func += (lhs: inout TerminalText, rhs: TerminalText) { lhs.description += rhs.description }

    /// Characters shown (for padding columns).
    public var count: Int { description.count }
    public var isEmpty: Bool { description.isEmpty }

    /// The one escaping rule: C0 controls (U+0000–U+001F, newline and tab included), DEL (U+007F) and C1
    /// controls (U+0080–U+009F) become `\xNN` (two lower-case hex digits, as Python's `repr` writes them),
    /// and a backslash becomes `\\`, so that escaped text is never mistaken for an escape (a remote `\x1b`
    /// shows as `\\x1b`). Everything else, other scripts included, is kept. Invalid UTF-8 never gets here:
    /// bytes are decoded before they become text, with U+FFFD for what is not UTF-8.
    public static func escaped(_ text: some StringProtocol) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return String(text) }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                out.append(contentsOf: #"\\"#.unicodeScalars)
            } else if isControl(scalar) {
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: ("\\x" + (hex.count == 1 ? "0" : "") + hex).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// C0, DEL, C1: the code points a terminal may act on instead of showing.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool { scalar == "\\" || isControl(scalar) }
}

extension Sequence where Element == TerminalText {
    public func joined(separator: TerminalText = "") -> TerminalText {
        var out: TerminalText = ""
        for (i, part) in enumerated() {
            if i > 0 { out += separator }
            out += part
        }
        return out
    }
}
