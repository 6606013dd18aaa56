import NIOCore

/// One socketmap lookup: `<map name> <key>` (Postfix socketmap_table(5)).
public struct SocketmapRequest: Sendable, Hashable {
    /// The table name Postfix puts in front (the last field of `socketmap:inet:host:port:NAME`).
    public let name: String
    /// The lookup key exactly as sent (Postfix does not fold case).
    public let key: String

    /// Splits a request at its first space; nil when there is none.
    public init?(_ payload: ByteBuffer) {
        let view = payload.readableBytesView
        guard let space = view.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        name = String(decoding: view[view.startIndex..<space], as: UTF8.self)
        key = String(decoding: view[(space + 1)...], as: UTF8.self)
    }

    public init(name: String, key: String) {
        self.name = name
        self.key = key
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
