import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import PostfixSocketmap

/// Keys starting with "slow" take a while; "echo" answers with the key; everything else at once.
struct TestResponder: SocketmapResponder {
    func immediateReply(to request: SocketmapRequest) -> ByteBuffer? {
        request.key.hasPrefix("slow") ? nil : SocketmapReply.ok("\(request.name) \(request.key)").frame
    }

    func reply(to request: SocketmapRequest) async -> ByteBuffer {
        try? await Task.sleep(for: .milliseconds(100))
        return SocketmapReply.ok("late \(request.key)").frame
    }
}

/// Answers line requests with `line NAME KEY`; "none" gets no answer.
struct LineResponder: SocketmapResponder {
    func immediateReply(to request: SocketmapRequest) -> ByteBuffer? { SocketmapReply.ok("net \(request.key)").frame }
    func reply(to request: SocketmapRequest) async -> ByteBuffer { SocketmapReply.notFound.frame }
    func lineReply(to request: SocketmapRequest) async -> ByteBuffer? {
        request.key == "none" ? nil : ByteBuffer(string: "line \(request.name) \(request.key)\n")
    }
}

@Suite("Socketmap server over real sockets")
struct ServerTests {
    /// Runs `body` with a fresh blocking client socket connected to `address`, on a dispatch thread: on the
    /// cooperative pool the blocking I/O could starve the server's own reply tasks. Reads time out after 20 s
    /// (generous: a loaded test machine may delay the slow replies).
    func withClient<T: Sendable>(_ address: SocketAddress, _ body: @escaping @Sendable (Int32) -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                let fd = socket(address.protocol.rawValue, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                var tv = timeval(tv_sec: 20, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                guard address.withSockAddr({ connect(fd, $0, socklen_t($1)) }) == 0 else {
                    continuation.resume(throwing: POSIXError(.ECONNREFUSED))
                    return
                }
                continuation.resume(returning: body(fd))
            }
        }
    }

    /// Sends bytes and reads until `count` replies arrived or EOF.
    func exchange(_ address: SocketAddress, _ send: String, expect count: Int) async throws -> (String, closed: Bool) {
        try await withClient(address) { fd in
            _ = send.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
            var received = ""
            var buf = [UInt8](repeating: 0, count: 4096)
            while received.filter({ $0 == "," }).count < count {
                let n = read(fd, &buf, buf.count)
                if n <= 0 { return (received, true) }
                received += String(decoding: buf[0..<n], as: UTF8.self)
            }
            return (received, false)
        }
    }

