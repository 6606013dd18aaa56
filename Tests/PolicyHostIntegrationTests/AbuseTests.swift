import Foundation
import TestSupport
import Testing

/// Hostile and careless clients against the running host: it stays a policy host, never a proxy, and
/// keeps serving (checklist L107; the open-proxy and slowloris rows of issue #5).
@Suite("mta-sts serve: abuse", .serialized)
struct AbuseTests {
    @Test("Unknown Host, paths outside the policy path, other methods: 404/405, never a redirect")
    func routing() async throws {
        let w = try await HostWorld.shared()
        #expect(try w.status("mta-sts.static.host.test", ["-H", "Host: mta-sts.unknown.example"]) == 404)
        for path in ["/", "/index.html", "/.well-known/", "/.well-known/mta-sts.txt/", "/.well-known/MTA-STS.TXT", "/../etc/passwd"] {
            #expect(try w.status("mta-sts.static.host.test", path: path, ["--path-as-is"]) == 404, "\(path)")
        }
        let post = try w.curl("mta-sts.static.host.test", ["-X", "POST", "-d", "x", "-D", "-", "-o", "/dev/null"])
        #expect(post.stdout.hasPrefix("HTTP/1.1 405 ") && post.stdout.contains("Allow: GET, HEAD"))
    }

    @Test("Never an open proxy: absolute-form targets, CONNECT and use as an HTTP proxy get 400")
    func notAProxy() async throws {
        let w = try await HostWorld.shared()
        #expect(try w.status("mta-sts.static.host.test", ["--request-target", "http://example.com/"]) == 400)
        #expect(try w.status("mta-sts.static.host.test", ["--request-target", "https://mta-sts.static.host.test/.well-known/mta-sts.txt"]) == 400)
        #expect(try w.status("mta-sts.static.host.test", ["-X", "CONNECT", "--request-target", "example.com:443"]) == 400)
        // curl using the plain listener as its HTTP proxy sends absolute-form requests.
        let viaProxy = try runProgram("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                                                         "-x", "http://\(HostWorld.hostAddr):80", "http://example.com/"])
        #expect(viaProxy.stdout == "400")
        let tunnel = try runProgram("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_connect}", "--max-time", "5", "-p",
                                                       "-x", "http://\(HostWorld.hostAddr):80", "https://example.com/"])
        #expect(tunnel.stdout == "400")
    }

    @Test("Huge request headers: 431 (414 for the request line) and the connection closed")
    func hugeHeaders() async throws {
        let w = try await HostWorld.shared()
        #expect(try w.status("mta-sts.static.host.test", ["-H", "X-Big: " + String(repeating: "a", count: 20_000)]) == 431)
        #expect(try w.status("mta-sts.static.host.test", ["--request-target", "/" + String(repeating: "a", count: 9000)]) == 414)
        let many = (0..<100).flatMap { ["-H", "X-\($0): v"] }
        #expect(try w.status("mta-sts.static.host.test", many) == 431)
        #expect(try w.status("mta-sts.static.host.test") == 200)
    }

    @Test("Slow clients (slowloris) and silent TLS connections are closed after the request timeout")
    func slowloris() async throws {
        let (slowClosed, silentClosed) = try await offPool { () throws -> (Bool, Bool) in
            // Plain HTTP: a request head that never ends, one header line at a time.
            let fd = try connectTCP(host: HostWorld.hostAddr, port: 80, timeout: 20)
            defer { close(fd) }
            try sendAll(fd, Data("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.static.host.test\r\n".utf8))
            var closed = false
            for i in 0..<60 {
                usleep(250_000)
                // The send fails (EPIPE/ECONNRESET, no SIGPIPE) once the server has closed; a read then returns 0 or an error.
                let line = Array("X-\(i): slow\r\n".utf8)
                if send(fd, line, line.count, Int32(MSG_NOSIGNAL)) <= 0 { closed = true; break }
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 0) > 0 {
                    var b = [UInt8](repeating: 0, count: 512)
                    if read(fd, &b, b.count) <= 0 { closed = true; break }
                }
            }
            // TLS: connect and say nothing.
            let silent = try connectTCP(host: HostWorld.hostAddr, port: 443, timeout: 20)
            defer { close(silent) }
            var b = [UInt8](repeating: 0, count: 16)
            return (closed, read(silent, &b, b.count) <= 0)
        }
        #expect(slowClosed)
        #expect(silentClosed)
    }

    @Test("2000 idle connections do not stop service")
    func idleConnections() async throws {
        let w = try await HostWorld.shared()
        let (opened, fetched, second) = try await offPool { () throws -> (Int, CommandRun, Int) in
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            limit.rlim_cur = limit.rlim_max
            setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            var fds: [Int32] = []
            defer { fds.forEach { close($0) } }
            for i in 0..<2000 {
                fds.append(try connectTCP(host: HostWorld.hostAddr, port: i % 2 == 0 ? 443 : 80, timeout: 20))
            }
            return (fds.count, try w.curl("mta-sts.static.host.test"), try w.status("mta-sts.file.host.test"))
        }
        #expect(opened == 2000)
        #expect(fetched.status == 0 && fetched.stdout.hasPrefix("version: STSv1"), "\(fetched.stderr)")
        #expect(second == 200)
    }
}
