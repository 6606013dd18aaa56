import MTASTSCore
import MTASTSStubDNS
import Synchronization
import Testing
import TestSupport
@testable import MTASTSDiscovery

private func mx(_ hosts: [(UInt16, String)], _ dnssec: DNSSECStatus = .secure, ttl: UInt32 = 300) -> DNSAnswer {
    DNSAnswer(.records(hosts.map { [UInt8($0.0 >> 8), UInt8($0.0 & 0xFF)] + DNSMessage.wire($0.1) }), ttl: ttl, dnssec: dnssec)
}

private func tlsa(_ records: [TLSARecord], _ dnssec: DNSSECStatus = .secure, ttl: UInt32 = 300) -> DNSAnswer {
    DNSAnswer(.records(records.map { [$0.usage, $0.selector, $0.matchingType] + $0.data }), ttl: ttl, dnssec: dnssec)
}

private let eeSPKI = TLSARecord(usage: 3, selector: 1, matchingType: 1, data: Array(repeating: 0xAB, count: 32))
private let pkixTA = TLSARecord(usage: 0, selector: 0, matchingType: 1, data: Array(repeating: 0xCD, count: 32))

@Suite("DANE precedence rules (RFC 8461 §2, RFC 7672)")
struct DANERuleTests {
    @Test("TLSA usability for SMTP (RFC 7672 §3.1)", arguments: [
        (TLSARecord(usage: 3, selector: 1, matchingType: 1, data: .init(repeating: 1, count: 32)), true),   // DANE-EE SPKI SHA-256
        (TLSARecord(usage: 2, selector: 0, matchingType: 2, data: .init(repeating: 1, count: 64)), true),   // DANE-TA Cert SHA-512
        (TLSARecord(usage: 3, selector: 0, matchingType: 0, data: [0x30, 0x82]), true),                     // full data
        (TLSARecord(usage: 0, selector: 1, matchingType: 1, data: .init(repeating: 1, count: 32)), false),  // PKIX-TA: not for SMTP
        (TLSARecord(usage: 1, selector: 1, matchingType: 1, data: .init(repeating: 1, count: 32)), false),  // PKIX-EE: not for SMTP
        (TLSARecord(usage: 3, selector: 2, matchingType: 1, data: .init(repeating: 1, count: 32)), false),  // unknown selector
        (TLSARecord(usage: 3, selector: 1, matchingType: 3, data: .init(repeating: 1, count: 32)), false),  // unknown matching type
        (TLSARecord(usage: 3, selector: 1, matchingType: 1, data: .init(repeating: 1, count: 31)), false),  // short SHA-256
        (TLSARecord(usage: 3, selector: 1, matchingType: 2, data: .init(repeating: 1, count: 32)), false),  // SHA-512 of 32 bytes
    ])
    func usability(record: TLSARecord, usable: Bool) {
        #expect(record.isUsable == usable, "\(record)")
    }

    @Test("TLSA rdata decodes; too short is nil")
    func tlsaDecoding() {
        #expect(DNSRecordData.tlsa([3, 1, 1, 0xAA, 0xBB]) == TLSARecord(usage: 3, selector: 1, matchingType: 1, data: [0xAA, 0xBB]))
        #expect(DNSRecordData.tlsa([3, 1, 1]) == nil)
        #expect(eeSPKI.description.hasPrefix("3 1 1 abab"))
    }

    private let domain = try! DomainName("example.com")

    @Test("A secure MX RRset with usable TLSA: DANE")
    func dane() {
        let s = DANEStatus.evaluate(domain: domain, mx: mx([(10, "mx.example.com")]), tlsa: ["mx.example.com": tlsa([eeSPKI])])
        #expect(s.regime == .dane)
        #expect(s.hosts.map(\.tlsa) == [.usable([eeSPKI])])
    }

    @Test("Mixed MX set: one usable host is enough for DANE; the others are named in the reason")
    func mixed() {
        let s = DANEStatus.evaluate(domain: domain, mx: mx([(20, "b.example.com"), (10, "a.example.com")]),
                                    tlsa: ["a.example.com": DNSAnswer(.nodata, dnssec: .secure), "b.example.com": tlsa([eeSPKI])])
        #expect(s.regime == .dane)
        #expect(s.hosts.map(\.name) == ["a.example.com", "b.example.com"], "preference order")
        #expect(s.reason.contains("1 other MX host"))
    }

    @Test("An insecure MX RRset: MTA-STS, and no TLSA is trusted (RFC 7672 §2.2.1)")
    func insecureMX() {
        let s = DANEStatus.evaluate(domain: domain, mx: mx([(10, "mx.example.com")], .insecure), tlsa: ["mx.example.com": tlsa([eeSPKI])])
        #expect(s.regime == .mtaSTS)
        #expect(s.mx == .insecure)
        #expect(s.hosts.map(\.tlsa) == [.notChecked])
    }

