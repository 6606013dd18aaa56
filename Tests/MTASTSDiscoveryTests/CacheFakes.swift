import MTASTSCore
import Synchronization
@testable import MTASTSDiscovery

/// A clock the test moves by hand.
final class ManualClock: WallClock {
    private let time = Mutex(1_700_000_000.0)
    func now() -> Double { time.withLock { $0 } }
    func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
}

/// A DNS world the test can change while the cache runs, counting the TXT queries it gets; ``hold(_:)`` keeps TXT
/// questions unanswered (counted as in flight) until released.
final class ScriptedResolver: DNSResolver {
    private let world = Mutex(FakeResolver())
    private let txtQueries = Mutex(0)
    private let held = Mutex(false)
    private let flight = Mutex((now: 0, most: 0))
    var txtCount: Int { txtQueries.withLock { $0 } }
    /// TXT questions being answered now, and the most at once so far.
    var txtInFlight: (now: Int, most: Int) { flight.withLock { $0 } }
    func change(_ body: (inout FakeResolver) -> Void) { world.withLock { body(&$0) } }
    func hold(_ on: Bool) { held.withLock { $0 = on } }

    func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
        if type == .txt {
            txtQueries.withLock { $0 += 1 }
            flight.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            while held.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
            flight.withLock { $0.now -= 1 }
        }
        let w = world.withLock { $0 }
        return await w.query(name, type)
    }
}

/// A policy host the test can change, counting fetches, optionally slow.
final class ScriptedFetcher: PolicyFetcher {
    private let results = Mutex<[String: PolicyFetchResult.Outcome]>([:])
    private let fetches = Mutex(0)
    private let delay = Mutex<Duration>(.zero)
    var fetchCount: Int { fetches.withLock { $0 } }
    func serve(_ host: String, _ outcome: PolicyFetchResult.Outcome) { results.withLock { $0[host] = outcome } }
    func setDelay(_ d: Duration) { delay.withLock { $0 = d } }

    func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
        fetches.withLock { $0 += 1 }
        let wait = delay.withLock { $0 }
        if wait > .zero { try? await Task.sleep(for: wait) }
        let outcome = results.withLock { $0[host.value] } ?? .failure(.status(404))
        return PolicyFetchResult(outcome, attempts: [])
    }
}

/// A PolicyStore in memory (the SQLite store has its own tests); while ``down``, every call fails and is counted.
final class MemoryStore: PolicyStore {
    struct Unreachable: Error {}
    let rows = Mutex<[DomainName: CachedPolicy]>([:])
    let counter = Mutex(0)
    let down = Mutex(false)
    let calls = Mutex(0)
    private func reach() throws {
        calls.withLock { $0 += 1 }
        if down.withLock({ $0 }) { throw Unreachable() }
    }
    func loadAll(batchSize: Int, _ body: @escaping @Sendable ([CachedPolicy]) -> Void) async throws {
        try reach()
        var batches = RowBatches(size: batchSize, body)
        for row in rows.withLock({ Array($0.values) }) { batches.add(row) }
        batches.finish()
    }
    func save(_ entry: CachedPolicy) async throws {
        try reach()
        rows.withLock { $0[entry.domain] = entry }
    }
    func saveUsage(_ usage: [(domain: DomainName, lastUsed: Double)]) async throws {
        try reach()
        rows.withLock { r in for u in usage { r[u.domain]?.lastUsed = u.lastUsed } }
    }
    func delete(_ domain: DomainName) async throws {
        try reach()
        _ = rows.withLock { $0.removeValue(forKey: domain) }
    }
    func externalChangeCounter() async throws -> Int {
        try reach()
        return counter.withLock { $0 }
    }
    /// What another process (`mta-sts cache purge`) would do.
    func externalDelete(_ domain: DomainName) {
        _ = rows.withLock { $0.removeValue(forKey: domain) }
        counter.withLock { $0 += 1 }
    }
}

/// Collects cache events.
final class EventLog: Sendable {
    private let events = Mutex<[PolicyCache.Event]>([])
    func record(_ e: PolicyCache.Event) { events.withLock { $0.append(e) } }
    var revalidations: Int {
        events.withLock { $0.count { if case .revalidated = $0 { true } else { false } } }
    }
    var storeErrors: Int {
        events.withLock { $0.count { if case .storeError = $0 { true } else { false } } }
    }
    /// Domains whose first lookup found the discovery cap reached.
    var capped: [DomainName] {
        events.withLock { $0.compactMap { if case .discoveryCapped(let d) = $0 { return d } else { return nil } } }
    }
    var alerts: [DomainName] {
        events.withLock { $0.compactMap { if case .refreshFailed(let d, _, _) = $0 { return d } else { return nil } } }
    }
}
