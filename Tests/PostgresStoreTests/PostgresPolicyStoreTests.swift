import Foundation
import Logging
import MTASTSCore
import MTASTSDiscovery
import MTASTSResolverDaemon
import MTASTSRuntime
@testable import MTASTSStorePostgres
import TestSupport
import Testing

func entry(_ domain: String, mode: String = "enforce", id: String = "id1", lastUsed: Double = 1_700_000_100) throws -> CachedPolicy {
    let body = Array("version: STSv1\r\nmode: \(mode)\r\nmx: *.mx.example.net\r\nmax_age: 86400\r\n".utf8)
    var e = CachedPolicy(domain: try DomainName(domain), id: id, policy: STSPolicy.parse(body).policy!, body: body,
                         fetchedAt: 1_700_000_000, lastUsed: lastUsed)
    e.failedID = "idX"
    e.failedAt = 1_700_000_050
    return e
}

/// The SQLite store's contract (Tests/StoreTests), on a real PostgreSQL, plus what a shared fleet store adds.
@Suite("PostgreSQL policy store")
struct PostgresPolicyStoreTests {
    @Test("Entries round-trip exactly, upserts replace, deletes remove")
    func roundTrip() async throws {
        try await withStores(try await PostgresServer.freshURL()) { stores in
            let store = stores[0]
            let a = try entry("a.example"), b = try entry("b.example", mode: "testing")
            try await store.save(a)
            try await store.save(b)
            #expect(Set(try await store.loadAll()) == [a, b])
            var a2 = try entry("a.example", mode: "none", id: "id2")
            a2.failedID = nil
            a2.failedAt = nil
            try await store.save(a2)
            #expect(try await store.load(try DomainName("a.example")) == a2)
            #expect(try await store.load(try DomainName("nothing.example")) == nil)
            try await store.saveUsage([(a2.domain, 1_800_000_000)])
            #expect(try await store.load(a2.domain)?.lastUsed == 1_800_000_000)
            try await store.delete(a2.domain)
            #expect(try await store.loadAll() == [b])
        }
    }

    @Test("Loading streams the rows in batches of the size asked for, every row exactly once")
    func batches() async throws {
        try await withStores(try await PostgresServer.freshURL()) { stores in
            let store = stores[0]
            for i in 0..<25 {
                let e = try entry("d\(i).example")
                try await store.save(e)
                try await store.saveDANEStatus(StoredDANEStatus(domain: e.domain, regime: .mtaSTS, reason: "r", storedAt: 1, expiresAt: 2))
            }
            let policies = try await collectBatches { try await store.loadAll(batchSize: 10, $0) }
            #expect(policies.sizes == [10, 10, 5] && Set(policies.items.map(\.domain)).count == 25)
            #expect(try await collectBatches { try await store.loadDANEStatuses(batchSize: 12, $0) }.sizes == [12, 12, 1])
        }
    }

    @Test("DANE statuses round-trip, upserts replace, purging the domain removes its status")
    func daneStatuses() async throws {
        try await withStores(try await PostgresServer.freshURL()) { stores in
            let store = stores[0]
            let a = try entry("a.example")
            try await store.save(a)
            let first = StoredDANEStatus(domain: a.domain, regime: .dane, reason: "usable TLSA", storedAt: 1_700_000_000, expiresAt: 1_700_000_300)
            try await store.saveDANEStatus(first)
            #expect(try await store.loadDANEStatuses() == [first])
            var second = first
            second.regime = .deferred
            second.reason = "SERVFAIL"
            try await store.saveDANEStatus(second)
            #expect(try await store.loadDANEStatuses() == [second])
            try await store.delete(a.domain)
            #expect(try await store.loadDANEStatuses().isEmpty)
        }
    }

