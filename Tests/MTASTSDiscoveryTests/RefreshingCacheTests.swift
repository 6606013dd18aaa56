import MTASTSCore
import Synchronization
import Testing
import TestSupport
@testable import MTASTSDiscovery

/// The machinery under both caches, with rules that only count: loads are numbered and can be held open.
@Suite("Refreshing cache (coalescing, bounded refresh, write-through)")
struct RefreshingCacheTests {
    struct Slot: RefreshMarked, Sendable {
        var value: Int
        var due = false
        var refreshing = false
    }

    /// Counts loads, the most running at once, and background refreshes ended; holds loads while `held`.
    final class Loads: Sendable {
        let held = Mutex(false)
        let state = Mutex((total: 0, now: 0, most: 0, refreshed: [DomainName]()))
        var total: Int { state.withLock { $0.total } }
        var now: Int { state.withLock { $0.now } }
        var most: Int { state.withLock { $0.most } }
    }

    struct Rules: RefreshingCacheRules {
        typealias Entry = Slot
        typealias Value = Int
        typealias Extra = Void
        let loads: Loads

        func load(_ domain: DomainName, force: Bool, in cache: RefreshingCache<Rules>) async -> Int {
            let n = loads.state.withLock { s in
                s.total += 1
                s.now += 1
                s.most = max(s.most, s.now)
                return s.total
            }
            while loads.held.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(2)) }
            cache.withLock { $0.entries[domain] = Slot(value: n) }
            loads.state.withLock { $0.now -= 1 }
            return n
        }

        func refreshed(_ domain: DomainName) { loads.state.withLock { $0.refreshed.append(domain) } }
    }

    let loads = Loads()

    func cache(refreshLimit: Int = 8, outage: StoreOutagePolicy = .degrade) -> RefreshingCache<Rules> {
        RefreshingCache(rules: Rules(loads: loads), extra: (), refreshLimit: refreshLimit, outage: outage)
    }

    static func names(_ n: Int) -> [DomainName] { (0..<n).map { try! DomainName("d\($0).example") } }

    /// The hot path's read: the slot's value, due as the slot says.
    func value(_ cache: RefreshingCache<Rules>, _ domain: DomainName) -> Int? {
        cache.look(domain) { s, index in (s.entries.values[index].value, due: s.entries.values[index].due) }
    }

    @Test("N concurrent misses of one domain make one load, and all get its value")
    func coalescing() async {
        let cache = cache()
        let domain = try! DomainName("example.com")
        let joined = Loads()  // its total counts the misses that joined
        loads.held.withLock { $0 = true }
        let values = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    let task = cache.task(for: domain)!  // joined (or started) before the count says so
                    joined.state.withLock { $0.total += 1 }
                    return await task.value
                }
            }
            // Released only once every miss has joined while the first load was still running.
            while joined.total < 20 { try? await Task.sleep(for: .milliseconds(2)) }
            loads.held.withLock { $0 = false }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(loads.total == 1)
        #expect(values == Array(repeating: 1, count: 20))
        #expect(value(cache, domain) == 1, "the load put its value in memory")
        #expect(await cache.load(domain, force: false) == 2, "a later miss loads again")
    }

    @Test("A limit on loads in flight: a new domain beyond it gets no load; a running one is still joined; the cap frees")
    func loadLimit() async {
        let cache = cache()
        let domains = Self.names(3)
        loads.held.withLock { $0 = true }
        let first = cache.task(for: domains[0], limit: 2)
        #expect(first != nil && cache.task(for: domains[1], limit: 2) != nil)
        #expect(cache.task(for: domains[2], limit: 2) == nil)
        #expect(cache.task(for: domains[0], limit: 2) == first, "joining a running load is never refused")
        loads.held.withLock { $0 = false }
        #expect(await eventually { cache.withLock { $0.inflight.isEmpty } })
        #expect(cache.task(for: domains[2], limit: 2) != nil)
    }

    @Test("Background refresh: only due entries, at most refreshLimit at once, the rest by later hits, one per domain")
    func refreshBound() async {
        let cache = cache(refreshLimit: 2)
        let domains = Self.names(5)
        cache.withLock { s in for d in domains { s.entries[d] = Slot(value: 0, due: true) } }
        let fresh = try! DomainName("fresh.example")
        cache.withLock { $0.entries[fresh] = Slot(value: 0) }
        loads.held.withLock { $0 = true }
        #expect(value(cache, fresh) == 0)
        #expect(value(cache, try! DomainName("unknown.example")) == nil)
        for _ in 0..<3 {
            for d in domains { #expect(value(cache, d) == 0, "answered from memory while refreshing") }
        }
        #expect(await eventually { loads.now == 2 })
        #expect(loads.total == 2, "the other three wait for a later hit; repeated hits start nothing more")
        loads.held.withLock { $0 = false }
        #expect(await eventually {
            for d in domains { _ = value(cache, d) }
            return loads.total == 5 && cache.withLock { $0.refreshes } == 0
        })
        #expect(loads.most == 2)
        #expect(Set(loads.state.withLock { $0.refreshed }) == Set(domains))
        #expect(cache.withLock { s in s.entries.values.allSatisfy { !$0.refreshing } })
    }

    /// A store that fails while `down`, counting every call.
    final class Rows: Sendable {
        struct Down: Error {}
        let rows = Mutex<[DomainName: Int]>([:])
        let down = Mutex(false)
        let calls = Mutex(0)
        func save(_ row: (DomainName, Int)) async throws {
            calls.withLock { $0 += 1 }
            if down.withLock({ $0 }) { throw Down() }
            rows.withLock { $0[row.0] = row.1 }
        }
    }

    func commit(_ cache: RefreshingCache<Rules>, _ store: Rows, _ domain: DomainName, _ value: Int) async -> (any Error)? {
        await cache.commit(domain, row: (domain, value), save: store.save) { $0.entries[domain] = Slot(value: value) }
    }

    @Test("Write-through: saved at once; a failing store (degrade) is taken as down, later commits stay in memory, written back when it answers")
    func writeThroughDegrade() async throws {
        let cache = cache()
        let store = Rows()
        let (a, b, c) = (try DomainName("a.example"), try DomainName("b.example"), try DomainName("c.example"))
        #expect(await commit(cache, store, a, 1) == nil)
        #expect(store.rows.withLock { $0 } == [a: 1] && cache.storeAvailable)

        store.down.withLock { $0 = true }
        #expect(await commit(cache, store, b, 2) is Rows.Down)
        #expect(!cache.storeAvailable)
        #expect(await commit(cache, store, c, 3) == nil, "not tried: nothing waits for a store that is down")
        #expect(store.calls.withLock { $0 } == 2)
        #expect(value(cache, b) == 2 && value(cache, c) == 3, "in memory all the same")
        #expect(cache.withLock { $0.unsaved } == [b, c])

        let row = { (s: RefreshingCache<Rules>.State, d: DomainName) in s.entries[d].map { (d, $0.value) } }
        await #expect(throws: Rows.Down.self) { try await cache.writeBack(row: row, save: store.save) }
        #expect(cache.withLock { $0.unsaved.count } == 2, "nothing written, nothing forgotten")

        store.down.withLock { $0 = false }
        try await cache.writeBack(row: row, save: store.save)
        cache.storeAnswered()
        #expect(store.rows.withLock { $0 } == [a: 1, b: 2, c: 3])
        #expect(cache.withLock { $0.unsaved.isEmpty } && cache.storeAvailable)
        #expect(await commit(cache, store, a, 4) == nil)
        #expect(store.rows.withLock { $0[a] } == 4, "written through again")
    }

    @Test("Write-through with reportEach: a failure is only reported; the next save is tried")
    func writeThroughReportEach() async throws {
        let cache = cache(outage: .reportEach)
        let store = Rows()
        let (a, b) = (try DomainName("a.example"), try DomainName("b.example"))
        store.down.withLock { $0 = true }
        #expect(await cache.writeThrough(a, row: (a, 1), save: store.save) is Rows.Down)
        #expect(cache.storeAvailable && cache.withLock { $0.unsaved.isEmpty })
        store.down.withLock { $0 = false }
        #expect(await cache.writeThrough(b, row: (b, 2), save: store.save) == nil)
        #expect(store.rows.withLock { $0 } == [b: 2] && store.calls.withLock { $0 } == 2)
    }
}
