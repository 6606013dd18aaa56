import NIOCore

/// Netstring framing (cr.yp.to/proto/netstrings.txt), as Postfix's socketmap protocol uses it:
/// `<decimal length>:<bytes>,`. This codec knows nothing of MTA-STS.
///
/// ```
///   "19:postfix example.com,"  →  "postfix example.com"
/// ```
public struct NetstringDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// Longest payload accepted; a longer announced length is an error (Postfix sends at most 10000).
    public let maxLength: Int

    /// Digits of `maxLength`: a longer length field is refused before it can overflow.
    private let digitsLimit: Int

    public init(maxLength: Int = 10_000) {
        self.maxLength = maxLength
        digitsLimit = String(maxLength).utf8.count
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        var length = 0
        var index = buffer.readerIndex
        var digits = 0
        // The length: one or more ASCII digits, then ':'.
        while true {
            guard let byte = buffer.getInteger(at: index, as: UInt8.self) else { return nil }  // need more
            if byte == UInt8(ascii: ":") { break }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
                throw NetstringError.badLength(byte)
            }
            digits += 1
            length = length * 10 + Int(byte - UInt8(ascii: "0"))
            guard digits <= digitsLimit, length <= maxLength else { throw NetstringError.tooLong(maxLength) }
            index += 1
        }
        guard digits > 0 else { throw NetstringError.badLength(UInt8(ascii: ":")) }
        let payloadStart = index + 1
        guard buffer.writerIndex - payloadStart >= length + 1 else { return nil }  // need more
        guard buffer.getInteger(at: payloadStart + length, as: UInt8.self) == UInt8(ascii: ",") else {
            throw NetstringError.missingComma
        }
        let payload = buffer.getSlice(at: payloadStart, length: length)!
        buffer.moveReaderIndex(to: payloadStart + length + 1)
        return payload
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ByteBuffer? {
        if let frame = try decode(buffer: &buffer) { return frame }
        // A client may half-close after its last request; bytes of an unfinished frame are an error.
        if buffer.readableBytes > 0 { throw NetstringError.truncated(buffer.readableBytes) }
        return nil
    }
}

/// Why a byte stream is not a valid netstring. The connection is closed; nothing else is affected.
public enum NetstringError: Error, Hashable, CustomStringConvertible {
    case badLength(UInt8)
    case tooLong(Int)
    case missingComma
    case truncated(Int)

    public var description: String {
        switch self {
        case .badLength(let b): "bad netstring length (unexpected byte 0x\(String(b, radix: 16)))"
        case .tooLong(let max): "netstring longer than \(max) bytes"
        case .missingComma: "netstring not terminated by ','"
        case .truncated(let n): "connection closed inside a netstring (\(n) bytes pending)"
        }
    }
}

extension ByteBuffer {
    /// Appends `payload` framed as a netstring.
    public mutating func writeNetstring(_ payload: some Collection<UInt8>) {
        writeString(String(payload.count))
        writeInteger(UInt8(ascii: ":"))
        writeBytes(payload)
        writeInteger(UInt8(ascii: ","))
    }
}