    /// Sends `chunks` one by one (a pause between them), optionally half-closes, then reads until EOF (or the read
    /// timeout: still open).
    func session(_ address: SocketAddress, _ chunks: [String], halfClose: Bool) async throws -> (String, closed: Bool) {
        try await withClient(address) { fd in
            for chunk in chunks {
                _ = chunk.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
                usleep(2_000)
            }
            if halfClose { shutdown(fd, Int32(SHUT_WR)) }
            var received = ""
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &buf, buf.count)
                if n == 0 { return (received, true) }
                if n < 0 { return (received, false) }  // timeout: still open
                received += String(decoding: buf[0..<n], as: UTF8.self)
            }
        }
    }

    func start(_ endpoint: SocketmapServer.Endpoint = .tcp(host: "127.0.0.1", port: 0),
               idleTimeout: TimeAmount = .seconds(300)) async throws -> any Channel {
        try await SocketmapServer(.init(endpoint: endpoint, idleTimeout: idleTimeout), responder: TestResponder()).bind()
    }

    @Test("[::]:PORT listens beside 0.0.0.0:PORT (IPV6_V6ONLY): both families answered, each by its own socket")
    func ipv6Only() async throws {
        let v4 = try await start(.tcp(host: "0.0.0.0", port: 0))
        defer { v4.close(promise: nil) }
        let port = v4.localAddress!.port!
        // Dual-stack (Linux's default) would fail here with "Address already in use".
        let v6 = try await start(.tcp(host: "::", port: port))
        defer { v6.close(promise: nil) }
        for host in ["127.0.0.1", "::1"] {
            let (reply, _) = try await exchange(try SocketAddress(ipAddress: host, port: port), "12:postfix ab.c,", expect: 1)
            #expect(reply == "15:OK postfix ab.c,", "\(host)")
        }
    }

    @Test("Line mode: a first letter starts one `name key` request ended by LF, CRLF or the end of input; one line back, then closed")
    func lineMode() async throws {
        let channel = try await SocketmapServer(.init(endpoint: .tcp(host: "127.0.0.1", port: 0)), responder: LineResponder()).bind()
        defer { channel.close(promise: nil) }
        let address = channel.localAddress!
        // Bytes after the request are ignored; the answer comes and the connection closes without a half-close.
        #expect(try await session(address, ["exim a.example\nexim b.example\n"], halfClose: false) == ("line exim a.example\n", true))
        #expect(try await session(address, ["exim A.example\r\n"], halfClose: false) == ("line exim A.example\n", true))
        // Exim's readsocket half-closes after the request: the end of input ends it (split across reads here).
        #expect(try await session(address, ["exim c.", "example"], halfClose: true) == ("line exim c.example\n", true))
        // The netstring framing is chosen by its first digit, as before.
        #expect(try await exchange(address, "12:postfix ab.c,", expect: 1).0 == "11:OK net ab.c,")
    }

    @Test("Line mode limits: over 1024 bytes, no space, a first byte neither digit nor letter, or no answer → closed, nothing sent")
    func lineModeLimits() async throws {
        let channel = try await SocketmapServer(.init(endpoint: .tcp(host: "127.0.0.1", port: 0)), responder: LineResponder()).bind()
        defer { channel.close(promise: nil) }
        let address = channel.localAddress!
        #expect(try await session(address, ["exim " + String(repeating: "a", count: 1100)], halfClose: false) == ("", true))
        #expect(try await session(address, ["exim " + String(repeating: "a", count: 1100) + "\n"], halfClose: false) == ("", true))
        #expect(try await session(address, ["eximexample\n"], halfClose: false) == ("", true))
        #expect(try await session(address, ["!exim a.example\n"], halfClose: false) == ("", true))
        #expect(try await session(address, ["exim none\n"], halfClose: false) == ("", true))
        // A responder without a line mode (the default) closes at once too.
        let plain = try await start()
        defer { plain.close(promise: nil) }
        #expect(try await session(plain.localAddress!, ["exim a.example\n"], halfClose: false) == ("", true))
    }

    @Test("Requests split across reads (byte by byte) are answered; a half-close after the last one closes after the replies")
    func splitAndHalfClose() async throws {
        let server = try await start()
        defer { server.close(promise: nil) }
        let bytes = "9:postfix a,12:postfix slow,9:postfix b,".map(String.init)
        let (reply, closed) = try await session(server.localAddress!, bytes, halfClose: true)
        #expect(reply == "12:OK postfix a,12:OK late slow,12:OK postfix b," && closed)
    }

    @Test("A half-close inside an unfinished request: the complete ones are answered, then the connection is closed")
    func truncatedAtHalfClose() async throws {
        let server = try await start()
        defer { server.close(promise: nil) }
        let (reply, closed) = try await session(server.localAddress!, ["9:postfix a,12:postf"], halfClose: true)
        #expect(reply == "12:OK postfix a," && closed)
    }

    @Test("An idle connection is closed after the idle timeout, but not while a reply is still being computed")
    func idleTimeout() async throws {
        let server = try await start(idleTimeout: .milliseconds(40))
        defer { server.close(promise: nil) }
        let (nothing, idleClosed) = try await session(server.localAddress!, [], halfClose: false)
        #expect(nothing.isEmpty && idleClosed, "closed by the server, not by the client's read timeout")
        // The slow reply takes 100 ms, longer than the idle timeout: it still arrives, then the idle close follows.
        let (reply, closed) = try await session(server.localAddress!, ["12:postfix slow,"], halfClose: false)
        #expect(reply == "12:OK late slow," && closed)
    }

    @Test("A connection used more often than its idle timeout stays open")
    func busyStaysOpen() async throws {
        let server = try await start(idleTimeout: .milliseconds(150))
        defer { server.close(promise: nil) }
        let answers = try await withClient(server.localAddress!) { fd in
            // A request every 75 ms for 600 ms (4× the idle timeout): each must be answered on this connection.
            var answers: [String] = []
            var buf = [UInt8](repeating: 0, count: 256)
            for i in 0..<8 {
                let request = "9:postfix \(i),"
                _ = request.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
                let n = read(fd, &buf, buf.count)
                answers.append(n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "closed")
                usleep(75_000)
            }
            return answers
        }
        #expect(answers == (0..<8).map { "12:OK postfix \($0)," })
    }

    @Test("Pipelined requests are answered in order, even when the first is slow")
    func pipelining() async throws {
        let server = try await start()
        defer { server.close(promise: nil) }
        let (reply, _) = try await exchange(server.localAddress!, "12:postfix slow,7:postfix,9:postfix a,", expect: 3)
        #expect(reply == "12:OK late slow,9:NOTFOUND ,12:OK postfix a,")
    }

    @Test("A malformed netstring closes that connection only")
    func garbageClient() async throws {
        let server = try await start()
        defer { server.close(promise: nil) }
        let (reply, closed) = try await exchange(server.localAddress!, "9:postfix a,xyz:garbage", expect: 2)
        #expect(reply == "12:OK postfix a," && closed)
        let (good, _) = try await exchange(server.localAddress!, "9:postfix b,", expect: 1)
        #expect(good == "12:OK postfix b,")
    }

    @Test("A request without a space is NOTFOUND, and an oversized one closes the connection")
    func oddRequests() async throws {
        let server = try await start()
        defer { server.close(promise: nil) }
        #expect(try await exchange(server.localAddress!, "7:nospace,", expect: 1).0 == "9:NOTFOUND ,")
        let (_, closed) = try await exchange(server.localAddress!, "20000:" + String(repeating: "a", count: 100), expect: 1)
        #expect(closed)
    }

    @Test("UNIX socket with a mode")
    func unixSocket() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sm-\(UUID().uuidString.prefix(8)).sock").path
        let server = try await start(.unix(path: path, mode: 0o660, owner: nil, group: nil))
        defer { server.close(promise: nil) }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o660)
        #expect(try await exchange(try SocketAddress(unixDomainSocketPath: path), "9:postfix u,", expect: 1).0 == "12:OK postfix u,")
    }
}
