import Foundation

/// A blocking socketmap client for tests: sends `name key` netstrings on one connection and returns the
/// reply payloads in order.
public func socketmapQuery(port: Int, name: String = "postfix", keys: [String], timeout: Int = 15) throws -> [String] {
    let fd = try connectTCP(port: port, timeout: timeout)
    defer { close(fd) }
    var request = Data()
    for key in keys {
        let payload = Data("\(name) \(key)".utf8)
        request.append(Data("\(payload.count):".utf8) + payload + Data(",".utf8))
    }
    try sendAll(fd, request)
    var buffer = [UInt8]()
    var replies: [String] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while replies.count < keys.count {
        let n = read(fd, &chunk, chunk.count)
        guard n > 0 else { throw TestbedError(description: "connection closed after \(replies.count) replies") }
        buffer += chunk[0..<n]
        while let colon = buffer.firstIndex(of: UInt8(ascii: ":")), let length = Int(String(decoding: buffer[..<colon], as: UTF8.self)),
              buffer.count >= colon + 1 + length + 1 {
            replies.append(String(decoding: buffer[(colon + 1)..<(colon + 1 + length)], as: UTF8.self))
            buffer.removeFirst(colon + 1 + length + 1)
        }
    }
    return replies
}

/// Connects to host:port (IPv4, default 127.0.0.1) with a receive timeout.
public func connectTCP(host: String = "127.0.0.1", port: Int, timeout: Int = 15) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr(host)
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else {
        close(fd)
        throw TestbedError(description: "cannot connect to \(host):\(port): \(String(cString: strerror(errno)))")
    }
    return fd
}

public func sendAll(_ fd: Int32, _ data: Data) throws {
    try data.withUnsafeBytes { raw in
        var sent = 0
        while sent < raw.count {
            let n = write(fd, raw.baseAddress! + sent, raw.count - sent)
            guard n > 0 else { throw TestbedError(description: "write failed") }
            sent += n
        }
    }
}

/// A TCP port that was free a moment ago.
public func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// The built `mta-sts` binary.
public var mtastsBinary: String {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("mta-sts").path
}

/// Fetches http://host:port/metrics and returns the value of one sample line.
public func metricValue(host: String = "127.0.0.1", port: Int, _ sample: String) throws -> Int? {
    let fd = try connectTCP(host: host, port: port)
    defer { close(fd) }
    try sendAll(fd, Data("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
    var text = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n <= 0 { break }
        text += chunk[0..<n]
    }
    let body = String(decoding: text, as: UTF8.self)
    guard let line = body.split(separator: "\n").first(where: { $0.hasPrefix(sample + " ") }) else { return nil }
    return Int(line.split(separator: " ").last!)
}
