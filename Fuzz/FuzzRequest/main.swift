// libFuzzer harness for the policy host's request-head scanner (untrusted bytes straight from the network).
//
// Compiled by scripts/fuzz.sh together with Sources/MTASTSPolicyHost/RequestHeadScanner.swift (pure, no
// imports) into one module. Every check is an `invariant` (a `precondition` that keeps its message in -O).
//
// The input is scanned as a stream of pipelined requests twice: all at once, and in chunks (as reads
// arrive; the chunk size comes from the first byte). Both must agree, and every head must be well formed.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let chunk = 1 + Int(input.first ?? 0) % 97
    let whole = scanAll(input, chunk: input.count + 1)
    let pieces = scanAll(input, chunk: chunk)
    invariant(whole.heads == pieces.heads, "heads differ when read in chunks of \(chunk)")
    switch (whole.end, pieces.end) {
    case (.needMore, .needMore): break
    // Which limit trips first may depend on where reads end (empty lines before an overlong request line).
    case (.reject(let a), .reject(let b)): invariant(a == b || Set([a, b]).isSubset(of: [414, 431]), "reject \(a) vs \(b)")
    default: invariant(false, "end \(whole.end) vs \(pieces.end) in chunks of \(chunk)")
    }
    return 0
}

/// Every head in `input`, fed to the scanner `chunk` bytes at a time, and how the stream ends.
private func scanAll(_ input: [UInt8], chunk: Int) -> (heads: [RequestHead], end: RequestHeadScanner.Outcome) {
    var scanner = RequestHeadScanner()
    var heads: [RequestHead] = []
    var start = 0, available = 0
    while true {
        available = min(input.count, max(available, start) + chunk)
        let outcome = input[start..<available].withUnsafeBytes { scanner.scan($0) }
        switch outcome {
        case .head(let head, let length):
            check(head, Array(input[start..<start + length]))
            heads.append(head)
            start += length
        case .reject(let status):
            invariant([400, 414, 431].contains(status), "status \(status)")
            return (heads, outcome)
        case .needMore:
            invariant(available - start <= RequestHeadScanner.maxHeadLength, "needMore past the head limit")
            if available == input.count { return (heads, outcome) }
        }
    }
}

private func check(_ head: RequestHead, _ bytes: [UInt8]) {
    invariant(bytes.count <= RequestHeadScanner.maxHeadLength, "head of \(bytes.count) bytes")
    invariant(bytes.suffix(4) == [13, 10, 13, 10], "a head ends in CRLF CRLF")
    invariant(!head.method.isEmpty && !head.target.isEmpty, "empty method or target")
    invariant(head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target with spaces, controls or non-ASCII")
    invariant(head.method.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "method with spaces, controls or non-ASCII")
    invariant(head.hosts.count <= RequestHeadScanner.maxFieldCount, "more Hosts than fields")
    invariant(head.hosts.allSatisfy { !$0.utf8.contains(13) && !$0.utf8.contains(10) && !$0.utf8.contains(0) }, "CR, LF or NUL in a Host")
    let text = String(decoding: bytes, as: UTF8.self)
    invariant(text.contains(" HTTP/1.1\r\n") || text.contains(" HTTP/1.0\r\n"), "no version")
}

private func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("invariant violated: \(message())") }
}
