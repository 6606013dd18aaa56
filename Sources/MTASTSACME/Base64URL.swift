/// base64url without padding (RFC 7515 §2, RFC 4648 §5): every binary field of a JWS, a JWK and an ACME
/// certificate identifier is written this way. Byte loops, not Foundation's base64 and string replacements: the
/// client reads every nonce, key authorization and certificate identifier through here.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = [], acc: UInt32 = 0, bits = 0
        out.reserveCapacity(bytes.underestimatedCount * 4 / 3 + 3)
        for byte in bytes {
            acc = acc << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int(acc >> UInt32(bits) & 63)])
            }
        }
        if bits > 0 { out.append(alphabet[Int(acc << UInt32(6 - bits) & 63)]) }
        return String(decoding: out, as: UTF8.self)
    }

    public static func encode(_ text: String) -> String { encode(Array(text.utf8)) }

    /// nil for text that is not base64url. Tolerated, as some servers send them: padding at the end, the standard
    /// alphabet's `+` and `/`, and non-zero bits in the last character (RFC 4648 §3.5 lets a decoder accept them).
    public static func decode(_ text: String) -> [UInt8]? {
        var utf8 = Substring(text).utf8
        while utf8.last == UInt8(ascii: "=") { utf8 = utf8.dropLast() }
        guard utf8.count % 4 != 1 else { return nil }
        var out: [UInt8] = [], acc: UInt32 = 0, bits = 0
        out.reserveCapacity(utf8.count * 3 / 4)
        for c in utf8 {
            let value: UInt8
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"), UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "_"), UInt8(ascii: "/"): value = 63
            default: return nil
            }
            acc = acc << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return out
    }
}
