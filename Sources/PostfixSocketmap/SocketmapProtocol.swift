import NIOCore

/// One socketmap lookup: `<map name> <key>` (Postfix socketmap_table(5)).
public struct SocketmapRequest: Sendable, Hashable {
    /// The request exactly as received: `name key`.
    public let payload: ByteBuffer
    /// Where the first space is, in `payload`'s readable bytes.
    private let space: Int

    /// The table name Postfix puts in front (the last field of `socketmap:inet:host:port:NAME`).
    public var name: String { String(decoding: payload.readableBytesView.prefix(space), as: UTF8.self) }
    /// The lookup key exactly as sent (Postfix does not fold case).
    public var key: String { String(decoding: payload.readableBytesView.dropFirst(space + 1), as: UTF8.self) }

    /// Splits a request at its first space; nil when there is none. Nothing is copied or decoded here: a
    /// responder that recognises the payload (a cache hit) never needs the strings.
    public init?(_ payload: ByteBuffer) {
        guard let space = payload.readableBytesView.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        self.payload = payload
        self.space = space - payload.readableBytesView.startIndex
    }

    public init(name: String, key: String) {
        self.init(ByteBuffer(string: name + " " + key))!
    }
}

/// A socketmap reply. Replies are at most 100000 bytes (Postfix `socketmap_max_reply_size`).
public enum SocketmapReply: Sendable, Hashable {
    /// `OK <data>`: found.
    case ok(String)
    /// `NOTFOUND `: not found; Postfix falls back to its default.
    case notFound
    /// `TEMP <reason>`: Postfix defers the mail (and logs the reason).
    case temp(String)
    /// `PERM <reason>`: a configuration error; Postfix defers too.
    case perm(String)

    /// The largest reply payload Postfix accepts (socketmap_table(5)).
    public static let maxPayload = 100_000

    /// The reply payload (without netstring framing).
    public var payload: String {
        switch self {
        case .ok(let data): "OK " + data
        case .notFound: "NOTFOUND "
        case .temp(let reason): "TEMP " + reason
        case .perm(let reason): "PERM " + reason
        }
    }

    /// The reply framed as a netstring, ready to write.
    public var frame: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeNetstring(Array(payload.utf8))
        return buffer
    }
}
