// N distinct cold MTA-STS discoveries (TXT + A/AAAA + TLS + GET + parse) against the bench world, C at a
// time, through the same PolicyDiscovery, UnboundResolver and HTTPPolicyFetcher that `mta-sts lookup`
// uses. Prints one JSON line: wall time and this process's CPU (user + sys, libunbound's threads included)
// per lookup.
//
// usage: discovery-bench --dns-server HOST:PORT --ca-file PEM [--count N] [--concurrency C]
//                        [--phase sts|nosts] [--domain-format d%d.bench.test]
import Foundation
import MTASTSCore
import MTASTSDiscovery
import MTASTSHTTPFetch
import MTASTSUnbound

struct Options {
    var dnsServer = "127.0.0.1:5400"
    var caFile: String?
    var count = 1000
    var concurrency = 16
    var phase = "sts"
    var format: String?

    init() {
        var args = CommandLine.arguments.dropFirst()
        while let flag = args.popFirst() {
            guard let value = args.popFirst() else { fatalError("\(flag) needs a value") }
            switch flag {
            case "--dns-server": dnsServer = value
            case "--ca-file": caFile = value
            case "--count": count = Int(value)!
            case "--concurrency": concurrency = Int(value)!
            case "--phase": phase = value
            case "--domain-format": format = value
            default: fatalError("unknown option \(flag)")
            }
        }
    }

    func domain(_ i: Int) -> String {
        (format ?? (phase == "nosts" ? "n%d.nosts.bench.test" : "d%d.bench.test")).replacingOccurrences(of: "%d", with: String(i))
    }
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return s(usage.ru_utime) + s(usage.ru_stime)
}

let options = Options()
let resolver = try UnboundResolver(.init(servers: [options.dnsServer], timeout: .seconds(5)))
let fetcher = try HTTPPolicyFetcher(.init(extraTrustRootsFile: options.caFile, timeout: .seconds(10)))
let discovery = PolicyDiscovery(resolver: resolver, fetcher: fetcher)
let expected: DiscoveryOutcome = options.phase == "nosts" ? .noRecord : .valid

// One lookup outside the measurement: loads trust roots, starts threads and event loops.
_ = await discovery.discover(try DomainName(options.phase == "nosts" ? "warmup.nosts.bench.test" : "warmup.bench.test"))

let clock = ContinuousClock()
let cpu0 = cpuSeconds()
let t0 = clock.now
let outcomes = await withTaskGroup(of: DiscoveryOutcome.self, returning: [DiscoveryOutcome].self) { group in
    var next = 0
    var results: [DiscoveryOutcome] = []
    func add() {
        let name = options.domain(next)
        next += 1
        group.addTask { await discovery.discover(try! DomainName(name)).outcome }
    }
    while next < min(options.concurrency, options.count) { add() }
    while let outcome = await group.next() {
        results.append(outcome)
        if next < options.count { add() }
    }
    return results
}
let wall = clock.now - t0
let cpu = cpuSeconds() - cpu0
let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
let ok = outcomes.filter { $0 == expected }.count
let result: [String: Any] = [
    "tool": "mta-sts", "phase": options.phase, "count": options.count, "concurrency": options.concurrency,
    "ok": ok, "failed": outcomes.count - ok,
    "wall_s": (wallSeconds * 1000).rounded() / 1000, "cpu_s": (cpu * 1000).rounded() / 1000,
    "cpu_ms_per_lookup": (cpu / Double(options.count) * 1000 * 1000).rounded() / 1000,
    "lookups_per_s": (Double(options.count) / wallSeconds).rounded(),
]
let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: data, as: UTF8.self))
if ok != options.count {
    FileHandle.standardError.write(Data("discovery-bench: \(options.count - ok) lookups did not end \(expected.rawValue): \(Set(outcomes.map(\.rawValue)))\n".utf8))
    exit(1)
}