    @Test("Secure MX, but no TLSA / only unusable / insecure TLSA: MTA-STS")
    func noUsableTLSA() {
        for answer in [DNSAnswer(.nxdomain, dnssec: .secure), DNSAnswer(.nodata, dnssec: .insecure), tlsa([pkixTA]), tlsa([eeSPKI], .insecure)] {
            let s = DANEStatus.evaluate(domain: domain, mx: mx([(10, "mx.example.com")]), tlsa: ["mx.example.com": answer])
            #expect(s.regime == .mtaSTS, "\(answer)")
        }
    }

    @Test("A bogus MX RRset: deferred")
    func bogusMX() {
        let answer = DNSAnswer(.failure("DNSSEC bogus: sig"), dnssec: .bogus(reason: "sig"))
        let s = DANEStatus.evaluate(domain: domain, mx: answer, tlsa: [:])
        #expect(s.regime == .deferred)
        #expect(s.mx == .bogus("sig"))
    }

    @Test("A failed or bogus TLSA lookup under a secure MX RRset is not 'no TLSA' (RFC 7672 §2.2): deferred")
    func failedTLSA() {
        for answer in [DNSAnswer(.failure("SERVFAIL")), DNSAnswer(.failure("DNSSEC bogus: x"), dnssec: .bogus(reason: "x"))] {
            let s = DANEStatus.evaluate(domain: domain, mx: mx([(10, "mx.example.com")]), tlsa: ["mx.example.com": answer])
            #expect(s.regime == .deferred, "\(answer)")
            #expect(s.reason.contains("_25._tcp.mx.example.com"))
        }
        // ... unless another MX host has usable TLSA: then DANE (Postfix defers the failed host itself).
        let s = DANEStatus.evaluate(domain: domain, mx: mx([(10, "a.example.com"), (20, "b.example.com")]),
                                    tlsa: ["a.example.com": DNSAnswer(.failure("SERVFAIL")), "b.example.com": tlsa([eeSPKI])])
        #expect(s.regime == .dane)
    }

    @Test("MX lookup failure or NXDOMAIN: MTA-STS (the sender's own MX lookup decides); NODATA: implicit MX")
    func mxFailures() {
        #expect(DANEStatus.evaluate(domain: domain, mx: DNSAnswer(.failure("timeout")), tlsa: [:]).regime == .mtaSTS)
        #expect(DANEStatus.evaluate(domain: domain, mx: DNSAnswer(.nxdomain), tlsa: [:]).regime == .mtaSTS)
        let implicit = DANEStatus.evaluate(domain: domain, mx: DNSAnswer(.nodata, dnssec: .secure), tlsa: ["example.com": tlsa([eeSPKI])])
        #expect(implicit.regime == .dane)
        #expect(implicit.hosts.map(\.name) == ["example.com"])
    }

    @Test("The status lives as long as its shortest TTL")
    func ttl() {
        let s = DANEStatus.evaluate(domain: domain, mx: mx([(10, "mx.example.com")], ttl: 600), tlsa: ["mx.example.com": tlsa([eeSPKI], ttl: 120)])
        #expect(s.ttl == 120)
    }

    @Test("lookup asks MX, then TLSA of each host only under a secure MX RRset")
    func lookup() async throws {
        var world = FakeResolver()
        world.set("example.com", .mx, mx([(10, "mx.example.com")]))
        world.set("_25._tcp.mx.example.com", .tlsa, tlsa([eeSPKI]))
        #expect(await DANEStatus.lookup(domain, resolver: world).regime == .dane)
        world.set("example.com", .mx, mx([(10, "mx.example.com")], .insecure))
        #expect(await DANEStatus.lookup(domain, resolver: world).regime == .mtaSTS)
    }
}

