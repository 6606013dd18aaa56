/// TLS ClientHello records built by hand (RFC 8446 §4.1.2, §5.1), for the tests of the policy host's ClientHello
/// reader: well-formed with the SNI and ALPN extensions asked for, to be truncated or corrupted by the test.
public enum ClientHelloBytes {
    /// One handshake record holding a ClientHello with `serverName` (RFC 6066 §3) and `alpn` (RFC 7301 §3.1), when
    /// given, then supported_versions (TLS 1.3, 1.2) and supported_groups.
    public static func make(serverName: String?, alpn: [String]?, extraExtensions: [[UInt8]] = []) -> [UInt8] {
        var extensions: [[UInt8]] = []
        if let serverName {
            let name = Array(serverName.utf8)
            extensions.append(ext(0, vector16([0] + vector16(name))))
        }
        if let alpn { extensions.append(ext(16, vector16(alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }))) }
        extensions.append(ext(43, [4, 3, 4, 3, 3]))
        extensions.append(ext(10, vector16([0, 0x1D, 0, 0x17])))
        extensions += extraExtensions
        let body: [UInt8] = [3, 3] + [UInt8](repeating: 0x42, count: 32) + [32] + [UInt8](repeating: 0x17, count: 32)
            + vector16([0x13, 0x01, 0x13, 0x02, 0xC0, 0x2B]) + [1, 0] + vector16(extensions.flatMap { $0 })
        return record(handshake(body))
    }

    /// A handshake message of type client_hello(1).
    public static func handshake(_ body: [UInt8]) -> [UInt8] {
        [1, UInt8(body.count >> 16 & 0xFF), UInt8(body.count >> 8 & 0xFF), UInt8(body.count & 0xFF)] + body
    }

    /// `fragment` in handshake records of at most `size` bytes each.
    public static func record(_ fragment: [UInt8], size: Int = 16384) -> [UInt8] {
        stride(from: 0, to: fragment.count, by: size).flatMap { start -> [UInt8] in
            let part = fragment[start..<min(fragment.count, start + size)]
            return [22, 3, 1, UInt8(part.count >> 8), UInt8(part.count & 0xFF)] + part
        }
    }

    public static func ext(_ type: UInt16, _ data: [UInt8]) -> [UInt8] {
        [UInt8(type >> 8), UInt8(type & 0xFF)] + vector16(data)
    }

    public static func vector16(_ bytes: [UInt8]) -> [UInt8] { [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes }
}
