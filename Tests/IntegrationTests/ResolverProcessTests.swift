import Foundation
import TestSupport
import Testing

/// `mta-sts resolver` as a real process against the test world: replies, coalescing, a garbage client,
/// `kill -9` and restart, SIGTERM.
@Suite("mta-sts resolver process", .serialized)
struct ResolverProcessTests {
    final class Daemon: @unchecked Sendable {
        let process = Process()
        let port = freePort()
        let metricsPort = freePort()
        let log: URL

        init(cache: String, dnsServer: String, caFile: String, config: String? = nil, extra: [String] = []) throws {
            log = FileManager.default.temporaryDirectory.appendingPathComponent("resolver-\(UUID().uuidString).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: mtastsBinary)
            process.arguments = ["resolver", "--listen", "127.0.0.1:\(port)", "--cache", cache, "--dns-server", dnsServer,
                                 "--ca-file", caFile, "--metrics", "127.0.0.1:\(metricsPort)", "--log-level", "info"]
                + (config.map { ["--config", $0] } ?? []) + extra
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            // Both listeners start concurrently: wait for the socketmap and the metrics port.
            var waiting = [port, metricsPort]
            for _ in 0..<200 {
                waiting.removeAll { p in (try? connectTCP(port: p)).map { close($0); return true } ?? false }
                if waiting.isEmpty { return }
                usleep(20_000)
            }
            throw TestbedError(description: "the resolver did not listen: \(logText)")
        }

        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        func stop(_ signal: Int32 = SIGKILL) {
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
        }
    }

    static func cachePath() -> String {
        "sqlite:" + FileManager.default.temporaryDirectory.appendingPathComponent("resolver-\(UUID().uuidString).sqlite").path
    }

