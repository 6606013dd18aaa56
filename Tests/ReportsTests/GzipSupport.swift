import CZlib

/// gzip (RFC 1952) compression for building test input: `repeat` copies of `chunk`, streamed through deflate so
/// that a gigabyte of zeros is compressed without ever being in memory. `memoryLevel` (zlib's 1...9) trades the
/// ratio for deflate's state: 9 (~400 KB) for the bombs, 1 (~130 KB) where only the round trip matters (the fuzzer).
func gzip(_ chunk: [UInt8], repeat count: Int = 1, memoryLevel: Int32 = 9) -> [UInt8] {
    var stream = z_stream()
    precondition(deflateInit2_(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, memoryLevel, Z_DEFAULT_STRATEGY,
                               zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&stream) }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: count == 1 ? min(64 << 10, chunk.count + 1024) : 64 << 10)
    var input = chunk
    for i in 0..<count {
        let flush = i == count - 1 ? Z_FINISH : Z_NO_FLUSH
        input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(inBuffer.count)
            var status: Int32 = Z_OK
            repeat {
                status = buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    return deflate(&stream, flush)
                }
                output.append(contentsOf: buffer[0..<(buffer.count - Int(stream.avail_out))])
            } while stream.avail_out == 0 || (flush == Z_FINISH && status != Z_STREAM_END)
        }
    }
    return output
}
