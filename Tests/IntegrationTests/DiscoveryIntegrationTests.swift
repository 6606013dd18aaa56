import Foundation
import MTASTSCore
import MTASTSDiscovery
import MTASTSHTTPFetch
import MTASTSUnbound
import TestSupport
import Testing

/// Discovery against the real world of scripts/testbed.sh: NSD serving real zone files, nginx and a fault
/// server over HTTPS with a throwaway CA. Each case names the checklist item (C<n>, rfc-checklist.md) or
/// landscape edge case (L<n>) it proves.
@Suite("Discovery against real DNS and HTTPS")
struct DiscoveryIntegrationTests {
    struct Case: Sendable, CustomStringConvertible {
        let domain: String
        let outcome: DiscoveryOutcome
        let code: String?
        let why: String
        var description: String { "\(domain): \(why)" }
    }

    static let cases: [Case] = [
        .init(domain: "good.t.test", outcome: .valid, code: nil, why: "C17 C34 C42 baseline: SNI, SAN, 200, text/plain"),
        .init(domain: "customer.t.test", outcome: .valid, code: nil, why: "C13 CNAME-delegated record, certificate for the customer's name"),
        .init(domain: "chain.t.test", outcome: .valid, code: nil, why: "L59 two-step CNAME chain"),
        .init(domain: "mixed.t.test", outcome: .valid, code: nil, why: "C8 L55 unrelated TXT beside the STS record; LF policy"),
        .init(domain: "split.t.test", outcome: .valid, code: nil, why: "C9 TXT strings joined without spaces"),
        .init(domain: "two.t.test", outcome: .multipleRecords, code: "record-multiple", why: "C8 L56 two STS records"),
        .init(domain: "malformed.t.test", outcome: .recordInvalid, code: "record-id-invalid", why: "C4 L58 malformed record"),
        .init(domain: "none.t.test", outcome: .noRecord, code: "txt-nxdomain", why: "C56 NXDOMAIN"),
        .init(domain: "nodata.t.test", outcome: .noRecord, code: "txt-nodata", why: "C56 NODATA"),
        .init(domain: "dangling.t.test", outcome: .noRecord, code: "txt-nxdomain", why: "C13 CNAME to a name that does not exist"),
        .init(domain: "loop.t.test", outcome: .dnsError, code: "dns-failure", why: "C13 CNAME loop"),
        .init(domain: "redirect301.t.test", outcome: .fetchError, code: "http-redirect", why: "C38 L82 301 not followed"),
        .init(domain: "redirect302.t.test", outcome: .fetchError, code: "http-redirect", why: "C38 302 not followed"),
        .init(domain: "notfound.t.test", outcome: .fetchError, code: "http-status", why: "C37 L83 404"),
        .init(domain: "servererror.t.test", outcome: .fetchError, code: "http-status", why: "C37 L83 500"),
        .init(domain: "html.t.test", outcome: .fetchError, code: "http-content-type", why: "C40 L86 text/html"),
        .init(domain: "noct.t.test", outcome: .fetchError, code: "http-content-type", why: "C40 no Content-Type"),
        .init(domain: "ctparam.t.test", outcome: .valid, code: nil, why: "C40 L87 text/plain; charset=utf-8"),
        .init(domain: "bigcl.t.test", outcome: .fetchError, code: "http-too-large", why: "C41 L36 Content-Length over 64 KiB"),
        .init(domain: "bigchunked.t.test", outcome: .fetchError, code: "http-too-large", why: "C41 chunked body over 64 KiB"),
        .init(domain: "slowhead.t.test", outcome: .fetchError, code: "http-timeout", why: "C41 no headers within the deadline"),
        .init(domain: "slowbody.t.test", outcome: .fetchError, code: "http-timeout", why: "C41 a body trickling past the total deadline"),
        .init(domain: "badpolicy.t.test", outcome: .policyInvalid, code: "policy-mode-invalid", why: "C37 L37 200 with an invalid body"),
        .init(domain: "wrongname.t.test", outcome: .webpkiInvalid, code: "tls-certificate-name", why: "C34 C35 certificate for another name"),
        .init(domain: "expired.t.test", outcome: .webpkiInvalid, code: "tls-certificate-expired", why: "C34 L85 expired certificate"),
        .init(domain: "selfsigned.t.test", outcome: .webpkiInvalid, code: "tls-certificate-untrusted", why: "C34 self-signed certificate"),
        .init(domain: "t.test", outcome: .valid, code: nil, why: "C34 certificate SAN *.t.test covers mta-sts.t.test"),
        .init(domain: "partial.t.test", outcome: .webpkiInvalid, code: "tls-certificate-name", why: "C35 C80 partial-label wildcard SAN mta*.partial.t.test"),
        .init(domain: "cnonly.t.test", outcome: .webpkiInvalid, code: "tls-certificate-name", why: "C35 C81 name only in the CN, no SAN"),
        .init(domain: "tls11.t.test", outcome: .fetchError, code: "tls-handshake", why: "C44 a host offering only TLS 1.0/1.1"),
        .init(domain: "nohost.t.test", outcome: .fetchError, code: "host-not-found", why: "L84 policy host NXDOMAIN"),
        .init(domain: "refused.t.test", outcome: .fetchError, code: "connect-failed", why: "connection refused"),
        .init(domain: "multi.t.test", outcome: .valid, code: nil, why: "each address in turn: the first refuses, the second serves"),
    ]

