import MTASTSCore
import Testing
import TestSupport
@testable import MTASTSDiscovery

/// The cache engine against scripted DNS and HTTPS and a manual clock. "C<n>" is item n of
/// shared/reference/rfc-checklist.md.
@Suite("Policy cache (RFC 8461 §3.3, §5.1, §10.2)")
struct PolicyCacheTests {
    static func body(_ mode: String, maxAge: Int, mx: String = "*.mx.example.net") -> [UInt8] {
        Array("version: STSv1\r\nmode: \(mode)\r\nmx: \(mx)\r\nmax_age: \(maxAge)\r\n".utf8)
    }

    let domain = try! DomainName("example.com")
    let clock = ManualClock()
    let dns = ScriptedResolver()
    let http = ScriptedFetcher()
    let store = MemoryStore()
    let events = EventLog()

    init() {
        dns.change {
            $0.txt("_mta-sts.example.com", ["v=STSv1; id=id1;"])
            $0.a("mta-sts.example.com", [[192, 0, 2, 1]])
        }
        http.serve("mta-sts.example.com", .body(Self.body("enforce", maxAge: 86400)))
    }

    func cache(_ adjust: (inout PolicyCache.Settings) -> Void = { _ in }) -> PolicyCache {
        var settings = PolicyCache.Settings()
        adjust(&settings)
        let log = events
        return PolicyCache(discovery: PolicyDiscovery(resolver: dns, fetcher: http), store: store, clock: clock,
                           settings: settings, onEvent: { log.record($0) })
    }

    func mode(_ d: PolicyCache.Decision) -> STSPolicy.Mode? {
        if case .policy(let p) = d { return p.policy.mode }
        return nil
    }

    func setID(_ id: String) { dns.change { $0.txt("_mta-sts.example.com", ["v=STSv1; id=\(id);"]) } }

    @Test("C49 a policy is used up to max_age from its fetch; expired and refresh failing → none and an alert")
    func expiry() async {
        let c = cache()
        #expect(mode(await c.resolve(domain)) == .enforce)
        clock.advance(86_399)
        http.serve("mta-sts.example.com", .failure(.status(500)))
        #expect(mode(c.cached(domain)!) == .enforce)
        clock.advance(2)
        #expect(c.cached(domain) == nil)
        setID("id2")
        #expect(await c.resolve(domain) == .none)
        #expect(events.alerts == [domain])
    }

    @Test("glance: the generation changes exactly when the cached policy does; domains serving the same bytes share one copy")
    func glanceAndInterning() async throws {
        let c = cache()
        let other = try DomainName("other.example")
        dns.change {
            $0.txt("_mta-sts.other.example", ["v=STSv1; id=x1;"])
            $0.a("mta-sts.other.example", [[192, 0, 2, 2]])
        }
        http.serve("mta-sts.other.example", .body(Self.body("enforce", maxAge: 86400)))
        #expect(c.glance(domain) == nil)
        _ = await c.resolve(domain)
        _ = await c.resolve(other)
        guard case .policy(let first, .enforce, true) = c.glance(domain) else { Issue.record("no enforce glance"); return }
        #expect(c.glance(domain) == .policy(generation: first, mode: .enforce, hasMX: true), "usage does not change it")
        let bodies = c.entries.map { $0.body.withUnsafeBufferPointer { $0.baseAddress } }
        #expect(bodies.count == 2 && bodies[0] == bodies[1], "one copy of the shared policy body")
        // A new id and policy: a new generation and the new mode.
        setID("id2")
        http.serve("mta-sts.example.com", .body(Self.body("testing", maxAge: 86400)))
        _ = await c.refresh(domain)
        guard case .policy(let second, .testing, true) = c.glance(domain) else { Issue.record("no testing glance"); return }
        #expect(second != first)
    }

