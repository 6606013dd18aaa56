import CZlib

/// gzip (RFC 1952) → bytes, inflated in chunks by the system zlib and stopped at a cap: a report is a few
/// kilobytes, so a stream that expands past the cap is a bomb, rejected before it is expanded (RFC 8460 §5.2
/// mentions ten megabytes as a common receiver limit).
enum Gzip {
    static func isGzip(_ bytes: some Collection<UInt8>) -> Bool { bytes.starts(with: [0x1F, 0x8B]) }

    /// Every member of `bytes` (concatenated members are one stream, RFC 1952 §2.2), or why not.
    static func inflate(_ bytes: [UInt8], maxOutput: Int) -> Result<[UInt8], TLSReportRejection> {
        var stream = z_stream()
        // 16 + 15: a gzip wrapper (not zlib, not raw deflate), the largest window.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return .failure(TLSReportRejection("gzip: zlib could not start"))
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var input = bytes
        return input.withUnsafeMutableBufferPointer { inBuffer -> Result<[UInt8], TLSReportRejection> in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = UInt32(inBuffer.count)
            while true {
                let status = chunk.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                if output.count + produced > maxOutput {
                    return .failure(TLSReportRejection("gzip: decompresses to more than \(maxOutput) bytes (a gzip bomb or not a report)"))
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    // Another member follows when the next bytes are a gzip header; anything else after the end is
                    // padding some senders leave (zeros), ignored.
                    let rest = UnsafeBufferPointer(start: stream.next_in, count: Int(stream.avail_in))
                    guard isGzip(rest) else { return .success(output) }
                    inflateReset(&stream)
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    return .failure(TLSReportRejection("gzip: truncated (the data ends before the end of the stream)"))
                default:
                    let why = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    return .failure(TLSReportRejection("gzip: corrupt data (\(why))"))
                }
            }
        }
    }
}
