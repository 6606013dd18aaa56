import Foundation
import TestSupport
import Testing

/// The fleet store (a real PostgreSQL of scripts/postgres.sh, this test's own) down when the resolver starts,
/// started later, and restarted under load (issue 14, item 10): the daemon starts anyway, answers from memory and
/// discovery, loads the store and writes back what it fetched meanwhile, and no lookup fails.
@Suite("mta-sts resolver: the PostgreSQL store down and back", .serialized)
struct StoreOutageTests {
    static let script = repositoryRoot.appendingPathComponent("scripts/postgres.sh").path

    /// Runs scripts/postgres.sh; returns its output.
    @discardableResult
    static func postgres(_ command: String, _ dir: String) throws -> String {
        let (status, output) = spawnAndWait(script, [command, dir])
        guard status == 0 else { throw TestbedError(description: "scripts/postgres.sh \(command) failed: \(output)") }
        return output
    }

    /// The domains the store holds (psql, as an operator would look).
    static func storedDomains(_ url: String) -> [String] {
        let (status, output) = spawnAndWait("/usr/bin/psql", [url, "-XAtc", "SELECT domain FROM mta_sts_policies ORDER BY 1"])
        return status == 0 ? output.split(separator: "\n").map(String.init) : []
    }

    @Test("Down at start → the daemon serves anyway; up → loaded and written back; restarted under load → no failed lookup")
    func outage() async throws {
        let world = try Testbed.shared()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-outage-\(UUID().uuidString)").path
        let up = try await offPool { try Self.postgres("up", dir) }
        defer {
            _ = try? Self.postgres("down", dir)
            try? FileManager.default.removeItem(atPath: dir)
        }
        let base = try #require(up.split(separator: "\n").first { $0.hasPrefix("POSTGRES_URL=") }).dropFirst("POSTGRES_URL=".count)
        let url = base + "?connect_timeout=1"
        try await offPool { try Self.postgres("down", dir) }

        // Before: `mta-sts resolver` exited 2, and Postfix deferred all mail until the database was back.
        let daemon = try await offPool {
            try ResolverProcessTests.Daemon(cache: String(url), dnsServer: world.dnsServer, caFile: world.caFile)
        }
        defer { daemon.stop(SIGTERM) }
        let good = "OK secure match=mx1.good.t.test:.mx.good.t.test servername=hostname"
        #expect(try socketmapQuery(port: daemon.port, keys: ["good.t.test"]) == [good])
        #expect(daemon.logText.contains("cannot load the cache store"), "\(daemon.logText)")

        // The database comes up: loaded, and good.t.test (fetched meanwhile) written to it.
        try await offPool { try Self.postgres("start", dir) }
        #expect((try? await offPool { waitUntil(within: 60) { Self.storedDomains(String(url)) == ["good.t.test"] } }) ?? false, "\(daemon.logText)")
        #expect(daemon.logText.contains("the cache store answers again"))

        // Restarted under load: cached lookups on fresh connections (as Postfix opens them) throughout; a domain first
        // seen while the database is down is answered, and written back once it is up again.
        let port = daemon.port
        let tally = Tally()
        let load = Thread {
            while !tally.update({ $0.done }) {
                let reply = (try? socketmapQuery(port: port, keys: ["good.t.test"], timeout: 30))?.first ?? "no answer"
                tally.update {
                    $0.probes += 1
                    if reply != good { $0.probeFailures.append(reply) }
                }
                usleep(10_000)
            }
        }
        load.start()
        let customer = try await offPool { () throws -> [String] in
            try Self.postgres("down", dir)
            let reply = try socketmapQuery(port: port, keys: ["customer.t.test"])
            try Self.postgres("start", dir)
            return reply
        }
        #expect(customer == ["OK secure match=.mx.provider.t.test servername=hostname"])
        #expect((try? await offPool { waitUntil(within: 60) { Self.storedDomains(String(url)) == ["customer.t.test", "good.t.test"] } }) ?? false,
                "\(Self.storedDomains(String(url))): \(daemon.logText)")
        tally.update { $0.done = true }
        while load.isExecuting { usleep(10_000) }
        let outcome = tally.update { $0 }
        #expect(outcome.probes > 0 && outcome.probeFailures.isEmpty, "\(outcome.probes) lookups, failed: \(outcome.probeFailures.prefix(3))")
        #expect((try metricValue(port: daemon.metricsPort, "mtasts_store_errors_total") ?? 0) > 0)
    }
}