    @Test("C50 C68 a new id with a valid policy replaces the old one, even a weaker one")
    func idChange() async {
        let c = cache()
        _ = await c.resolve(domain)
        setID("id2")
        http.serve("mta-sts.example.com", .body(Self.body("none", maxAge: 86400)))
        #expect(mode(await c.refreshTXTNow(domain, clock)) == STSPolicy.Mode.none)
        #expect(c.entries.first?.id == "id2")
    }

    @Test("C50 C55 a failed or invalid fetch never replaces a valid cached policy")
    func failedFetchKeepsOld() async {
        let c = cache()
        _ = await c.resolve(domain)
        setID("id2")
        http.serve("mta-sts.example.com", .body(Array("version: STSv1\nmode: enforce\n".utf8)))  // no max_age: invalid
        #expect(mode(await c.refreshTXTNow(domain, clock)) == .enforce)
        #expect(c.entries.first?.id == "id1")
        http.serve("mta-sts.example.com", .failure(.timeout(.seconds(60))))
        setID("id3")
        #expect(mode(await c.refreshTXTNow(domain, clock)) == .enforce)
    }

    @Test("C51 an unchanged id does not renew max_age; a successful refresh does (C52)")
    func noRenewalWithoutFetch() async throws {
        let c = cache()
        _ = await c.resolve(domain)
        let fetchedAt = try #require(c.entries.first).fetchedAt
        clock.advance(23 * 3600)
        _ = await c.refreshTXTNow(domain, clock)
        #expect(c.entries.first?.expiresAt == fetchedAt + 86_400)
        #expect(http.fetchCount == 1)
        await c.refresh(domain)
        #expect(http.fetchCount == 2)
        #expect(c.entries.first!.expiresAt == clock.now() + 86_400)
    }

    @Test("C52 proactive refresh fetches the live policy even when the TXT record is gone or DNS fails")
    func proactiveRefreshIgnoresTXT() async {
        let c = cache { $0.refreshInterval = 3600 }
        _ = await c.resolve(domain)
        clock.advance(3601)
        dns.change { $0.set("_mta-sts.example.com", .txt, DNSAnswer(.failure("SERVFAIL"))) }
        let refreshed = await c.maintain()
        #expect(refreshed == [domain])
        #expect(http.fetchCount == 2)
        #expect(c.entries.first!.fetchedAt == clock.now())
    }

    @Test("C53 a failed refresh alerts, except for mode none")
    func alerts() async {
        let c = cache { $0.refreshInterval = 10 }
        _ = await c.resolve(domain)
        clock.advance(11)
        http.serve("mta-sts.example.com", .failure(.status(503)))
        await c.maintain()
        #expect(events.alerts == [domain])
        let quiet = EventLog()
        http.serve("mta-sts.example.com", .body(Self.body("none", maxAge: 86400)))
        let c2 = PolicyCache(discovery: PolicyDiscovery(resolver: dns, fetcher: http), store: nil, clock: clock,
                             settings: { var s = PolicyCache.Settings(); s.refreshInterval = 10; return s }(),
                             onEvent: { quiet.record($0) })
        _ = await c2.resolve(try! DomainName("example.com"))
        clock.advance(11)
        http.serve("mta-sts.example.com", .failure(.status(503)))
        await c2.maintain()
        #expect(quiet.alerts.isEmpty)
    }

    @Test("C45 a failed proactive refresh is not retried within the 5-minute backoff")
    func refreshBackoff() async {
        let c = cache { $0.refreshInterval = 10 }
        _ = await c.resolve(domain)
        clock.advance(11)
        http.serve("mta-sts.example.com", .failure(.status(503)))
        #expect(await c.maintain() == [domain])
        clock.advance(60)
        #expect(await c.maintain() == [], "within the backoff")
        clock.advance(300)
        #expect(await c.maintain() == [domain])
        #expect(http.fetchCount == 3)
    }

