// The hit-path cost of swift-prometheus (directly and through swift-metrics) against our AtomicCounters:
// Benchmarks/metrics-cost/run.sh builds and runs it (docs/architecture.md item 3 has the figures).
import CoreMetrics
import Dispatch
import Glibc
import OurCounters
import Prometheus
import Synchronization

// The resolver's hit path counts two things per hit: `.hit` and the reply kind (ResolverMetrics.count, called from
// ResolverResponder in another module). Each variant below is called the same way: a non-inlined method on a final
// class taking the counter enum, twice per simulated hit.
enum C: Int, CaseIterable { case hit, miss, skipped, replyOK, replyNotFound, replyDANE, replyTemp }

final class Ours: Sendable {
    let counters = AtomicCounters(count: C.allCases.count)
    @inline(never) func count(_ c: C) { counters.add(c.rawValue) }
    func value(_ c: C) -> Int { counters.value(c.rawValue) }
}

/// swift-prometheus used directly: one Prometheus.Counter per label set, made once, in an array by enum.
final class PromDirect: Sendable {
    let registry: PrometheusCollectorRegistry
    let counters: [Prometheus.Counter]
    init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        counters = C.allCases.map { registry.makeCounter(name: "mtasts_lookups_total", labels: [("path", "\($0)")], help: "Socketmap lookups by how they were answered.") }
    }
    @inline(never) func count(_ c: C) { counters[c.rawValue].increment() }
}

/// Through the swift-metrics API (CoreMetrics.Counter, handler an existential), backed by swift-prometheus.
final class ViaMetrics: Sendable {
    let counters: [CoreMetrics.Counter]
    init(factory: PrometheusMetricsFactory) {
        counters = C.allCases.map { CoreMetrics.Counter(label: "mtasts_replies_total", dimensions: [("reply", "\($0)")], factory: factory) }
    }
    @inline(never) func count(_ c: C) { counters[c.rawValue].increment() }
}

@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

func f2(_ x: Double) -> String { let r = (x * 100).rounded() / 100; return "\(r)" }

/// CPU nanoseconds per iteration (thread CPU time, summed over the threads: the machine is shared, wall time is not ours).
func time(_ name: String, iterations: Int, threads: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
    let total = Mutex(0.0)
    DispatchQueue.concurrentPerform(iterations: threads) { t in
        var a = timespec(), b = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a)
        for i in 0..<iterations { body(i &+ t) }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b)
        let ns = Double(b.tv_sec - a.tv_sec) * 1e9 + Double(b.tv_nsec - a.tv_nsec)
        total.withLock { $0 += ns }
    }
    return total.withLock { $0 } / Double(iterations * threads)
}

let n = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 50_000_000
let rounds = 5
let ours = Ours()
let prom = PromDirect()
let factory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
let via = ViaMetrics(factory: factory)
let kinds: [C] = [.replyOK, .replyDANE, .replyNotFound, .replyOK]

var results: [String: [Double]] = [:]
for threads in [1, 2] {
    for r in 0..<rounds {
        // alternate the order per round so that neither variant always runs first
        let order: [(String, @Sendable (Int) -> Void)] = [
            ("ours AtomicCounters", { i in ours.count(.hit); ours.count(kinds[i & 3]) }),
            ("swift-prometheus Counter", { i in prom.count(.hit); prom.count(kinds[i & 3]) }),
            ("swift-metrics Counter -> prometheus", { i in via.count(.hit); via.count(kinds[i & 3]) }),
        ]
        for (name, body) in (r % 2 == 0 ? order : order.reversed()) {
            results["\(threads)t \(name)", default: []].append(time(name, iterations: n, threads: threads, body))
        }
    }
}
blackHole(ours.value(.hit))
for key in results.keys.sorted() {
    let xs = results[key]!.sorted()
    print("\(key): median \(f2(xs[xs.count / 2])) ns per hit (2 increments), runs \(xs.map(f2))")
}
// the exposition still works
var buffer: [UInt8] = []
prom.registry.emit(into: &buffer)
print(String(decoding: buffer.prefix(200), as: UTF8.self))