@Suite("DANE status cache")
struct DANEStatusCacheTests {
    private final class CountingResolver: DNSResolver {
        let world = Mutex(FakeResolver())
        let mxQueries = Mutex(0)
        func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
            if type == .mx { mxQueries.withLock { $0 += 1 } }
            try? await Task.sleep(for: .milliseconds(20))
            return await world.withLock { $0 }.query(name, type)
        }
    }

    @Test("Misses coalesce; a hit needs no DNS; an expired status is never used; deferred lives briefly")
    func lifecycle() async throws {
        let resolver = CountingResolver()
        resolver.world.withLock {
            $0.set("example.com", .mx, mx([(10, "mx.example.com")], ttl: 100))
            $0.set("_25._tcp.mx.example.com", .tlsa, tlsa([eeSPKI], ttl: 100))
        }
        let clock = ManualClock()
        let cache = DANEStatusCache(resolver: resolver, clock: clock)
        let domain = try DomainName("example.com")
        #expect(cache.cached(domain) == nil)
        async let a = cache.resolve(domain, deadline: .seconds(3600))
        async let b = cache.resolve(domain, deadline: .seconds(3600))
        let (ra, rb) = await (a, b)
        #expect(ra?.regime == .dane && rb?.regime == .dane)
        #expect(resolver.mxQueries.withLock { $0 } == 1, "one lookup for concurrent misses")
        #expect(cache.cached(domain)?.regime == .dane)
        #expect(resolver.mxQueries.withLock { $0 } == 1, "a hit asks nothing")
        // Expired: still answered while the refresh (started by that very lookup) runs; then the new status.
        clock.advance(101)
        resolver.world.withLock { $0.set("_25._tcp.mx.example.com", .tlsa, DNSAnswer(.failure("SERVFAIL"))) }
        #expect(cache.cached(domain)?.regime == .dane, "stale while refreshing")
        #expect(await eventually { cache.cached(domain)?.regime == .deferred }, "refreshed")
        #expect(resolver.mxQueries.withLock { $0 } == 2)
        // Past the stale limit nothing is answered from memory.
        clock.advance(15 + 86_401)
        #expect(cache.cached(domain) == nil)
    }

    private final class RowStore: DANEStatusStore {
        let rows = Mutex<[StoredDANEStatus]>([])
        func loadDANEStatuses(batchSize: Int, _ body: @escaping @Sendable ([StoredDANEStatus]) -> Void) async throws {
            var batches = RowBatches(size: batchSize, body)
            for row in rows.withLock({ $0 }) { batches.add(row) }
            batches.finish()
        }
        func saveDANEStatus(_ s: StoredDANEStatus) async throws { rows.withLock { $0.removeAll { $0.domain == s.domain }; $0.append(s) } }
    }

    @Test("Statuses are written through and answered after a restart without DNS")
    func persistence() async throws {
        let resolver = CountingResolver()
        resolver.world.withLock {
            $0.set("example.com", .mx, mx([(10, "mx.example.com")], ttl: 100))
            $0.set("_25._tcp.mx.example.com", .tlsa, tlsa([eeSPKI], ttl: 100))
        }
        let clock = ManualClock()
        let store = RowStore()
        let domain = try DomainName("example.com")
        let first = DANEStatusCache(resolver: resolver, clock: clock, store: store)
        #expect(await first.resolve(domain, deadline: .seconds(3600))?.regime == .dane)
        #expect(await eventually { store.rows.withLock { $0.map(\.regime) } == [.dane] }, "written through")
        let restarted = DANEStatusCache(resolver: FakeResolver(), clock: clock, store: store)
        try await restarted.load()
        #expect(restarted.cached(domain)?.regime == .dane)
        // Each loaded name is offered for the copy memory already holds, and the name given back is the key.
        let again = DANEStatusCache(resolver: FakeResolver(), clock: clock, store: store)
        let asked = Mutex<[DomainName]>([])
        let other = try DomainName("example.org")
        try await again.load(canonicalName: { name in asked.withLock { $0.append(name) }; return other })
        #expect(asked.withLock { $0 } == [domain])
        #expect(again.cached(other)?.regime == .dane && again.cached(domain) == nil)
    }

    @Test("The deadline cuts the wait; the lookup finishes for the next request")
    func deadline() async throws {
        let resolver = CountingResolver()
        resolver.world.withLock { $0.set("example.com", .mx, mx([(10, "mx.example.com")], .insecure)) }
        let cache = DANEStatusCache(resolver: resolver, clock: ManualClock())
        let domain = try DomainName("example.com")
        #expect(await cache.resolve(domain, deadline: .milliseconds(1)) == nil)
        #expect(await eventually { cache.cached(domain)?.regime == .mtaSTS }, "finished in the background")
    }

    /// Counts MX questions in flight; holds them while `held`.
    private final class GatedResolver: DNSResolver {
        let held = Mutex(false)
        let flight = Mutex((now: 0, most: 0, total: 0))
        func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
            flight.withLock { $0.now += 1; $0.total += 1; $0.most = max($0.most, $0.now) }
            while held.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
            flight.withLock { $0.now -= 1 }
            return mx([(10, "mx.\(name)")], .insecure, ttl: 100)
        }
    }

    @Test("Background refreshes are bounded: lookups of many expiring statuses start at most refreshConcurrency at once, the rest later")
    func refreshBound() async throws {
        let resolver = GatedResolver()
        let clock = ManualClock()
        var settings = DANEStatusCache.Settings()
        settings.refreshConcurrency = 2
        let cache = DANEStatusCache(resolver: resolver, clock: clock, settings: settings)
        let domains = try (0..<6).map { try DomainName("d\($0).example") }
        for d in domains { #expect(await cache.resolve(d, deadline: .seconds(3600))?.regime == .mtaSTS) }
        clock.advance(101)  // expired: answered stale while refreshed
        resolver.held.withLock { $0 = true }
        for d in domains { #expect(cache.cached(d)?.regime == .mtaSTS) }
        #expect(await eventually { resolver.flight.withLock { $0.now } == 2 })
        #expect(resolver.flight.withLock { $0.total } == 6 + 2, "the other four wait for a later lookup")
        resolver.held.withLock { $0 = false }
        #expect(await eventually {
            for d in domains { _ = cache.cached(d) }
            return resolver.flight.withLock { $0.total } == 6 + 6
        })
        #expect(resolver.flight.withLock { $0.most } == 2)
    }
}