    @Test("C45 after a failed fetch, the same id is not fetched again for 5 minutes; a new id is fetched at once")
    func backoff() async {
        http.serve("mta-sts.example.com", .failure(.status(500)))
        let c = cache { $0.failureRetry = 30 }
        #expect(await c.resolve(domain) == .none)
        #expect(http.fetchCount == 1)
        clock.advance(60)
        #expect(await c.resolve(domain) == .none)
        #expect(http.fetchCount == 1, "same id within 5 minutes: no fetch")
        setID("id2")
        clock.advance(31)
        http.serve("mta-sts.example.com", .body(Self.body("enforce", maxAge: 86400)))
        #expect(mode(await c.resolve(domain)) == .enforce)
        #expect(http.fetchCount == 2, "a new id is fetched at once")
    }

    @Test("canonicalName gives the copy of a name the cache keeps, not the caller's")
    func canonicalNames() async throws {
        let long = "a-rather-long-domain-name.example"  // longer than 15 bytes: a String with its own storage
        let policy = try #require(STSPolicy.parse(Self.body("enforce", maxAge: 86400), reading: .sender).policy)
        try await store.save(CachedPolicy(domain: try DomainName(long), id: "id1", policy: policy,
                                          body: Self.body("enforce", maxAge: 86400), fetchedAt: clock.now(), lastUsed: clock.now()))
        let c = cache()
        try await c.load()
        let asked = try DomainName(long)
        let kept = try #require(c.canonicalName(asked))
        let stored = try #require(c.entries.first).domain
        #expect(kept == asked)
        #expect(sameStorage(kept.value, stored.value), "the key of the cache's table")
        #expect(!sameStorage(kept.value, asked.value), "not the caller's copy")
    }

    private func sameStorage(_ a: String, _ b: String) -> Bool {
        unsafeBitCast(a, to: (UInt64, UInt64).self) == unsafeBitCast(b, to: (UInt64, UInt64).self)
    }

    @Test("A purge forgets the failed fetch too: the next lookup fetches at once; a backoff that is over is dropped by maintenance")
    func purgeClearsBackoff() async throws {
        let c = cache { $0.revalidateAfter = 0 }
        #expect(mode(await c.resolve(domain)) == .enforce)
        setID("id2")
        http.serve("mta-sts.example.com", .failure(.status(503)))
        #expect(mode(await c.revalidate(domain)) == .enforce, "a failed fetch keeps the cached policy")
        #expect(c.entries.first?.failedID == "id2")
        #expect(http.fetchCount == 2)
        store.externalDelete(domain)
        await c.maintain()
        #expect(c.count == 0)
        http.serve("mta-sts.example.com", .body(Self.body("testing", maxAge: 86400)))
        #expect(mode(await c.resolve(domain)) == .testing, "no backoff left from before the purge")
        #expect(http.fetchCount == 3)
        #expect(c.entries.first?.failedID == nil)
        // A failure whose backoff is over no longer stays with a cached policy.
        setID("id3")
        http.serve("mta-sts.example.com", .failure(.status(503)))
        _ = await c.revalidate(domain)
        #expect(c.entries.first?.failedID == "id3")
        clock.advance(301)
        await c.maintain()
        #expect(c.entries.first?.failedID == nil)
    }

    @Test("C45 the backoff ends after 5 minutes")
    func backoffEnds() async {
        http.serve("mta-sts.example.com", .failure(.status(500)))
        let c = cache { $0.failureRetry = 30 }
        _ = await c.resolve(domain)
        clock.advance(301)
        http.serve("mta-sts.example.com", .body(Self.body("testing", maxAge: 86400)))
        #expect(mode(await c.resolve(domain)) == .testing)
        #expect(http.fetchCount == 2)
    }

    @Test("C46 C56 no record or no fetchable policy, nothing cached → none (never an error)")
    func nothingCached() async {
        http.serve("mta-sts.example.com", .failure(.status(404)))
        #expect(await cache().resolve(domain) == .none)
        dns.change { $0.set("_mta-sts.example.com", .txt, DNSAnswer(.failure("SERVFAIL"))) }
        #expect(await cache().resolve(domain) == .none)
    }

