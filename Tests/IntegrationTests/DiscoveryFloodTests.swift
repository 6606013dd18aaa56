import Foundation
import TestSupport
import Testing

/// A flood of new domains whose policy hosts accept TCP and never speak TLS (issue 14, item 7): the resolver keeps
/// at most `max_discoveries` in flight, answers the rest NOTFOUND at once (never TEMP), and cached domains keep
/// being answered on fresh connections, as Postfix opens them.
@Suite("mta-sts resolver: a flood of new domains", .serialized)
struct DiscoveryFloodTests {
    /// A listener on 127.0.1.20:443 (every `*.tarpit.t.test` policy host) that never accepts: connections complete
    /// in the kernel's backlog and the TLS handshake never gets an answer.
    final class Tarpit {
        let fd: Int32
        init() throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(443).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.1.20")
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard rc == 0, listen(fd, 4096) == 0 else {
                close(fd)
                throw TestbedError(description: "cannot listen on 127.0.1.20:443: \(String(cString: strerror(errno)))")
            }
        }
        deinit { close(fd) }
    }

    static func openFiles(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    @Test("3,000 new tarpit domains over 50 connections: NOTFOUND at once beyond max_discoveries, descriptors bounded, hits answered throughout")
    func tarpitFlood() async throws {
        let world = try Testbed.shared()
        let cap = 100
        let config = try temporaryFile(Array("""
            max_discoveries: \(cap)
            fetch_timeout: 60
            default_zone: {timeout: 1}
            """.utf8), suffix: ".yml")
        let daemon = try ResolverProcessTests.Daemon(cache: "memory", dnsServer: world.dnsServer, caFile: world.caFile, config: config)
        defer { daemon.stop(SIGTERM) }
        let hit = "OK secure match=mx1.good.t.test:.mx.good.t.test servername=hostname"
        #expect(try socketmapQuery(port: daemon.port, keys: ["good.t.test"]) == [hit])
        let tarpit = try Tarpit()
        let pid = daemon.process.processIdentifier
        let baseline = Self.openFiles(pid)

        let port = daemon.port
        let tally = Tally()
        try await offPool {
            let flood = DispatchGroup()
            // 50 connections, one request in flight each (as Postfix's smtp processes ask), 60 new domains each.
            for c in 0..<50 {
                flood.enter()
                Thread {
                    defer { flood.leave() }
                    do {
                        for key in (0..<60).map({ "d\(c * 60 + $0).tarpit.t.test" }) {
                            let reply = try socketmapQuery(port: port, keys: [key], timeout: 30)[0]
                            tally.update { $0.replies[reply, default: 0] += 1 }
                        }
                    } catch {
                        tally.update { $0.errors.append("\(error)") }
                    }
                }.start()
            }
            // Meanwhile: a cached domain on a fresh connection every 20 ms, and the daemon's descriptors.
            let probing = DispatchGroup()
            probing.enter()
            Thread {
                defer { probing.leave() }
                while !tally.update({ $0.done }) {
                    let started = Date()
                    let reply = (try? socketmapQuery(port: port, keys: ["good.t.test"], timeout: 30))?.first ?? "no answer"
                    let took = Date().timeIntervalSince(started)
                    let files = Self.openFiles(pid)
                    tally.update {
                        $0.probes += 1
                        if reply != hit { $0.probeFailures.append(reply) }
                        $0.slowestProbe = max($0.slowestProbe, took)
                        $0.mostFiles = max($0.mostFiles, files)
                    }
                    usleep(20_000)
                }
            }.start()
            flood.wait()
            tally.update { $0.done = true }
            probing.wait()
        }
        let outcome = tally.update { $0 }
        withExtendedLifetime(tarpit) {}
        print("tarpitFlood: replies \(outcome.replies), \(outcome.probes) probes, slowest \(outcome.slowestProbe) s, descriptors \(baseline) → at most \(outcome.mostFiles)")
        #expect(outcome.errors.isEmpty, "\(outcome.errors.prefix(3))")
        #expect(outcome.replies == ["NOTFOUND ": 3000], "never TEMP: \(outcome.replies)")
        #expect(outcome.probes > 0 && outcome.probeFailures.isEmpty, "\(outcome.probeFailures.prefix(3))")
        // A fresh connection with a hit is answered at once; a stuck daemon would take the full flood (or never answer).
        #expect(outcome.slowestProbe < 5, "slowest hit \(outcome.slowestProbe) s")
        // At most one socket per discovery in flight, one per client connection (50 + the probe's), and some slack for
        // DNS and the metrics listener; without the cap every one of the 3,000 tarpit fetches held one.
        #expect(outcome.mostFiles <= baseline + cap + 51 + 150, "descriptors \(baseline) → \(outcome.mostFiles) with max_discoveries \(cap)")
        let capped = try metricValue(port: daemon.metricsPort, "mtasts_discoveries_capped_total") ?? 0
        #expect(capped >= 3000 - cap, "capped \(capped)")
        #expect(daemon.logText.contains("max_discoveries policy lookups in flight"))
    }
}

/// What the flood's threads saw.
struct FloodOutcome: Sendable {
    var replies: [String: Int] = [:]
    var errors: [String] = []
    var probes = 0
    var probeFailures: [String] = []
    var slowestProbe = 0.0
    var mostFiles = 0
    var done = false
}

final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var outcome = FloodOutcome()
    @discardableResult
    func update<R>(_ body: (inout FloodOutcome) -> R) -> R { lock.withLock { body(&outcome) } }
}
