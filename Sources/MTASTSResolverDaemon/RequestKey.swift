import NIOCore

/// A socketmap request's bytes (`name key`) as a dictionary key, compact: up to 40 bytes are held inline (no allocation
/// and no reference per remembered request), longer requests in an array. Built from the request's bytes in place, so
/// looking up a short request allocates nothing.
struct RequestKey: Hashable {
    private enum Storage: Hashable {
        case inline(UInt64, UInt64, UInt64, UInt64, UInt64, count: UInt8)
        case heap([UInt8])
    }

    private let storage: Storage
    static let inlineCapacity = 40

    init(_ bytes: ByteBuffer) {
        let count = bytes.readableBytes
        guard count <= Self.inlineCapacity else {
            storage = .heap(Array(bytes.readableBytesView))
            return
        }
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { out in
            bytes.withUnsafeReadableBytes { out.copyMemory(from: $0) }
        }
        storage = .inline(words.0, words.1, words.2, words.3, words.4, count: UInt8(count))
    }
}