    @Test("Usage times: one batch for many domains, unknown ones skipped, and they only move forward (the fleet's latest use)")
    func usage() async throws {
        try await withStores(try await PostgresServer.freshURL()) { stores in
            let store = stores[0]
            for d in ["a.example", "b.example", "c.example"] { try await store.save(try entry(d)) }
            let (a, b, c, gone) = (try DomainName("a.example"), try DomainName("b.example"), try DomainName("c.example"),
                                   try DomainName("gone.example"))
            try await store.saveUsage([(a, 1_700_000_500), (b, 1_700_000_600), (gone, 1_700_000_700), (a, 1_700_000_400)])
            #expect(try await store.load(a)?.lastUsed == 1_700_000_500)
            #expect(try await store.load(b)?.lastUsed == 1_700_000_600)
            #expect(try await store.load(c)?.lastUsed == 1_700_000_100)
            #expect(try await store.load(gone) == nil)
            // Another host that last used `a` earlier does not move it back, by usage or by a refresh.
            try await store.saveUsage([(a, 1_700_000_200)])
            try await store.save(try entry("a.example", id: "id2", lastUsed: 1_700_000_300))
            let a2 = try await store.load(a)
            #expect(a2?.lastUsed == 1_700_000_500)
            #expect(a2?.id == "id2")
            try await store.saveUsage([])
        }
    }

    @Test("Another store's writes are seen, and change the external counter; our own do not")
    func externalChanges() async throws {
        try await withStores(try await PostgresServer.freshURL(), count: 2) { stores in
            let (daemon, admin) = (stores[0], stores[1])  // admin: e.g. `mta-sts cache purge`, or another host
            let before = try await daemon.externalChangeCounter()
            try await daemon.save(try entry("a.example"))
            try await daemon.save(try entry("a.example", id: "id2"))
            try await daemon.saveUsage([(try DomainName("a.example"), 1_700_001_000)])
            try await daemon.save(try entry("b.example"))
            try await daemon.delete(try DomainName("b.example"))
            #expect(try await daemon.externalChangeCounter() == before)

            #expect(try await admin.loadAll().count == 1)
            try await admin.saveUsage([(try DomainName("a.example"), 1_700_002_000)])
            #expect(try await daemon.externalChangeCounter() == before, "usage times are not a change")
            try await admin.delete(try DomainName("a.example"))
            let afterPurge = try await daemon.externalChangeCounter()
            #expect(afterPurge != before)
            #expect(try await daemon.loadAll().isEmpty)
            try await admin.save(try entry("c.example"))  // another host fetched a policy
            #expect(try await daemon.externalChangeCounter() != afterPurge)
            // And the daemon's writes are "external" to the admin.
            let adminBefore = try await admin.externalChangeCounter()
            try await daemon.save(try entry("d.example"))
            #expect(try await admin.externalChangeCounter() != adminBefore)
        }
    }

    @Test("Changes made with plain SQL (psql: DELETE, UPDATE, TRUNCATE) change the counter too")
    func plainSQLChanges() async throws {
        let url = try await PostgresServer.freshURL()
        try await withStores(url) { stores in
            let store = stores[0]
            try await store.save(try entry("a.example"))
            try await store.save(try entry("b.example"))
            var seen = try await store.externalChangeCounter()
            for statement in ["UPDATE mta_sts_policies SET expires_at = 0 WHERE domain = 'a.example'",
                              "DELETE FROM mta_sts_policies WHERE domain = 'a.example'",
                              "TRUNCATE mta_sts_policies"] {
                try await PostgresServer.sql(url, statement)
                let now = try await store.externalChangeCounter()
                #expect(now != seen, "\(statement)")
                seen = now
            }
            #expect(try await store.loadAll().isEmpty)
        }
    }

