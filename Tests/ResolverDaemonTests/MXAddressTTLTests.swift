import MTASTSCore
import MTASTSDiscovery
import NIOCore
import PostfixSocketmap
import Testing
@testable import MTASTSResolverDaemon

/// Issue 14, items 8 and 9: address-like `mx` patterns never reach Postfix, and `policy_ttl` is the policy's
/// remaining lifetime.
@Suite("Postfix replies: address-like mx patterns and policy_ttl")
struct MXAddressTTLTests {
    let domain = try! DomainName("example.com")
    func policy(_ mx: [String], mode: String = "enforce") -> STSPolicy {
        STSPolicy.parse("version: STSv1\nmode: \(mode)\n" + mx.map { "mx: \($0)\n" }.joined() + "max_age: 86400\n").policy!
    }
    var tlsrpt: ZoneOptions {
        var zone = ZoneOptions()
        zone.tlsrpt = true
        return zone
    }

    @Test("Address-like patterns are left out of match= and mx_host_pattern; policy_string keeps the policy as fetched")
    func addressesDropped() {
        let p = policy(["192.0.2.1", "mail.example.com", "*.0.2.1", "*.mx.example.net"])
        #expect(PostfixPolicyReply.reply(for: p, domain: domain, options: ZoneOptions())
                == .ok("secure match=mail.example.com:.mx.example.net servername=hostname"))
        guard case .ok(let data) = PostfixPolicyReply.reply(for: p, domain: domain, options: tlsrpt) else {
            Issue.record("expected OK")
            return
        }
        #expect(data.contains(" mx_host_pattern=mail.example.com mx_host_pattern=*.mx.example.net {"), "\(data)")
        #expect(!data.contains("mx_host_pattern=192.0.2.1") && !data.contains("mx_host_pattern=*.0.2.1"))
        #expect(data.contains("{ policy_string = mx: 192.0.2.1 }"), "the report shows the policy as published")
    }

    @Test("Enforce with only addresses: TEMP with the reason (the mail waits, no MX is contacted), never an empty match=",
          arguments: [["192.0.2.1"], ["192.0.2.1", "*.0.2.1", "10.1.2.3"]])
    func onlyAddresses(_ mx: [String]) {
        for zone in [ZoneOptions(), tlsrpt] {
            let reply = PostfixPolicyReply.reply(for: policy(mx), domain: domain, options: zone)
            #expect(reply == .temp("the MTA-STS policy of example.com names no MX host, only addresses such as 192.0.2.1: "
                                   + "no MX can match, mail waits for a corrected policy (RFC 8461 section 4.1)"))
            #expect(!reply.payload.contains("match="))
        }
    }

    @Test("Only addresses, but the policy does not change delivery or DANE applies: unchanged replies")
    func onlyAddressesOtherwise() {
        #expect(PostfixPolicyReply.reply(for: policy(["192.0.2.1"], mode: "testing"), domain: domain, options: ZoneOptions()) == .notFound)
        let dane = DANEStatus(regime: .dane, mx: .secure, hosts: [], reason: "TLSA", ttl: 300)
        #expect(PostfixPolicyReply.reply(for: policy(["192.0.2.1"]), domain: domain, dane: dane, options: ZoneOptions()) == .ok("dane-only"))
    }

    @Test("policy_ttl beside policy_type and policy_domain: the remaining lifetime in whole seconds, by the given clock")
    func policyTTL() {
        let cached = CachedPolicy(domain: domain, id: "1", policy: policy(["mail.example.com"]), body: [], fetchedAt: 1000, lastUsed: 1000)
        let reply = PostfixPolicyReply.reply(for: .policy(cached), options: tlsrpt, now: 1400.5)
        #expect(reply == .ok("secure match=mail.example.com servername=hostname policy_type=sts policy_domain=example.com policy_ttl=85999"
                             + " mx_host_pattern=mail.example.com { policy_string = version: STSv1 } { policy_string = mode: enforce }"
                             + " { policy_string = mx: mail.example.com } { policy_string = max_age: 86400 }"))
        #expect(PostfixPolicyReply.changesOverTime(reply))
        #expect(PostfixPolicyReply.reply(for: .policy(cached), options: tlsrpt, now: 1000 + 86400 + 5) != reply)
    }

    @Test("Off by default (Postfix < 3.10 rejects unknown attributes): no TLS-RPT attribute, no clock read, a stable reply")
    func offByDefault() {
        #expect(!ZoneOptions().tlsrpt)
        let cached = CachedPolicy(domain: domain, id: "1", policy: policy(["mail.example.com"]), body: [], fetchedAt: 1000, lastUsed: 1000)
        let reply = PostfixPolicyReply.reply(for: .policy(cached), options: ZoneOptions(),
                                             now: { Issue.record("the clock was read"); return 0 }())
        #expect(reply == .ok("secure match=mail.example.com servername=hostname"))
        #expect(!PostfixPolicyReply.changesOverTime(reply))
    }

    @Test("The responder does not remember a reply with policy_ttl: each hit counts down; a zone without tlsrpt is unchanged")
    func responderCountsDown() async throws {
        let world = World()  // example.com: enforce, mx a.example.net, max_age 86400
        let cache = PolicyCache(discovery: PolicyDiscovery(resolver: world, fetcher: world), store: nil, clock: world)
        let responder = ResolverResponder(cache: cache, defaultZone: ZoneOptions(), zones: ["reporting": tlsrpt],
                                          metrics: ResolverMetrics(), clock: world)
        let reporting = SocketmapRequest(name: "reporting", key: "example.com")
        _ = await responder.reply(to: reporting)
        let first = responder.immediateReply(to: reporting).map { String(buffer: $0) } ?? ""
        #expect(first.contains(" policy_ttl=86400 "), "\(first)")
        world.time.withLock { $0 += 100 }
        let later = responder.immediateReply(to: reporting).map { String(buffer: $0) } ?? ""
        #expect(later.contains(" policy_ttl=86300 "), "\(later)")
        let plain = SocketmapRequest(name: "postfix", key: "example.com")
        #expect(responder.immediateReply(to: plain).map { String(buffer: $0) } == framed("OK secure match=a.example.net servername=hostname"))
    }
}
