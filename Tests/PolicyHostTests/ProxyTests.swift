import Logging
import MTASTSCore
import MTASTSDiscovery
@testable import MTASTSPolicyHost
import Testing

/// The proxy source with a scripted upstream and a hand-moved clock: last good copy within its max_age,
/// refresh before expiry, 503 with nothing valid, never garbage (checklist L107; RFC 8461 §3.3 "never invent").
@Suite("Proxy source")
struct ProxyTests {
    static let good = "version: STSv1\nmode: enforce\nmx: *.mx.provider.example\nmax_age: 100\n"
    static let newer = "version: STSv1\r\nmode: enforce\r\nmx: *.mx.provider.example\r\nmx: mx2.provider.example\r\nmax_age: 100\r\n"

    func setup() throws -> (ProxyUpstream, UpstreamWorld, TestClock) {
        let u = ProxyUpstream(domain: try DomainName("provider.example"), timing: .init(refresh: 3600, retry: 60), cacheControl: "max-age=60")
        return (u, UpstreamWorld(), TestClock())
    }

    @Test("Nothing fetched yet → nothing to serve; a valid fetch is served unchanged (bytes as upstream sent them)")
    func servedUnchanged() async throws {
        let (u, world, clock) = try setup()
        #expect(u.slot.current(now: clock.now()) == nil)
        world.serve(Self.good)
        let (outcome, _) = await u.refresh(discovery: world.discovery, clock: clock)
        #expect(outcome == .valid)
        let served = try #require(u.slot.current(now: clock.now()))
        #expect(served.body == Array(Self.good.utf8))
        #expect(served.response.body == .init(bytes: Array(Self.good.utf8)))
        // Refreshed before expiry: at half the max_age.
        #expect(u.due == clock.now() + 50)
    }

    @Test("Upstream down → last good copy until its max_age, then nothing (503)")
    func upstreamDown() async throws {
        let (u, world, clock) = try setup()
        world.serve(Self.good)
        await u.refresh(discovery: world.discovery, clock: clock)
        world.down()
        clock.advance(50)
        let (outcome, _) = await u.refresh(discovery: world.discovery, clock: clock)
        #expect(outcome == .fetchError)
        #expect(u.slot.current(now: clock.now())?.body == Array(Self.good.utf8))
        // Retries sooner than the regular retry when the copy expires soon (half the time left).
        #expect(u.due == clock.now() + 25)
        clock.advance(49)
        #expect(u.slot.current(now: clock.now()) != nil)
        clock.advance(1)
        #expect(u.slot.current(now: clock.now()) == nil)
        let route = Route(domain: try DomainName("customer.example"), slot: u.slot, mxGuard: nil, counters: RequestCounters())
        #expect(route.answer(now: clock.now()).status == 503)
    }

    @Test("Upstream serves garbage or an invalid policy → still the last good copy, never the garbage",
          arguments: ["<html>oops</html>", "version: STSv1\nmode: enforce\nmax_age: 100\n", "version: STSv1\nmode: bogus\n"])
    func garbage(_ body: String) async throws {
        let (u, world, clock) = try setup()
        world.serve(Self.good)
        await u.refresh(discovery: world.discovery, clock: clock)
        world.serve(body)
        clock.advance(60)
        let (outcome, _) = await u.refresh(discovery: world.discovery, clock: clock)
        #expect(outcome == .policyInvalid)
        #expect(u.slot.current(now: clock.now())?.body == Array(Self.good.utf8))
    }

    @Test("A changed upstream policy replaces the served one at the next refresh")
    func changed() async throws {
        let (u, world, clock) = try setup()
        world.serve(Self.good)
        await u.refresh(discovery: world.discovery, clock: clock)
        world.serve(Self.newer)
        clock.advance(50)
        await u.refresh(discovery: world.discovery, clock: clock)
        #expect(u.slot.current(now: clock.now())?.policy.mx.count == 2)
    }

    @Test("MX guard: serve only while every MX matches the upstream policy; DNS failure keeps the last state")
    func mxGuard() async throws {
        let (u, world, clock) = try setup()
        world.serve(Self.good)
        await u.refresh(discovery: world.discovery, clock: clock)
        let g = MXGuard(domain: try DomainName("customer.example"))
        let route = Route(domain: g.domain, slot: u.slot, mxGuard: g, counters: RequestCounters())
        #expect(route.answer(now: clock.now()).status == 503)  // not checked yet
        let policy = try #require(u.slot.last?.policy)
        world.setMX("customer.example", ["a.mx.provider.example", "b.mx.provider.example"])
        #expect(await g.check(policy: policy, resolver: world) == .matches)
        #expect(route.answer(now: clock.now()).status == 200)
        world.failMX("customer.example")
        #expect(await g.check(policy: policy, resolver: world) == .matches)
        world.setMX("customer.example", ["a.mx.provider.example", "mail.elsewhere.example"])
        guard case .mismatch = await g.check(policy: policy, resolver: world) else { Issue.record("not a mismatch"); return }
        #expect(route.answer(now: clock.now()).status == 404)
    }

    @Test("Upstream URLs: only https://mta-sts.<domain>/.well-known/mta-sts.txt")
    func upstreamURL() throws {
        #expect(PolicyHostConfiguration.upstreamDomain("https://mta-sts.mx.provider.net/.well-known/mta-sts.txt") == (try DomainName("mx.provider.net")))
        #expect(PolicyHostConfiguration.upstreamDomain("HTTPS://MTA-STS.Provider.NET/.well-known/mta-sts.txt") == (try DomainName("provider.net")))
        #expect(PolicyHostConfiguration.upstreamDomain("https://mta-sts.provider.net:8443/.well-known/mta-sts.txt") == nil)
        #expect(PolicyHostConfiguration.upstreamDomain("https://mta-sts.provider.net/other.txt") == nil)
        #expect(PolicyHostConfiguration.upstreamDomain("https://www.provider.net/.well-known/mta-sts.txt") == nil)
    }
}