    static func discovery(_ world: Testbed, trustAnchor: Bool = false, dnsServer: String? = nil,
                          dnsTimeout: Duration = .seconds(3), httpTimeout: Duration = .seconds(4)) throws -> PolicyDiscovery {
        let resolver = try UnboundResolver(.init(servers: [dnsServer ?? world.dnsServer],
                                                 trustAnchorFile: trustAnchor ? world.trustAnchor : nil, timeout: dnsTimeout))
        let fetcher = try HTTPPolicyFetcher(.init(extraTrustRootsFile: world.caFile, timeout: httpTimeout))
        return PolicyDiscovery(resolver: resolver, fetcher: fetcher)
    }

    @Test(arguments: cases)
    func outcome(_ c: Case) async throws {
        let world = try Testbed.shared()
        let result = try await Self.discovery(world).discover(try DomainName(c.domain))
        #expect(result.outcome == c.outcome, "error: \(String(describing: result.error)), steps: \(result.steps.map { "\($0.question) → \($0.answer)" })")
        #expect(result.error?.code.description == c.code, "\(String(describing: result.error))")
        if c.outcome == .valid {
            #expect(result.policy != nil && result.record != nil)
        } else {
            #expect(result.policy == nil)
        }
        #expect(c.outcome.tlsrptResultType == result.outcome.tlsrptResultType)
    }

    @Test("C13 the delegated record's id is the provider's, the policy is the customer host's")
    func delegation() async throws {
        let world = try Testbed.shared()
        let r = try await Self.discovery(world).discover(try DomainName("customer.t.test"))
        #expect(r.record?.id == "prov1")
        #expect(r.steps.first?.answer.contains("_mta-sts.provider.t.test") == true)
        #expect(r.policy?.mx.map(\.description) == ["*.mx.provider.t.test"])
        #expect(r.steps.contains { $0.question.hasPrefix("GET https://mta-sts.customer.t.test/") })
    }

    @Test("C39 no HTTP caching: a changed body is seen on the next fetch despite Cache-Control")
    func noCaching() async throws {
        let world = try Testbed.shared()
        let discovery = try Self.discovery(world)
        let file = world.wwwDir + "/cachectl.txt"
        let original = try String(contentsOfFile: file, encoding: .utf8)
        defer { try? original.write(toFile: file, atomically: true, encoding: .utf8) }
        let first = await discovery.discover(try DomainName("cachectl.t.test"))
        #expect(first.outcome == .valid)
        try "version: STSv1\r\nmode: testing\r\nmx: changed.t.test\r\nmax_age: 1234\r\n".write(toFile: file, atomically: true, encoding: .utf8)
        let second = await discovery.discover(try DomainName("cachectl.t.test"))
        #expect(second.policy?.maxAge == 1234)
        #expect(second.policy != first.policy)
    }

    @Test("DNSSEC: a signed zone is secure; a tampered one is bogus and its data is never used")
    func dnssec() async throws {
        let world = try Testbed.shared()
        let discovery = try Self.discovery(world, trustAnchor: true)
        let secure = await discovery.discover(try DomainName("sec.test"))
        #expect(secure.outcome == .valid)
        #expect(secure.recordDNSSEC == .secure)
        let bogus = await discovery.discover(try DomainName("bogus.test"))
        #expect(bogus.outcome == .dnsError)
        if case .bogus = bogus.recordDNSSEC {} else { Issue.record("expected bogus, got \(String(describing: bogus.recordDNSSEC))") }
        #expect(bogus.record == nil)
        #expect(!bogus.steps.contains { $0.answer.contains("EVIL") })
        // Without an anchor the same zones are merely insecure.
        let plain = try await Self.discovery(world).discover(try DomainName("sec.test"))
        #expect(plain.recordDNSSEC == .insecure)
    }

    @Test("C56 a DNS server that never answers gives dns-error by our own deadline")
    func deadServer() async throws {
        let world = try Testbed.shared()
        let r = try await Self.discovery(world, dnsServer: world.deadDNSServer, dnsTimeout: .milliseconds(500)).discover(try DomainName("good.t.test"))
        #expect(r.outcome == .dnsError)
        #expect(r.error?.message.contains("timeout") == true)
    }

    @Test("The resolver answers MX and follows the zone exactly")
    func mxRecords() async throws {
        let world = try Testbed.shared()
        let resolver = try UnboundResolver(.init(servers: [world.dnsServer]))
        let answer = await resolver.query("good.t.test", .mx)
        guard case .records(let rdata) = answer.result else {
            Issue.record("no MX: \(answer)")
            return
        }
        let hosts = rdata.compactMap(DNSRecordData.mx).sorted { $0.preference < $1.preference }.map(\.host)
        #expect(hosts == ["mx1.good.t.test", "a.mx.good.t.test"])
    }
}