    @Test("Replies for enforce, delegated, testing, none and absent policies (C46, C67, C68); next hops (C14), parent probes (C15), literals (C16)")
    func replies() throws {
        let world = try Testbed.shared()
        let daemon = try Daemon(cache: Self.cachePath(), dnsServer: world.dnsServer, caFile: world.caFile)
        defer { daemon.stop(SIGTERM) }
        let replies = try socketmapQuery(port: daemon.port, keys: [
            "good.t.test", "customer.t.test", "chain.t.test", "split.t.test", "none.t.test", ".t.test", "[127.0.0.1]:25",
            "[good.t.test]:587", "Good.T.Test.", "notfound.t.test",
        ])
        #expect(replies == [
            "OK secure match=mx1.good.t.test:.mx.good.t.test servername=hostname",
            "OK secure match=.mx.provider.t.test servername=hostname",
            "NOTFOUND ", "NOTFOUND ", "NOTFOUND ", "NOTFOUND ", "NOTFOUND ",
            "OK secure match=mx1.good.t.test:.mx.good.t.test servername=hostname",
            "OK secure match=mx1.good.t.test:.mx.good.t.test servername=hostname",
            "NOTFOUND ",
        ])
        #expect(daemon.logText.contains("policy fetch failed") && daemon.logText.contains("notfound.t.test"))
    }

    @Test("G71 DANE precedence against signed zones (dnssec validate): dane-only, TEMP for tampered MX or TLSA, MTA-STS otherwise")
    func danePrecedence() throws {
        let world = try Testbed.shared()
        let daemon = try Daemon(cache: "memory", dnsServer: world.dnsServer, caFile: world.caFile,
                                extra: ["--dns-trust-anchor", world.trustAnchor])
        defer { daemon.stop(SIGTERM) }
        let keys = ["ok.dane.test", "mixed.dane.test", "plain.dane.test", "unusable.dane.test", "badtlsa.dane.test", "badmx.dane.test",
                    "good.t.test"]
        let replies = try socketmapQuery(port: daemon.port, keys: keys)
        let secure = "OK secure match=.dane.test servername=hostname"
        #expect(Array(replies.prefix(4)) == ["OK dane-only", "OK dane-only", secure, secure])
        #expect(replies[4].hasPrefix("TEMP DANE cannot be evaluated for badtlsa.dane.test: the TLSA lookup for _25._tcp.bogus-mx.dane.test failed (DNSSEC bogus"))
        #expect(replies[5].hasPrefix("TEMP DANE cannot be evaluated for badmx.dane.test: the MX RRset of badmx.dane.test is DNSSEC-bogus"))
        #expect(replies[6] == "OK secure match=mx1.good.t.test:.mx.good.t.test servername=hostname", "unsigned: MTA-STS as before")
        // Hits answer the same from memory.
        #expect(try socketmapQuery(port: daemon.port, keys: keys) == replies)
        #expect(try metricValue(port: daemon.metricsPort, "mtasts_dane_lookups_total{regime=\"dane\"}") == 2)
        #expect(try metricValue(port: daemon.metricsPort, "mtasts_dane_lookups_total{regime=\"deferred\"}") == 2)
        #expect(try metricValue(port: daemon.metricsPort, "mtasts_dane_lookups_total{regime=\"mta-sts\"}") == 3)
        #expect(try metricValue(port: daemon.metricsPort, "mtasts_replies_total{reply=\"dane\"}") == 4)
        #expect(try metricValue(port: daemon.metricsPort, "mtasts_replies_total{reply=\"temp\"}") == 4)
        let log = daemon.logText
        #expect(log.contains("DNSSEC validate: trust anchor for"))
        #expect(log.contains("DANE applies") && log.contains("ok.dane.test"))
        #expect(log.contains("DANE cannot be evaluated") && log.contains("badmx.dane.test"))
    }

    @Test("dnssec trust-ad believes only the AD bit: an authoritative-only server sets none, so MTA-STS applies (and the log says so); off asks nothing")
    func trustADWithoutValidator() throws {
        let world = try Testbed.shared()
        for mode in ["trust-ad", "off"] {
            let daemon = try Daemon(cache: "memory", dnsServer: world.dnsServer, caFile: world.caFile, extra: ["--dnssec", mode])
            defer { daemon.stop(SIGTERM) }
            #expect(try socketmapQuery(port: daemon.port, keys: ["ok.dane.test"]) == ["OK secure match=.dane.test servername=hostname"])
            let lookups = try metricValue(port: daemon.metricsPort, "mtasts_dane_lookups_total{regime=\"mta-sts\"}")
            if mode == "trust-ad" {
                #expect(lookups == 1)
                #expect(daemon.logText.contains("DNSSEC trust-ad: the resolver did not set the AD bit for the root DNSKEY (REFUSED)"))
            } else {
                #expect(lookups == 0)
                #expect(daemon.logText.contains("DNSSEC off"))
            }
        }
    }

    @Test("20 concurrent first lookups of one domain cause one policy fetch")
    func coalescing() throws {
        let world = try Testbed.shared()
        let daemon = try Daemon(cache: "memory", dnsServer: world.dnsServer, caFile: world.caFile)
        defer { daemon.stop(SIGTERM) }
        let before = try metricValue(port: daemon.metricsPort, "mtasts_policy_fetches_total{outcome=\"valid\"}")
        #expect(before == 0)
        let replies = LockedReplies()
        DispatchQueue.concurrentPerform(iterations: 20) { _ in
            replies.add((try? socketmapQuery(port: daemon.port, keys: ["mixed.t.test"]))?.first ?? "error")
        }
        #expect(replies.all.count == 20)
        #expect(replies.all.allSatisfy { $0.hasPrefix("OK secure match=") })
        #expect(try metricValue(port: daemon.metricsPort, "mtasts_policy_fetches_total{outcome=\"valid\"}") == 1)
    }

    @Test("A garbage client is dropped; an HTTP request is a line query for no domain; others are served")
    func garbage() throws {
        let world = try Testbed.shared()
        let daemon = try Daemon(cache: "memory", dnsServer: world.dnsServer, caFile: world.caFile)
        defer { daemon.stop(SIGTERM) }
        // A TLS ClientHello: neither a netstring (digit) nor a line query (letter): closed without a byte.
        let fd = try connectTCP(port: daemon.port, timeout: 5)
        try sendAll(fd, Data([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]))
        var byte: UInt8 = 0
        #expect(read(fd, &byte, 1) == 0, "the connection is closed")
        close(fd)
        // Letters first: the line mode reads `GET` as the zone and "/ HTTP/1.0" as a key that names no domain.
        let http = try connectTCP(port: daemon.port, timeout: 5)
        defer { close(http) }
        try sendAll(http, Data("GET / HTTP/1.0\r\n\r\n".utf8))
        var reply = [UInt8](repeating: 0, count: 256)
        var got: [UInt8] = []
        while true {
            let n = read(http, &reply, reply.count)
            if n <= 0 { break }
            got += reply[0..<n]
        }
        #expect(String(decoding: got, as: UTF8.self) == "mode=none\n")
        #expect(try socketmapQuery(port: daemon.port, keys: [".x"]) == ["NOTFOUND "])
    }

    @Test("C47 kill -9 under load, restart with DNS dead: every cached policy is there and enforced at once")
    func killAndRestart() throws {
        let world = try Testbed.shared()
        let cache = Self.cachePath()
        let domains = ["good.t.test", "customer.t.test", "mixed.t.test", "ctparam.t.test", "cachectl.t.test"]
        let first = try Daemon(cache: cache, dnsServer: world.dnsServer, caFile: world.caFile)
        let answers = try socketmapQuery(port: first.port, keys: domains)
        #expect(answers.allSatisfy { $0.hasPrefix("OK secure") || $0 == "NOTFOUND " })
        // Load from another thread while the process is killed.
        let stop = LockedFlag()
        let load = Thread {
            while !stop.isSet { _ = try? socketmapQuery(port: first.port, keys: domains, timeout: 1) }
        }
        load.start()
        usleep(200_000)
        first.stop(SIGKILL)
        stop.set()
        // The restarted daemon cannot reach any DNS server: its answers can only come from the store.
        let second = try Daemon(cache: cache, dnsServer: world.deadDNSServer, caFile: world.caFile)
        defer { second.stop(SIGTERM) }
        #expect(try socketmapQuery(port: second.port, keys: domains, timeout: 2) == answers)
        #expect(try metricValue(port: second.metricsPort, "mtasts_lookups_total{path=\"hit\"}") == domains.count)
    }

    @Test("SIGHUP reloads the zones from the configuration file without a restart")
    func sighup() throws {
        let world = try Testbed.shared()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("resolver-\(UUID().uuidString).yml").path
        try "zones:\n  reporting:\n    tlsrpt: false\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Daemon(cache: "memory", dnsServer: world.dnsServer, caFile: world.caFile, config: config)
        defer { daemon.stop(SIGTERM) }
        let before = try socketmapQuery(port: daemon.port, name: "reporting", keys: ["good.t.test"])
        #expect(before == ["OK secure match=mx1.good.t.test:.mx.good.t.test servername=hostname"])
        try "zones:\n  reporting:\n    tlsrpt: true\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        var after: [String] = []
        for _ in 0..<100 {
            after = try socketmapQuery(port: daemon.port, name: "reporting", keys: ["good.t.test"])
            if after.first?.contains("policy_type=sts") == true { break }
            usleep(20_000)
        }
        #expect(after.first?.hasPrefix("OK secure match=mx1.good.t.test:.mx.good.t.test servername=hostname policy_type=sts policy_domain=good.t.test policy_ttl=") == true, "\(after)")
        #expect(after.first?.contains(" mx_host_pattern=mx1.good.t.test mx_host_pattern=*.mx.good.t.test { policy_string = version: STSv1 }") == true, "\(after)")
        // The default zone is untouched.
        #expect(try socketmapQuery(port: daemon.port, keys: ["good.t.test"]) == before)
        #expect(daemon.logText.contains("configuration reloaded"))
    }

    @Test("SIGTERM stops the daemon cleanly")
    func sigterm() throws {
        let world = try Testbed.shared()
        let daemon = try Daemon(cache: "memory", dnsServer: world.dnsServer, caFile: world.caFile)
        daemon.stop(SIGTERM)
        #expect(daemon.process.terminationReason == .exit)
        #expect(daemon.process.terminationStatus == 0)
        #expect(daemon.logText.contains("shutting down"))
    }
}

final class LockedReplies: @unchecked Sendable {
    private let lock = NSLock()
    private var replies: [String] = []
    func add(_ r: String) { lock.withLock { replies.append(r) } }
    var all: [String] { lock.withLock { replies } }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
