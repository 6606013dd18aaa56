import MTASTSCore
import MTASTSDiscovery
import Synchronization

/// A clock the test moves by hand.
final class TestClock: WallClock {
    private let time = Mutex(1_700_000_000.0)
    func now() -> Double { time.withLock { $0 } }
    func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
}

/// An upstream world the test changes: DNS answers (MX by domain; every policy host at 192.0.2.1) and what
/// the upstream policy host answers.
final class UpstreamWorld: DNSResolver, PolicyFetcher {
    private let mx = Mutex<[String: DNSAnswer]>([:])
    private let answer = Mutex<PolicyFetchResult.Outcome>(.failure(FetchFailure(code: .connectFailed, message: "refused")))
    private let fetchCount = Mutex(0)
    var fetches: Int { fetchCount.withLock { $0 } }

    func serve(_ body: String) { answer.withLock { $0 = .body(Array(body.utf8)) } }
    func down() { answer.withLock { $0 = .failure(FetchFailure(code: .connectFailed, message: "refused")) } }
    func setMX(_ domain: String, _ hosts: [String]) {
        let rdata = hosts.map { host -> [UInt8] in
            [0, 10] + host.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
        }
        mx.withLock { $0[domain] = DNSAnswer(.records(rdata), ttl: 300) }
    }
    func failMX(_ domain: String) { mx.withLock { $0[domain] = DNSAnswer(.failure("SERVFAIL")) } }

    func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
        switch type {
        case .a: return DNSAnswer(.records([[192, 0, 2, 1]]), ttl: 300)
        case .mx: return mx.withLock { $0[name] } ?? DNSAnswer(.nxdomain)
        default: return DNSAnswer(.nodata)
        }
    }

    func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
        fetchCount.withLock { $0 += 1 }
        return PolicyFetchResult(answer.withLock { $0 }, attempts: [])
    }

    var discovery: PolicyDiscovery { PolicyDiscovery(resolver: self, fetcher: self) }
}