@Suite("DNS messages (trust-ad stub path)")
struct DNSMessageTests {
    /// A response to `name`/`type` with `answers` (already encoded, may use compression pointers).
    private func response(id: UInt16 = 7, rcode: UInt8 = 0, ad: Bool, qname: String, qtype: UInt16, answers: [[UInt8]]) -> [UInt8] {
        var m: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x81, (ad ? 0x20 : 0) | rcode, 0, 1, 0, UInt8(answers.count), 0, 0, 0, 0]
        m += DNSMessage.wire(qname) + [UInt8(qtype >> 8), UInt8(qtype & 0xFF), 0, 1]
        for a in answers { m += a }
        return m
    }

    private func rr(_ owner: [UInt8], type: UInt16, ttl: UInt32, _ rdata: [UInt8]) -> [UInt8] {
        owner + [UInt8(type >> 8), UInt8(type & 0xFF), 0, 1,
                 UInt8(ttl >> 24), UInt8((ttl >> 16) & 0xFF), UInt8((ttl >> 8) & 0xFF), UInt8(ttl & 0xFF),
                 UInt8(rdata.count >> 8), UInt8(rdata.count & 0xFF)] + rdata
    }

    @Test("MX through a CNAME, with compressed names, AD set → secure records as libunbound would give them")
    func compressedMX() throws {
        // The question name starts at offset 12: a pointer 0xC00C names it.
        let target = DNSMessage.wire("real.example.com")
        let cname = rr([0xC0, 0x0C], type: 5, ttl: 300, target)
        // The CNAME's target follows the header, the question and the CNAME's owner pointer and fixed fields.
        let at = UInt8(12 + DNSMessage.wire("alias.example.com").count + 4 + 12)
        let mxRR = rr([0xC0, at], type: 15, ttl: 120, [0, 10, 3] + Array("mx1".utf8) + [0xC0, at])
        let bytes = response(ad: true, qname: "alias.example.com", qtype: 15, answers: [cname, mxRR])
        let message = try #require(DNSMessage(bytes))
        #expect(message.authenticData)
        let answer = ADTrustingResolver.answer(message, name: "alias.example.com", type: .mx)
        #expect(answer.dnssec == .secure)
        #expect(answer.canonicalName == "real.example.com")
        #expect(answer.ttl == 120)
        guard case .records(let rdata) = answer.result else { Issue.record("no records: \(answer)"); return }
        #expect(rdata.compactMap(DNSRecordData.mx).map(\.host) == ["mx1.real.example.com"])
    }

    @Test("RCODEs and AD map to DNSAnswer results", arguments: [
        (UInt8(3), true, "nxdomain"), (UInt8(0), false, "nodata"), (UInt8(2), false, "failure"), (UInt8(5), false, "failure"),
    ])
    func rcodes(rcode: UInt8, ad: Bool, expected: String) throws {
        let message = try #require(DNSMessage(response(rcode: rcode, ad: ad, qname: "x.example", qtype: 52, answers: [])))
        let answer = ADTrustingResolver.answer(message, name: "x.example", type: .tlsa)
        let kind = switch answer.result {
        case .nxdomain: "nxdomain"
        case .nodata: "nodata"
        case .failure: "failure"
        case .records: "records"
        }
        #expect(kind == expected)
        if expected != "failure" { #expect(answer.dnssec == (ad ? .secure : .insecure)) }
    }

    @Test("Malformed messages give nil, never a crash", arguments: [
        [UInt8](), [0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0],                  // truncated question
        [0, 1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0],                             // a query, not a response
        [0, 1, 0x81, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 12],                   // answer owner points at itself
    ])
    func malformed(bytes: [UInt8]) {
        #expect(DNSMessage(bytes) == nil)
    }
}
