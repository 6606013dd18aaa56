import MTASTSCore
import MTASTSDiscovery
import NIOCore
import PostfixSocketmap
import Synchronization
import Testing
import TestSupport
@testable import MTASTSResolverDaemon

/// A domain whose TXT id and policy body the test changes (also MXAddressTTLTests).
final class World: DNSResolver, PolicyFetcher, WallClock {
    let id = Mutex("id1")
    let body = Mutex("version: STSv1\r\nmode: enforce\r\nmx: a.example.net\r\nmax_age: 86400\r\n")
    let time = Mutex(1_700_000_000.0)

    func now() -> Double { time.withLock { $0 } }

    func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
        switch (name, type) {
        case ("_mta-sts.example.com", .txt):
            let text = Array("v=STSv1; id=\(id.withLock { $0 });".utf8)
            return DNSAnswer(.records([[UInt8(text.count)] + text]), ttl: 60)
        case ("mta-sts.example.com", .a): return DNSAnswer(.records([[192, 0, 2, 1]]), ttl: 60)
        default: return DNSAnswer(.nxdomain, ttl: 60)
        }
    }

    func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
        PolicyFetchResult(.body(Array(body.withLock { $0 }.utf8)), attempts: [])
    }
}

/// `payload` framed as a netstring.
func framed(_ payload: String) -> String { "\(payload.utf8.count):\(payload)," }

@Suite("Resolver responder")
struct ResponderTests {
    /// The default zone with a first-lookup deadline of an hour, for tests whose subject is not the deadline (the
    /// default 4 s passed on a loaded full run, and the first reply was NOTFOUND instead of the policy's).
    static var patient: ZoneOptions {
        var zone = ZoneOptions()
        zone.timeout = .seconds(3600)
        return zone
    }

    @Test("A hit re-renders when the policy changes, and zones reload")
    func memoFollowsPolicy() async throws {
        let world = World()
        let cache = PolicyCache(discovery: PolicyDiscovery(resolver: world, fetcher: world), store: nil, clock: world)
        let responder = ResolverResponder(cache: cache, defaultZone: Self.patient, zones: [:], metrics: ResolverMetrics())
        let request = SocketmapRequest(name: "postfix", key: "example.com")
        #expect(responder.immediateReply(to: request) == nil, "a miss goes async")
        #expect(String(buffer: await responder.reply(to: request)) == framed("OK secure match=a.example.net servername=hostname"))
        #expect(String(buffer: try #require(responder.immediateReply(to: request))) == framed("OK secure match=a.example.net servername=hostname"))
        // A new id and a new policy: after revalidation the same request gets the new reply.
        world.id.withLock { $0 = "id2" }
        world.body.withLock { $0 = "version: STSv1\r\nmode: enforce\r\nmx: *.b.example.net\r\nmax_age: 86400\r\n" }
        _ = await cache.revalidate(try DomainName("example.com"))
        #expect(String(buffer: try #require(responder.immediateReply(to: request))) == framed("OK secure match=.b.example.net servername=hostname"))
        // Mode none: NOTFOUND from then on.
        world.id.withLock { $0 = "id3" }
        world.body.withLock { $0 = "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n" }
        _ = await cache.revalidate(try DomainName("example.com"))
        #expect(String(buffer: try #require(responder.immediateReply(to: request))) == framed("NOTFOUND "))
        // Zones change with SIGHUP's reconfigure.
        world.id.withLock { $0 = "id4" }
        world.body.withLock { $0 = "version: STSv1\r\nmode: enforce\r\nmx: a.example.net\r\nmax_age: 86400\r\n" }
        _ = await cache.revalidate(try DomainName("example.com"))
        var noSNI = Self.patient
        noSNI.requireSNI = false
        responder.reconfigure(defaultZone: noSNI, zones: [:])
        #expect(String(buffer: try #require(responder.immediateReply(to: request))) == framed("OK secure match=a.example.net"))
        #expect(responder.metrics.value(.hit) >= 4)
    }

    @Test("A small memo bound: emptying the remembered requests and frames never gives a wrong reply")
    func memoBound() async throws {
        let world = World()
        let cache = PolicyCache(discovery: PolicyDiscovery(resolver: world, fetcher: world), store: nil, clock: world)
        let responder = ResolverResponder(cache: cache, defaultZone: Self.patient, zones: [:], metrics: ResolverMetrics(), memoLimit: 2)
        _ = await responder.reply(to: SocketmapRequest(name: "postfix", key: "example.com"))
        for (round, mx) in ["a.example.net", "b.example.net", "c.example.net"].enumerated() {
            if round > 0 {  // a new policy: one more distinct frame than the bound allows
                world.id.withLock { $0 = "id\(round + 1)" }
                world.body.withLock { $0 = "version: STSv1\r\nmode: enforce\r\nmx: \(mx)\r\nmax_age: 86400\r\n" }
                _ = await cache.revalidate(try DomainName("example.com"))
            }
            for key in ["example.com", "x1.example", "x2.example", "EXAMPLE.com", "x3.example", "example.com"] {
                let request = SocketmapRequest(name: "postfix", key: key)
                let reply = if let now = responder.immediateReply(to: request) { now } else { await responder.reply(to: request) }
                let expected = key.lowercased() == "example.com" ? "OK secure match=\(mx) servername=hostname" : "NOTFOUND "
                #expect(String(buffer: reply) == framed(expected), "round \(round), \(key)")
            }
        }
    }

