import Foundation
import TestSupport
import Testing

/// A proxy over a scripted upstream (`mta-sts.flaky.host.test` on 127.0.4.3, a tiny HTTPS file server) and a
/// second `mta-sts serve` on 127.0.4.4 proxying it for flakyproxy.host.test. The upstream policy has
/// max_age 6, so "last good copy within its max_age, then 503" happens in seconds.
@Suite("mta-sts serve: proxy with a failing upstream")
struct ProxyUpstreamTests {
    static let upstreamAddr = "127.0.4.3"
    static let proxyAddr = "127.0.4.4"
    static let adminPort = 9462
    static let good = "version: STSv1\r\nmode: enforce\r\nmx: *.mx.flaky.host.test\r\nmax_age: 6\r\n"

    static let server = """
        import http.server, ssl, sys
        path, cert, key, addr = sys.argv[1:5]
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = open(path, 'rb').read()
                self.send_response(200)
                self.send_header('Content-Type', 'text/plain')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *a):
                pass
        s = http.server.ThreadingHTTPServer((addr, 443), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
        s.serve_forever()
        """

    final class Upstream: @unchecked Sendable {
        let process = Process()
        init(script: String, body: String, certs: String) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [script, body, "\(certs)/host-flaky.chain.pem", "\(certs)/host-flaky.key", ProxyUpstreamTests.upstreamAddr]
            try process.run()
            for _ in 0..<250 {
                if let fd = try? connectTCP(host: ProxyUpstreamTests.upstreamAddr, port: 443, timeout: 2) { close(fd); return }
                usleep(20_000)
            }
            throw TestbedError(description: "the scripted upstream did not listen")
        }
        func stop() {
            guard process.isRunning else { return }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    func fetches(_ outcome: String) -> Int {
        (try? metricValue(host: Self.proxyAddr, port: Self.adminPort,
                          "mtasts_upstream_fetches_total{upstream=\"flaky.host.test\",outcome=\"\(outcome)\"}")) ?? nil ?? 0
    }

    @Test("Upstream serves garbage → still the last good copy, never the garbage; down → last good copy, then 503 after its max_age")
    func flakyUpstream() async throws {
        let w = try await HostWorld.shared()
        let body = try temporaryFile(Array(Self.good.utf8))
        let script = try temporaryFile(Array(Self.server.utf8), suffix: ".py")
        let certs = w.certs
        let upstream = LockedValue(try await offPool { try Upstream(script: script, body: body, certs: certs) })
        defer { upstream.withLock { $0 }.stop() }
        let yaml = """
            https: \(Self.proxyAddr):443
            admin: \(Self.proxyAddr):\(Self.adminPort)
            certificate: \(w.certs)/host-flakyproxy.chain.pem
            key: \(w.certs)/host-flakyproxy.key
            dns_servers: \(w.testbed.dnsServer)
            ca_file: \(w.testbed.caFile)
            proxy_retry: 1
            domains:
              flakyproxy.host.test: {proxy: "https://mta-sts.flaky.host.test/.well-known/mta-sts.txt"}
            """
        let proxy = try await offPool { try ServeProcess("flakyproxy", yaml: yaml, ready: (Self.proxyAddr, 443)) }
        defer { proxy.stop() }
        /// What the proxy answers: the body for a 200, "503" otherwise; it must never be anything else.
        let served: @Sendable () throws -> String = {
            let r = try w.curl("mta-sts.flakyproxy.host.test", at: Self.proxyAddr, ["-w", "\n%{http_code}"])
            let code = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
            return code == "200" ? String(r.stdout.dropLast(code.count + 1)) : code
        }
        /// Polls until 503, collecting every answer on the way.
        let answersUntil503: @Sendable () async -> Set<String> = {
            let seen = LockedValue<Set<String>>([])
            _ = await HostWorld.eventually(20) {
                let s = try served()
                seen.withLock { _ = $0.insert(s) }
                return s == "503"
            }
            return seen.withLock { $0 }
        }
        #expect(await HostWorld.eventually { try served() == Self.good })

        // Garbage upstream: each fetch is refused by the core parser; the good copy stays until it expires.
        try Data("<html><body>Service moved</body></html>\n".utf8).write(to: URL(fileURLWithPath: body))
        #expect(await HostWorld.eventually { fetches("policy-invalid") >= 1 })
        var seen = await answersUntil503()
        #expect(seen.isSubset(of: [Self.good, "503"]), "served: \(seen)")
        #expect(seen.contains(Self.good) && seen.contains("503"), "served: \(seen)")

        // Good again, then the upstream goes away: last good copy, then 503.
        try Data(Self.good.utf8).write(to: URL(fileURLWithPath: body))
        #expect(await HostWorld.eventually { try served() == Self.good })
        let errorsBefore = fetches("fetch-error")
        upstream.withLock { $0 }.stop()
        #expect(await HostWorld.eventually { fetches("fetch-error") > errorsBefore })
        seen = await answersUntil503()
        #expect(seen.isSubset(of: [Self.good, "503"]) && seen.contains("503"), "served: \(seen)")
        #expect(await HostWorld.eventually { proxy.logText.contains("nothing valid to serve (503)") })
        // Back up: served again.
        let again = try await offPool { try Upstream(script: script, body: body, certs: certs) }
        upstream.withLock { $0 = again }
        #expect(await HostWorld.eventually { try served() == Self.good })
    }
}