    @Test("C12 C47 a valid cached policy survives a vanished TXT record, SERVFAIL and fetch failures")
    func cachedSurvivesFailures() async {
        let c = cache { $0.revalidateAfter = 0 }
        _ = await c.resolve(domain)
        dns.change { $0.answers["_mta-sts.example.com"] = nil }
        #expect(mode(await c.refreshTXTNow(domain, clock)) == .enforce)
        dns.change { $0.set("_mta-sts.example.com", .txt, DNSAnswer(.failure("SERVFAIL"))) }
        http.serve("mta-sts.example.com", .failure(.timeout(.seconds(60))))
        #expect(mode(await c.refreshTXTNow(domain, clock)) == .enforce)
        #expect(mode(c.cached(domain)!) == .enforce)
    }

    @Test("Negative cache: a domain without MTA-STS costs one TXT query per TTL, capped")
    func negativeCache() async {
        let other = try! DomainName("plain.example")
        dns.change { $0.set("_mta-sts.plain.example", .txt, DNSAnswer(.nxdomain, ttl: 600)) }
        let c = cache { $0.negativeCacheMax = 300 }
        #expect(await c.resolve(other) == .none)
        let after = dns.txtCount
        for _ in 0..<10 { #expect(c.cached(other) == PolicyCache.Decision.none) }
        #expect(dns.txtCount == after)
        clock.advance(301)  // the cap (300) is below the TTL (600)
        #expect(c.cached(other) == nil)
    }

    @Test("C57 max_age 0 applies to the lookup that fetched it; the next lookup fetches again")
    func maxAgeZero() async {
        http.serve("mta-sts.example.com", .body(Self.body("enforce", maxAge: 0)))
        let c = cache()
        #expect(mode(await c.resolve(domain)) == .enforce)
        #expect(c.cached(domain) == nil)
        #expect(mode(await c.resolve(domain)) == .enforce)
        #expect(http.fetchCount == 2)
    }

    @Test("Coalescing: 20 concurrent first lookups of one domain make one fetch")
    func coalescing() async {
        http.setDelay(.milliseconds(50))
        let c = cache()
        let results = await withTaskGroup(of: PolicyCache.Decision.self) { group in
            for _ in 0..<20 { group.addTask { await c.resolve(domain) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { mode($0) == .enforce })
        #expect(http.fetchCount == 1)
    }

    @Test("The first lookup waits at most its deadline; the discovery finishes in the background")
    func firstLookupDeadline() async throws {
        http.setDelay(.milliseconds(300))
        let c = cache { $0.firstLookupDeadline = .milliseconds(20) }
        #expect(await c.resolve(domain) == .none)
        #expect(c.cached(domain) == nil, "resolve gave up before the discovery finished")
        #expect(await eventually { c.cached(domain).map(mode) == .enforce }, "finished in the background")
    }

    @Test("A valid entry answers at once; revalidation runs in the background when due")
    func backgroundRevalidation() async throws {
        let c = cache { $0.revalidateAfter = 60 }
        _ = await c.resolve(domain)
        let before = dns.txtCount
        clock.advance(61)
        setID("id2")
        #expect(mode(try #require(c.cached(domain))) == .enforce)  // answered from memory
        #expect(await eventually { c.entries.first?.id == "id2" })
        #expect(dns.txtCount == before + 1)
        #expect(c.entries.first?.id == "id2")
    }

    @Test("Restart: a new cache on the same store answers from it at once, with no DNS")
    func persistence() async throws {
        _ = await cache().resolve(domain)
        let queries = dns.txtCount
        let restarted = cache()
        try await restarted.load()
        #expect(mode(try #require(restarted.cached(domain))) == .enforce)
        #expect(dns.txtCount == queries)
    }

    @Test("Restart with a store of several load batches: every entry, with its failed fetch, is in memory; a purge in any batch is picked up")
    func batchedLoad() async throws {
        let n = storeLoadBatchSize * 2 + 7
        let now = clock.now()
        let policy = try #require(STSPolicy.parse(Self.body("enforce", maxAge: 86400), reading: .sender).policy)
        for i in 0..<n {
            var entry = CachedPolicy(domain: try DomainName("d\(i).example"), id: "id\(i)", policy: policy,
                                     body: Self.body("enforce", maxAge: 86400), fetchedAt: now, lastUsed: now)
            if i == n - 1 {
                entry.failedID = "id-next"
                entry.failedAt = now
            }
            try await store.save(entry)
        }
        let c = cache()
        try await c.load()
        #expect(c.count == n)
        #expect(Set(c.entries.map(\.id)) == Set((0..<n).map { "id\($0)" }))
        let last = try #require(c.entries.first { $0.id == "id\(n - 1)" })
        #expect(last.failedID == "id-next" && last.failedAt == now, "the failure kept aside comes back with the entry")
        #expect(c.entries.filter { $0.failedID != nil }.count == 1)
        #expect(c.canonicalName(try DomainName("D5.Example.")) == (try DomainName("d5.example")))
        #expect(c.canonicalName(try DomainName("unknown.example")) == nil)
        let purged = [try DomainName("d3.example"), try DomainName("d\(n - 2).example")]
        for d in purged { store.externalDelete(d) }
        await c.maintain()
        #expect(c.count == n - 2)
        #expect(c.cached(purged[0]) == nil && c.cached(purged[1]) == nil)
        #expect(c.cached(try DomainName("d4.example")) != nil)
    }

    @Test("Background revalidations are bounded: lookups of many due entries start at most revalidationConcurrency at once, the rest later")
    func revalidationBound() async throws {
        let domains = try (0..<10).map { try DomainName("r\($0).example") }
        dns.change { w in
            for d in domains {
                w.txt("_mta-sts.\(d)", ["v=STSv1; id=id1;"])
                w.a("mta-sts.\(d)", [[192, 0, 2, 1]])
            }
        }
        for d in domains { http.serve("mta-sts.\(d)", .body(Self.body("enforce", maxAge: 86400))) }
        let c = cache { $0.revalidationConcurrency = 3 }
        for d in domains { _ = await c.resolve(d) }
        let before = dns.txtCount
        clock.advance(61)  // every entry's id check is due
        dns.hold(true)
        for d in domains { #expect(c.cached(d) != nil, "a due revalidation never delays the answer") }
        #expect(await eventually { dns.txtInFlight.now == 3 })
        #expect(dns.txtCount == before + 3, "the other seven wait for a later lookup")
        dns.hold(false)
        #expect(await eventually { dns.txtInFlight.now == 0 })
        // Later lookups start the rest, never more than three at once.
        #expect(await eventually {
            for d in domains { _ = c.cached(d) }
            return dns.txtCount == before + 10
        })
        #expect(dns.txtInFlight.most == 3)
        #expect(await eventually { events.revalidations == 10 }, "each one ends with an event (the daemon's trim and metrics count them)")
    }

    @Test("max_discoveries: with that many discoveries in flight a new domain answers none at once (counted); the cap frees as they end")
    func discoveryCap() async throws {
        let c = cache { $0.maxDiscoveries = 3 }
        dns.hold(true)
        // Three first lookups that wait for DNS (their deadline passes; the discoveries stay in flight).
        for i in 0..<3 {
            let d = try DomainName("d\(i).example")
            #expect(await c.resolve(d, deadline: .milliseconds(10)) == .none)
        }
        #expect(await eventually { dns.txtInFlight.now == 3 })
        // A fourth domain: no discovery (no TXT question), answered at once, counted.
        #expect(await c.resolve(domain, deadline: .seconds(3600)) == .none)
        #expect(dns.txtCount == 3)
        #expect(events.capped == [domain])
        // Coalescing still applies: a domain already in flight is waited for, not refused.
        dns.hold(false)
        #expect(await eventually { dns.txtInFlight.now == 0 })
        #expect(await eventually { mode(await c.resolve(domain)) == .enforce }, "below the cap again: discovered")
        #expect(events.capped == [domain])
    }

    @Test("Store down at start: lookups from discovery, nothing waits for the store; once it answers, it is loaded and what was fetched meanwhile written back")
    func storeDownAtStart() async throws {
        // The store holds an older policy of example.com and one of other.example.
        let other = try DomainName("other.example")
        var old = CachedPolicy(domain: domain, id: "id0", policy: STSPolicy.parse(Self.body("testing", maxAge: 86400)).policy!,
                               body: Self.body("testing", maxAge: 86400), fetchedAt: clock.now() - 1000, lastUsed: clock.now() - 1000)
        old.lastChecked = old.fetchedAt
        var kept = old
        kept.domain = other
        store.rows.withLock { $0 = [domain: old, other: kept] }
        store.down.withLock { $0 = true }
        let c = cache()
        await #expect(throws: MemoryStore.Unreachable.self) { try await c.load() }
        #expect(!c.storeAvailable)
        let calls = store.calls.withLock { $0 }
        #expect(mode(await c.resolve(domain)) == .enforce, "discovered, not from the store")
        #expect(store.calls.withLock { $0 } == calls, "a commit does not try a store known to be down")
        #expect(await c.syncStore() == false)
        #expect(!c.storeAvailable)
        store.down.withLock { $0 = false }
        #expect(await c.syncStore())
        #expect(c.storeAvailable)
        // Written back (the newer fetch wins over the store's older row), and the store's other entry loaded.
        #expect(store.rows.withLock { $0[domain]?.policy.mode } == .enforce)
        #expect(mode(c.cached(domain)!) == .enforce)
        #expect(mode(c.cached(other)!) == .testing)
    }

    @Test("A failed save marks the store down: later commits stay in memory until a sync writes them back")
    func storeDownLater() async throws {
        let c = cache()
        try await c.load()
        store.down.withLock { $0 = true }
        #expect(mode(await c.resolve(domain)) == .enforce)
        #expect(!c.storeAvailable)
        #expect(events.storeErrors == 1)
        store.down.withLock { $0 = false }
        #expect(store.rows.withLock { $0[domain] } == nil)
        await c.maintain()
        #expect(c.storeAvailable)
        #expect(store.rows.withLock { $0[domain]?.policy.mode } == .enforce, "written back by the maintenance pass")
        #expect(mode(c.cached(domain)!) == .enforce, "not taken for purged")
    }

    @Test("Entries unused for 180 days are evicted from memory and store; external purges are picked up")
    func evictionAndPurge() async throws {
        let c = cache()
        _ = await c.resolve(domain)
        let other = try DomainName("other.example")
        dns.change {
            $0.txt("_mta-sts.other.example", ["v=STSv1; id=o1;"])
            $0.a("mta-sts.other.example", [[192, 0, 2, 2]])
        }
        http.serve("mta-sts.other.example", .body(Self.body("testing", maxAge: 31_557_600)))
        _ = await c.resolve(other)
        store.externalDelete(other)
        await c.maintain()
        #expect(!c.entries.contains { $0.domain == other }, "purged by another process")
        clock.advance(181 * 86_400)
        await c.maintain()
        #expect(c.count == 0)
        #expect(try await store.loadAll().isEmpty)
    }
}

extension PolicyCache {
    func refreshTXTNow(_ domain: DomainName, _ clock: ManualClock) async -> Decision { await revalidate(domain) }
}

@Suite("Task.value(within:)")
struct ValueWithinTests {
    @Test("A task that finishes long before the deadline always gives its value (the timer, cancelled then, never wins)")
    func finishedTaskWins() async {
        // Many at once, so that the timer's cancellation and the value's arrival run on different threads.
        let lost = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    var lost = 0
                    for _ in 0..<400 {
                        let task = Task<Int, Never> { 1 }
                        if await task.value(within: .seconds(60)) == nil { lost += 1 }
                    }
                    return lost
                }
            }
            return await group.reduce(0, +)
        }
        #expect(lost == 0, "\(lost) of 20000 lookups answered as if their deadline had passed")
    }
}