    @Test("DANE precedence: a hit answers from the DANE status in memory; an unknown status waits for DNS, never for `secure`")
    func danePrecedence() async throws {
        let world = World()
        let cache = PolicyCache(discovery: PolicyDiscovery(resolver: world, fetcher: world), store: nil, clock: world)
        let daneDNS = DANEWorld()
        let dane = DANEStatusCache(resolver: daneDNS, clock: world)
        let metrics = ResolverMetrics()
        // A generous DANE wait: this test is about precedence, not deadlines (a loaded machine may schedule the lookup late).
        var zone = ZoneOptions()
        zone.timeout = .seconds(60)
        let responder = ResolverResponder(cache: cache, dane: dane, defaultZone: zone, zones: [:], metrics: metrics,
                                          daneMinimumWait: .seconds(60))
        let request = SocketmapRequest(name: "postfix", key: "example.com")
        #expect(String(buffer: await responder.reply(to: request)) == framed("OK dane-only"))
        #expect(String(buffer: try #require(responder.immediateReply(to: request))) == framed("OK dane-only"), "a hit, from memory")
        #expect(metrics.value(.replyDANE) == 2 && metrics.value(.replyOK) == 0)
        // The DANE status expires with its TTL: the next hit answers from it once more and refreshes it.
        world.time.withLock { $0 += 301 }
        daneDNS.secure.withLock { $0 = false }
        #expect(String(buffer: try #require(responder.immediateReply(to: request))) == framed("OK dane-only"), "stale while refreshing")
        #expect(await eventually {
            responder.immediateReply(to: request).map { String(buffer: $0) } == framed("OK secure match=a.example.net servername=hostname")
        }, "refreshed: insecure now")
    }
}

extension ResponderTests {
    @Test("A first lookup whose DANE status is not known in time gets NOTFOUND (never `secure`, never TEMP); the next gets the answer")
    func daneTooSlow() async throws {
        let world = World()
        let cache = PolicyCache(discovery: PolicyDiscovery(resolver: world, fetcher: world), store: nil, clock: world)
        let daneDNS = DANEWorld()
        daneDNS.delay.withLock { $0 = .milliseconds(300) }
        let dane = DANEStatusCache(resolver: daneDNS, clock: world)
        var zone = ZoneOptions()
        zone.timeout = .milliseconds(50)
        let responder = ResolverResponder(cache: cache, dane: dane, defaultZone: zone, zones: [:], metrics: ResolverMetrics(),
                                          daneMinimumWait: .milliseconds(50))
        let request = SocketmapRequest(name: "postfix", key: "example.com")
        #expect(String(buffer: await responder.reply(to: request)) == framed("NOTFOUND "))
        #expect(responder.metrics.value(.replyNotFound) == 1 && responder.metrics.value(.replyTemp) == 0)
        // As the server asks: the hot path first, the async path when it has no answer.
        #expect(await eventually {
            let reply = if let hit = responder.immediateReply(to: request) { hit } else { await responder.reply(to: request) }
            return String(buffer: reply) == framed("OK dane-only")
        }, "the lookup finished in the background")
        // Once the enforce policy is known, a DANE status that is gone (dropped, or past the stale limit) and slow DNS
        // defer the mail: a DNS delay must not take the enforcement away.
        dane.forget(try DomainName("example.com"))
        #expect(responder.immediateReply(to: request) == nil, "no `secure` without the DANE status")
        let reply = String(buffer: await responder.reply(to: request))
        #expect(reply.contains("TEMP the DANE status of example.com is not known yet"), "\(reply)")
    }
}

/// MX and TLSA of example.com: secure with a usable TLSA record, or insecure; optionally slow.
private final class DANEWorld: DNSResolver {
    let secure = Mutex(true)
    let delay = Mutex(Duration.zero)
    func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
        let wait = delay.withLock { $0 }
        if wait > .zero { try? await Task.sleep(for: wait) }
        let dnssec: DNSSECStatus = secure.withLock { $0 } ? .secure : .insecure
        switch (name, type) {
        case ("example.com", .mx): return DNSAnswer(.records([[0, 10, 1, 0x61, 7] + Array("example".utf8) + [3] + Array("net".utf8) + [0]]), ttl: 300, dnssec: dnssec)
        case ("_25._tcp.a.example.net", .tlsa): return DNSAnswer(.records([[3, 1, 1] + Array(repeating: 7, count: 32)]), ttl: 300, dnssec: dnssec)
        default: return DNSAnswer(.nxdomain, ttl: 60)
        }
    }
}

@Suite("Request keys of the responder's memo")
struct RequestKeyTests {
    private func key(_ bytes: [UInt8]) -> RequestKey { RequestKey(ByteBuffer(bytes: bytes)) }

    @Test("Equal bytes give equal keys, inline (≤ 40 bytes) and in an array (longer); any difference tells them apart")
    func equality() {
        for n in [0, 1, 7, 8, 39, 40, 41, 200] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: 0x61 + $0 % 26) }
            #expect(key(bytes) == key(bytes))
            if n > 0 {
                var other = bytes
                other[n - 1] ^= 1
                #expect(key(bytes) != key(other), "last byte differs at length \(n)")
            }
            #expect(key(bytes) != key(bytes + [0]), "a trailing NUL is a different request (length \(n))")
        }
        // A slice of a larger buffer (as a request is) keys like a copy of its bytes.
        var buffer = ByteBuffer(bytes: Array("xxpostfix example.comyy".utf8))
        buffer.moveReaderIndex(forwardBy: 2)
        let slice = buffer.getSlice(at: buffer.readerIndex, length: 19)!
        #expect(RequestKey(slice) == key(Array("postfix example.com".utf8)))
        let set: Set<RequestKey> = [key(Array("postfix a.example".utf8)), key(Array("postfix a.example".utf8)), key(Array("postfix b.example".utf8))]
        #expect(set.count == 2)
    }
}
