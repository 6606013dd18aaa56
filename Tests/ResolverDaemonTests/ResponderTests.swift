import MTASTSCore
import MTASTSDiscovery
import NIOCore
import PostfixSocketmap
import Synchronization
import Testing
@testable import MTASTSResolverDaemon

/// A domain whose TXT id and policy body the test changes.
private final class World: DNSResolver, PolicyFetcher, WallClock {
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
private func framed(_ payload: String) -> String { "\(payload.utf8.count):\(payload)," }

@Suite("Resolver responder")
struct ResponderTests {
    @Test("A hit re-renders when the policy changes, and zones reload")
    func memoFollowsPolicy() async throws {
        let world = World()
        let cache = PolicyCache(discovery: PolicyDiscovery(resolver: world, fetcher: world), store: nil, clock: world)
        let responder = ResolverResponder(cache: cache, defaultZone: ZoneOptions(), zones: [:], metrics: ResolverMetrics())
        let request = SocketmapRequest(name: "postfix", key: "example.com")
        #expect(responder.immediateReply(to: request) == nil, "a miss goes async")
        #expect(String(buffer: await responder.reply(to: request)) == framed("OK secure match=a.example.net servername=hostname"))
        #expect(String(buffer: responder.immediateReply(to: request)!) == framed("OK secure match=a.example.net servername=hostname"))
        // A new id and a new policy: after revalidation the same request gets the new reply.
        world.id.withLock { $0 = "id2" }
        world.body.withLock { $0 = "version: STSv1\r\nmode: enforce\r\nmx: *.b.example.net\r\nmax_age: 86400\r\n" }
        _ = await cache.revalidate(try DomainName("example.com"))
        #expect(String(buffer: responder.immediateReply(to: request)!) == framed("OK secure match=.b.example.net servername=hostname"))
        // Mode none: NOTFOUND from then on.
        world.id.withLock { $0 = "id3" }
        world.body.withLock { $0 = "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n" }
        _ = await cache.revalidate(try DomainName("example.com"))
        #expect(String(buffer: responder.immediateReply(to: request)!) == framed("NOTFOUND "))
        // Zones change with SIGHUP's reconfigure.
        world.id.withLock { $0 = "id4" }
        world.body.withLock { $0 = "version: STSv1\r\nmode: enforce\r\nmx: a.example.net\r\nmax_age: 86400\r\n" }
        _ = await cache.revalidate(try DomainName("example.com"))
        var noSNI = ZoneOptions()
        noSNI.requireSNI = false
        responder.reconfigure(defaultZone: noSNI, zones: [:])
        #expect(String(buffer: responder.immediateReply(to: request)!) == framed("OK secure match=a.example.net"))
        #expect(responder.metrics.value(.hit) >= 4)
    }
}
