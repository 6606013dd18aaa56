/// The two things of a TLS ClientHello the listener decides on before any TLS handler sees it: the SNI name
/// (RFC 6066 §3) and the offered ALPN protocols (RFC 7301 §3.1). BoringSSL's certificate callback sees only
/// the name, while a tls-alpn-01 validation (RFC 8737 §3) is recognised by the pair.
///
/// This is attacker input read before authentication: every length is checked against what is there and what
/// encloses it, the message is at most ``maxLength`` bytes, and anything not exactly a well-formed ClientHello
/// (trailing bytes, duplicate extensions, an SSLv2 hello, an empty name) is ``Sniff/malformed``, which the
/// listener answers with the ordinary TLS context (BoringSSL then refuses it): a challenge certificate is only
/// ever chosen from an unambiguous hello.
public struct ClientHello: Sendable, Equatable {
    /// The SNI host_name, as sent (nil: no SNI).
    public var serverName: String?
    /// The ALPN protocol names in the client's order (nil: no ALPN extension).
    public var applicationProtocols: [String]?

    public init(serverName: String?, applicationProtocols: [String]?) {
        self.serverName = serverName
        self.applicationProtocols = applicationProtocols
    }

    public enum Sniff: Sendable, Equatable {
        /// The bytes so far are a valid beginning; read more.
        case needMore
        case hello(ClientHello)
        case malformed
    }

    /// Longest handshake message read (a ClientHello with post-quantum key shares is about 1.8 KB; 16 KiB is
    /// one full record).
    public static let maxLength = 16 * 1024
    /// Most records one ClientHello may span (so tiny records cannot make the buffered bytes grow past the
    /// message's size by more than 5 bytes each, 160 in all).
    static let maxRecords = 32

    /// Reads the ClientHello at the start of `bytes`, reassembling it from consecutive handshake records
    /// (RFC 8446 §5.1 lets a handshake message span records).
    public static func sniff(_ input: some Collection<UInt8>) -> Sniff {
        // While the first record is incomplete, only its header is looked at: a client trickling its hello a byte
        // per packet costs no copy of what is buffered.
        let header = Array(input.prefix(5))
        if header.count == 5, header[0] == 22, header[1] == 3, case let length = Int(header[3]) << 8 | Int(header[4]),
           (1...16 * 1024).contains(length), input.count < 5 + length {
            return .needMore
        }
        let bytes = Array(input)
        var message: [UInt8] = []
        var at = 0
        for _ in 0..<maxRecords {
            guard bytes.count - at >= 5 else { return .needMore }
            // TLSPlaintext: type handshake(22), legacy_record_version 3.x, length ≤ 2^14 (RFC 8446 §5.1).
            guard bytes[at] == 22, bytes[at + 1] == 3 else { return .malformed }
            let length = Int(bytes[at + 3]) << 8 | Int(bytes[at + 4])
            guard length > 0, length <= 16 * 1024 else { return .malformed }
            guard bytes.count - at - 5 >= length else { return .needMore }
            message += bytes[(at + 5)..<(at + 5 + length)]
            at += 5 + length
            guard message.count >= 4 else { continue }
            guard message[0] == 1 else { return .malformed }  // msg_type client_hello
            let body = Int(message[1]) << 16 | Int(message[2]) << 8 | Int(message[3])
            guard body <= maxLength else { return .malformed }
            if message.count - 4 < body { continue }
            // Nothing may follow the ClientHello in its records: the client waits for the server's flight.
            guard message.count - 4 == body else { return .malformed }
            return parseBody(message[4...]).map(Sniff.hello) ?? .malformed
        }
        return .malformed
    }

    /// The ClientHello body (RFC 8446 §4.1.2; RFC 5246 §7.4.1.2 for TLS 1.2, where extensions may be absent).
    static func parseBody(_ body: ArraySlice<UInt8>) -> ClientHello? {
        var r = Reader(body)
        guard r.skip(2 + 32),                                     // legacy_version, random
              let session = r.bytes8(), session.count <= 32,      // legacy_session_id<0..32>
              let suites = r.bytes16(), suites.count >= 2, suites.count % 2 == 0,
              let compression = r.bytes8(), !compression.isEmpty else { return nil }
        var hello = ClientHello(serverName: nil, applicationProtocols: nil)
        if r.isAtEnd { return hello }
        guard var extensions = r.bytes16().map(Reader.init), r.isAtEnd else { return nil }
        var seen = Set<UInt16>()
        while !extensions.isAtEnd {
            guard let type = extensions.uint16(), let data = extensions.bytes16(), seen.insert(type).inserted else { return nil }
            switch type {
            case 0: guard let name = serverName(data) else { return nil }; hello.serverName = name
            case 16: guard let protocols = alpn(data) else { return nil }; hello.applicationProtocols = protocols
            default: continue
            }
        }
        return hello
    }

    /// server_name (RFC 6066 §3): the list's host_name entry; "MUST NOT contain more than one name of the same
    /// name_type". A name is ASCII letters, digits, `-`, `.`, `_` (no trailing dot; nothing else reaches a
    /// table key).
    static func serverName(_ data: ArraySlice<UInt8>) -> String? {
        var r = Reader(data)
        guard var list = r.bytes16().map(Reader.init), r.isAtEnd, !list.isAtEnd else { return nil }
        var name: String?
        while !list.isAtEnd {
            guard let type = list.uint8(), let value = list.bytes16() else { return nil }
            guard type == 0 else { continue }
            guard name == nil, !value.isEmpty, value.count <= 255, value.last != UInt8(ascii: "."),
                  value.allSatisfy({ $0 < 0x80 && ($0 == 0x2D || $0 == 0x2E || $0 == 0x5F || (0x30...0x39).contains($0)
                                                   || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)) }) else { return nil }
            name = String(decoding: value, as: UTF8.self)
        }
        return name
    }

    /// application_layer_protocol_negotiation (RFC 7301 §3.1): a non-empty list of non-empty names.
    static func alpn(_ data: ArraySlice<UInt8>) -> [String]? {
        var r = Reader(data)
        guard var list = r.bytes16().map(Reader.init), r.isAtEnd, !list.isAtEnd else { return nil }
        var protocols: [String] = []
        while !list.isAtEnd {
            guard let name = list.bytes8(), !name.isEmpty else { return nil }
            protocols.append(String(decoding: name, as: UTF8.self))
        }
        return protocols
    }

    /// A bounds-checked cursor: every read returns nil instead of going past the end.
    struct Reader {
        private var rest: ArraySlice<UInt8>
        init(_ bytes: ArraySlice<UInt8>) { rest = bytes }
        var isAtEnd: Bool { rest.isEmpty }

        mutating func skip(_ n: Int) -> Bool { take(n) != nil }
        mutating func uint8() -> UInt8? { take(1)?.first }
        mutating func uint16() -> UInt16? { take(2).map { UInt16($0[$0.startIndex]) << 8 | UInt16($0[$0.startIndex + 1]) } }
        mutating func bytes8() -> ArraySlice<UInt8>? { uint8().flatMap { take(Int($0)) } }
        mutating func bytes16() -> ArraySlice<UInt8>? { uint16().flatMap { take(Int($0)) } }

        private mutating func take(_ n: Int) -> ArraySlice<UInt8>? {
            guard n >= 0, rest.count >= n else { return nil }
            defer { rest = rest.dropFirst(n) }
            return rest.prefix(n)
        }
    }
}