    @Test("Over a UNIX socket: ?host=DIRECTORY&port=PORT")
    func unixSocket() async throws {
        let url = try await PostgresServer.freshURL()
        let directory = try #require(try await PostgresServer.sql(url, "SHOW unix_socket_directories").first??
            .split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) })
        let port = try #require(try await PostgresServer.sql(url, "SHOW port").first ?? nil)
        var components = try #require(URLComponents(string: url))
        components.host = ""
        components.port = nil
        components.queryItems = (components.queryItems ?? []) + [URLQueryItem(name: "host", value: directory),
                                                                  URLQueryItem(name: "port", value: port)]
        let socketURL = try #require(components.string)
        try await withStores(socketURL) { stores in
            #expect(stores[0].configuration.socketDirectory == directory)
            try await stores[0].save(try entry("a.example"))
        }
        let loaded = try await withStores(url) { stores in try await stores[0].loadAll().map(\.domain.value) }
        #expect(loaded == ["a.example"])
    }

    @Test("A row whose body no longer parses is skipped, not fatal")
    func corruptRow() async throws {
        let url = try await PostgresServer.freshURL()
        try await withStores(url) { stores in
            try await stores[0].save(try entry("a.example"))
            try await stores[0].save(try entry("b.example"))
            try await PostgresServer.sql(url, "UPDATE mta_sts_policies SET body = '\\x00'::bytea WHERE domain = 'a.example'")
            #expect(try await stores[0].loadAll().map(\.domain.value) == ["b.example"])
            #expect(try await stores[0].load(try DomainName("a.example")) == nil)
        }
    }

    @Test("Hosts starting together create the schema once, without errors; the tables are the documented ones")
    func concurrentSchema() async throws {
        let url = try await PostgresServer.freshURL()
        try await withStores(url, count: 4) { stores in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for s in stores { group.addTask { try await s.prepare() } }
                try await group.waitForAll()
            }
            let tables = try await PostgresServer.sql(url, """
                SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1
                """)
            #expect(tables == ["mta_sts_dane", "mta_sts_meta", "mta_sts_policies", "mta_sts_writer_changes"])
            #expect(try await PostgresServer.sql(url, "SELECT count(*)::text FROM mta_sts_meta") == ["1"])
        }
    }

    @Test("close() forgets the store's own-change row and ends the pool; a second close is harmless; stale rows expire")
    func close() async throws {
        let url = try await PostgresServer.freshURL()
        let store = try PostgresPolicyStore(url: url)
        try await store.save(try entry("a.example"))
        let rows = "SELECT count(*)::text FROM mta_sts_writer_changes WHERE writer = '\(store.writerID)'"
        #expect(try await PostgresServer.sql(url, rows) == ["1"])
        await store.close()
        await store.close()
        #expect(try await PostgresServer.sql(url, rows) == ["0"])
        await #expect(throws: (any Error).self) { try await store.loadAll() }

        // The rows of stores killed before close() go after 30 days untouched, when a store starts.
        try await PostgresServer.sql(url, """
            INSERT INTO mta_sts_writer_changes (writer, changes, touched)
            VALUES ('killed', 3, now() - interval '31 days'), ('recent', 2, now() - interval '29 days')
            """)
        try await withStores(url) { try await $0[0].prepare() }
        #expect(try await PostgresServer.sql(url, "SELECT writer FROM mta_sts_writer_changes") == ["recent"])
    }

    @Test("The cache engines of two hosts share one store: a purge and a fetch on one reach the other at its next sync")
    func fleet() async throws {
        try await withStores(try await PostgresServer.freshURL(), count: 2) { stores in
            let (hostA, hostB) = (stores[0], stores[1])
            try await hostA.save(try entry("a.example"))
            try await hostA.save(try entry("b.example"))
            let discovery = PolicyDiscovery(resolver: NoDNS(), fetcher: NoFetch())
            let cacheB = PolicyCache(discovery: discovery, store: hostB, clock: FixedClock())
            try await cacheB.load()
            #expect(Set(cacheB.entries.map(\.domain.value)) == ["a.example", "b.example"])

            try await hostA.delete(try DomainName("a.example"))  // `mta-sts cache purge a.example` on host A
            try await hostA.save(try entry("c.example"))          // host A fetched c.example
            #expect(Set(cacheB.entries.map(\.domain.value)) == ["a.example", "b.example"], "memory until the next sync")
            await cacheB.maintain(maxRefreshes: 0)
            #expect(Set(cacheB.entries.map(\.domain.value)) == ["b.example", "c.example"])
        }
    }

    @Test("An unreachable server or a wrong database fails, saying why, never with the password")
    func unreachable() async throws {
        let port = PostgresServer.deadPort()
        let dead = try PostgresPolicyStore(url: "postgres://u:s3cret@127.0.0.1:\(port)/db?connect_timeout=1")
        do {
            _ = try await dead.loadAll()
            Issue.record("loadAll succeeded without a server")
        } catch {
            let text = "\(error)"
            #expect(text.contains("127.0.0.1:\(port)/db"), "\(text)")
            #expect(text.lowercased().contains("refused"), "\(text)")
            #expect(!text.contains("s3cret"))
        }
        await dead.close()

        let base = try PostgresServer.url()
        var components = URLComponents(string: base)!
        components.path = "/no_such_db"
        components.query = "connect_timeout=1"
        try await withStores(components.string!) { stores in
            let error = await #expect(throws: (any Error).self) { try await stores[0].prepare() }
            #expect("\(error!)".contains("no_such_db\" does not exist"), "\(error!)")
        }
    }

    @Test("The resolver's store opens from --cache postgres://..., the daemon loads from it and closes it")
    func daemon() async throws {
        let url = try await PostgresServer.freshURL()
        try await withStores(url) { try await $0[0].save(try entry("a.example")) }
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        var configuration = ResolverConfiguration()
        configuration.cache = .postgres(url: url)
        let store = try await configuration.cache.open(for: .daemon, logger: logger)
        let daemon = ResolverDaemon(configuration: configuration, stack: try configuration.network.makeStack(dane: false), store: store,
                                    logger: logger, reload: { [configuration] in configuration })
        try await daemon.cache.load()
        #expect(daemon.cache.entries.map(\.domain.value) == ["a.example"])
        await daemon.shutdown()

        await #expect(throws: ConfigurationError.self) {
            try await StoreSetting.postgres(url: "postgres://nobody@/x").open(for: .daemon, logger: logger)
        }
        let yaml = try ResolverConfiguration.parse("cache:\n  type: postgres\n  options:\n    dsn: \(url)\n")
        #expect(yaml.cache == .postgres(url: url))
        #expect(ResolverConfiguration.Cache.postgres(url: "postgres://u:pw@h/db").description == "postgres://u:***@h/db")
    }

    @Test("mta-sts cache list|show|purge work on a postgres:// store and exit cleanly")
    func cli() async throws {
        let url = try await PostgresServer.freshURL()
        try await withStores(url, count: 1) { stores in
            try await stores[0].save(try entry("a.example"))
            let counter = try await stores[0].externalChangeCounter()

            let list = try runMTASTS(["cache", "list", "--cache", url])
            #expect(list.status == 0, "\(list.stderr)")
            #expect(list.stdout.hasPrefix("a.example\tenforce\tid id1\t"), "\(list.stdout)")
            let show = try runMTASTS(["cache", "show", "--json", "--cache", url, "a.example"])
            #expect(show.status == 0, "\(show.stderr)")
            #expect(show.json["id"] as? String == "id1")
            #expect(try runMTASTS(["cache", "show", "--cache", url, "b.example"]).status == 1)
            let purge = try runMTASTS(["cache", "purge", "--cache", url, "a.example"])
            #expect(purge.status == 0, "\(purge.stderr)")
            #expect(purge.stdout == "a.example: purged\n")
            #expect(try await stores[0].externalChangeCounter() != counter, "a daemon would notice the purge")
            #expect(try await stores[0].loadAll().isEmpty)
        }
        let dead = try runMTASTS(["cache", "list", "--cache",
                                  "postgres://u:s3cret@127.0.0.1:\(PostgresServer.deadPort())/db?connect_timeout=1"])
        #expect(dead.status == 2)
        #expect(dead.stderr.contains("refused"), "\(dead.stderr)")
        #expect(!dead.stderr.contains("s3cret"))
    }
}

struct NoDNS: DNSResolver {
    func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer { DNSAnswer(.failure("test: no DNS")) }
}

struct NoFetch: PolicyFetcher {
    func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
        PolicyFetchResult(.failure(FetchFailure(code: .httpError, message: "no fetch")), attempts: [])
    }
}

/// Shortly after the test entries were fetched: nothing is due for refresh or eviction.
struct FixedClock: WallClock {
    func now() -> Double { 1_700_000_200 }
}
