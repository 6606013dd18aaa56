/// Byte classes of the RFC 5234 core rules, as used by the RFC 8461 ABNF.
enum ASCII {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let hyphen: UInt8 = 0x2D
    static let dot: UInt8 = 0x2E
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let asterisk: UInt8 = 0x2A
    static let underscore: UInt8 = 0x5F
    static let comma: UInt8 = 0x2C
    static let hash: UInt8 = 0x23

    static func isAlpha(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
    static func isDigit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) }
    static func isAlnum(_ b: UInt8) -> Bool { isAlpha(b) || isDigit(b) }
    /// WSP = SP / HTAB
    static func isWSP(_ b: UInt8) -> Bool { b == space || b == tab }
    /// Characters of an extension name after the first: ALPHA / DIGIT / "_" / "-" / "."
    static func isNameChar(_ b: UInt8) -> Bool { isAlnum(b) || b == underscore || b == hyphen || b == dot }
    static func isControl(_ b: UInt8) -> Bool { b < 0x20 || b == 0x7F }
    static func lowercased(_ b: UInt8) -> UInt8 { (0x41...0x5A).contains(b) ? b | 0x20 : b }

    static func string(_ bytes: some Sequence<UInt8>) -> String { String(decoding: Array(bytes), as: UTF8.self) }

    /// `bytes` as text for a message: printable ASCII kept, everything else escaped.
    static func quoted(_ bytes: some Sequence<UInt8>) -> String {
        var out = "\""
        for b in bytes {
            switch b {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case tab: out += "\\t"
            case cr: out += "\\r"
            case lf: out += "\\n"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default: out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out + "\""
    }

    /// Is this a name that matches `target` if case is ignored but not exactly?
    static func differsOnlyInCase(_ bytes: some Collection<UInt8>, _ target: String) -> Bool {
        let t = Array(target.utf8)
        guard bytes.count == t.count, !bytes.elementsEqual(t) else { return false }
        return bytes.map(lowercased).elementsEqual(t.map(lowercased))
    }
}
