import Foundation
import MTASTSCore
import MTASTSDiscovery
import Synchronization
import Testing
@testable import MTASTSChecker

/// ``DeploymentChecker`` with its I/O faked: DNS as plain data, a prober that counts what it is asked.
@Suite("Deployment checker (fakes)")
struct DeploymentCheckerTests {
    /// Answers by (name, type); anything unlisted is NXDOMAIN.
    struct TableResolver: DNSResolver {
        var answers: [String: [DNSRecordType: DNSAnswer]] = [:]
        func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
            answers[name]?[type] ?? DNSAnswer(answers[name] == nil ? .nxdomain : .nodata)
        }
    }

    struct RefusingFetcher: PolicyFetcher {
        func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
            PolicyFetchResult(.failure(FetchFailure(code: .connectFailed, message: "refused")), attempts: [])
        }
    }

    /// Every SMTP session succeeds with a good certificate for the host; each one is counted.
    final class CountingProber: ConnectionProbing {
        let sessions = Mutex<[IPAddress: Int]>([:])
        func tls(host: DomainName, address: IPAddress, port: Int, sni: Bool) async -> Result<TLSObservation, ConnectionFailure> {
            .failure(.connect("refused"))
        }
        func smtp(host: DomainName, address: IPAddress, port: Int, sni: Bool) async -> SMTPProbe {
            sessions.withLock { $0[address, default: 0] += 1 }
            return SMTPProbe(address: address, port: port, ehloKeywords: ["STARTTLS"], tls: Fake.tls([host.value]), ehloAfterTLS: true)
        }
    }

    static func wire(_ name: String) -> [UInt8] {
        name.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }

    @Test("At most 32 MX addresses are probed, in preference order; the rest are named (smtp-probes-capped)")
    func probeCap() async throws {
        // Three MX hosts with 20 addresses each: 60 addresses, 32 probed (20 of mx1, 12 of mx2, none of mx3).
        var dns = TableResolver()
        dns.answers["example.com"] = [.mx: DNSAnswer(.records([[0, 30] + Self.wire("mx3.example.com"), [0, 10] + Self.wire("mx1.example.com"),
                                                               [0, 20] + Self.wire("mx2.example.com")]))]
        for (n, host) in ["mx1", "mx2", "mx3"].enumerated() {
            dns.answers["\(host).example.com"] = [.a: DNSAnswer(.records((1...20).map { [192, 0, 2 + UInt8(n), $0] })), .aaaa: DNSAnswer(.nodata)]
        }
        let prober = CountingProber()
        let checker = DeploymentChecker(resolver: dns, fetcher: RefusingFetcher(), prober: prober)
        let o = await checker.observe(try DomainName("example.com"))
        #expect(o.mxHosts.map(\.host.value) == ["mx1.example.com", "mx2.example.com", "mx3.example.com"])
        #expect(o.mxHosts.map(\.probes.count) == [20, 12, 0])
        #expect(o.mxHosts.map(\.unprobed.count) == [0, 8, 20])
        #expect(o.mxHosts[1].unprobed.first?.description == "192.0.3.13")
        let sessions = prober.sessions.withLock { $0 }
        #expect(sessions.count == SMTPLimits.addressesPerDomain && sessions.values.allSatisfy { $0 == 2 })  // with and without SNI
        let report = CheckRules.evaluate(o)
        let capped = try #require(report.findings.first { $0.code == "smtp-probes-capped" })
        #expect(capped.severity == .warning && capped.subject == "example.com")
        #expect(capped.message.contains("60 addresses; only the first 32") && capped.message.contains("not 28 of mx2.example.com, mx3.example.com"),
                "\(capped.message)")
    }

    @Test("Below the cap every address is probed and nothing is said")
    func underCap() async throws {
        var dns = TableResolver()
        dns.answers["example.com"] = [.mx: DNSAnswer(.records([[0, 10] + Self.wire("mx1.example.com")]))]
        dns.answers["mx1.example.com"] = [.a: DNSAnswer(.records((1...3).map { [192, 0, 2, $0] })), .aaaa: DNSAnswer(.nodata)]
        let o = await DeploymentChecker(resolver: dns, fetcher: RefusingFetcher(), prober: CountingProber()).observe(try DomainName("example.com"))
        #expect(o.mxHosts.first?.probes.count == 3 && o.mxHosts.first?.unprobed.isEmpty == true)
        #expect(!CheckRules.evaluate(o).findings.contains { $0.code == "smtp-probes-capped" })
    }
}
