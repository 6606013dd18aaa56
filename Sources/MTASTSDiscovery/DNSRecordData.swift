/// Decoders for the rdata a ``DNSResolver`` returns (RFC 1035 §3.3). Pure functions; malformed rdata
/// gives nil, never a crash.
public enum DNSRecordData {
    /// A TXT record's character-strings joined without spaces (RFC 8461 §3.1).
    public static func txt(_ rdata: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var i = 0
        while i < rdata.count {
            let n = Int(rdata[i])
            guard i + 1 + n <= rdata.count else { return nil }
            out += rdata[(i + 1)..<(i + 1 + n)]
            i += 1 + n
        }
        return out
    }

    /// An MX record: preference and exchange host (no trailing dot).
    public static func mx(_ rdata: [UInt8]) -> (preference: UInt16, host: String)? {
        guard rdata.count >= 3 else { return nil }
        let preference = UInt16(rdata[0]) << 8 | UInt16(rdata[1])
        guard let host = name(rdata[2...]) else { return nil }
        return (preference, host)
    }

    /// A TLSA record (RFC 6698 §2.1): usage, selector, matching type, association data.
    public static func tlsa(_ rdata: [UInt8]) -> TLSARecord? { TLSARecord(rdata: rdata) }

    /// An A or AAAA record's address.
    public static func address(_ rdata: [UInt8]) -> IPAddress? { IPAddress(bytes: rdata) }

    /// An uncompressed domain name in wire form, as dotted text without the trailing dot.
    public static func name(_ bytes: ArraySlice<UInt8>) -> String? {
        var labels: [String] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let n = Int(bytes[i])
            if n == 0 { return labels.isEmpty ? "." : labels.joined(separator: ".") }
            guard n < 64, i + 1 + n <= bytes.endIndex else { return nil }
            labels.append(String(decoding: bytes[(i + 1)..<(i + 1 + n)], as: UTF8.self))
            i += 1 + n
        }
        return nil
    }
}

/// An IPv4 or IPv6 address.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public var isIPv6: Bool { bytes.count == 16 }

    /// Dotted decimal, or RFC 5952 text (lowercase hex, longest run of zero groups as `::`).
    public var description: String {
        if !isIPv6 { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
        var best = (start: -1, length: 0), run = (start: -1, length: 0)
        for (i, g) in groups.enumerated() {
            if g == 0 {
                run = run.start < 0 ? (i, 1) : (run.start, run.length + 1)
                if run.length > best.length { best = run }
            } else {
                run = (-1, 0)
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard best.length >= 2 else { return hex.joined(separator: ":") }
        let head = hex[..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.length)...].joined(separator: ":")
        return head + "::" + tail
    }
}
