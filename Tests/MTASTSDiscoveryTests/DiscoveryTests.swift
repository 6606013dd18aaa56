import MTASTSCore
import Testing
@testable import MTASTSDiscovery

@Suite("Policy discovery with fakes (RFC 8461 §3.1–§3.3)")
struct DiscoveryTests {
    static let goodPolicy = Array("version: STSv1\r\nmode: enforce\r\nmx: *.mx.example.net\r\nmax_age: 86400\r\n".utf8)

    /// A world where `example.com` is fully set up; each test breaks one thing.
    func world() -> (FakeResolver, FakeFetcher) {
        var dns = FakeResolver()
        dns.txt("_mta-sts.example.com", ["v=STSv1; id=abc1;"])
        dns.a("mta-sts.example.com", [[192, 0, 2, 10]])
        var http = FakeFetcher()
        http.results["mta-sts.example.com"] = .body(Self.goodPolicy)
        return (dns, http)
    }

    func discover(_ dns: FakeResolver, _ http: FakeFetcher, _ domain: String = "example.com") async throws -> DiscoveryResult {
        await PolicyDiscovery(resolver: dns, fetcher: http).discover(try DomainName(domain))
    }

    @Test("A valid record and policy: outcome valid, with the record id and the policy")
    func valid() async throws {
        let (dns, http) = world()
        let r = try await discover(dns, http, "Example.COM.")
        #expect(r.outcome == .valid)
        #expect(r.record?.id == "abc1")
        #expect(r.policy?.mode == .enforce)
        #expect(r.policyBody == Self.goodPolicy)
        #expect(r.steps.map(\.question) == ["TXT _mta-sts.example.com", "A mta-sts.example.com", "AAAA mta-sts.example.com",
                                             "GET https://mta-sts.example.com/.well-known/mta-sts.txt at 192.0.2.10"])
        #expect(r.outcome.tlsrptResultType == nil)
    }

    @Test("TXT outcomes (C8, C56, L57–L61)", arguments: [
        (["v=spf1 -all"], DiscoveryOutcome.noRecord, "record-none"),
        (["v=STSv1; id=a1;", "v=STSv1; id=a2;"], .multipleRecords, "record-multiple"),
        (["v=STSv1; id=bad-id"], .recordInvalid, "record-id-invalid"),
        (["v=spf1 -all", "v=STSv1; id=ok1"], .valid, ""),
    ])
    func txtOutcomes(_ records: [String], _ outcome: DiscoveryOutcome, _ code: String) async throws {
        var (dns, http) = world()
        dns.txt("_mta-sts.example.com", records)
        let r = try await discover(dns, http)
        #expect(r.outcome == outcome)
        if !code.isEmpty { #expect(r.error?.code.description == code) }
        if outcome != .valid { #expect(r.policy == nil && r.steps.count == 1, "no fetch without a usable record") }
    }

    @Test("NXDOMAIN and NODATA are no-record; SERVFAIL and bogus are dns-error (C56)")
    func dnsOutcomes() async throws {
        var (dns, http) = world()
        dns.answers["_mta-sts.example.com"] = nil
        #expect(try await discover(dns, http).error?.code == .txtNXDomain)
        dns.set("_mta-sts.example.com", .a, DNSAnswer(.records([[1, 2, 3, 4]])))
        #expect(try await discover(dns, http).error?.code == .txtNoData)
        dns.set("_mta-sts.example.com", .txt, DNSAnswer(.failure("SERVFAIL")))
        let failed = try await discover(dns, http)
        #expect(failed.outcome == .dnsError && failed.error?.code == .dnsFailure)
        dns.set("_mta-sts.example.com", .txt, DNSAnswer(.failure("DNSSEC bogus: sig"), dnssec: .bogus(reason: "sig")))
        let bogus = try await discover(dns, http)
        #expect(bogus.outcome == .dnsError && bogus.recordDNSSEC == .bogus(reason: "sig"))
    }

    @Test("C13 a CNAME-delegated record is used and shown; the fetch still goes to mta-sts.<our domain>")
    func cnameDelegation() async throws {
        var (dns, http) = world()
        dns.txt("_mta-sts.example.com", ["v=STSv1; id=prov1;"], canonical: "_mta-sts.mx.provider.net")
        let r = try await discover(dns, http)
        #expect(r.outcome == .valid && r.record?.id == "prov1")
        #expect(r.steps[0].answer.contains("via CNAME to _mta-sts.mx.provider.net"))
        #expect(r.steps.last?.question.contains("https://mta-sts.example.com/") == true)
    }

    @Test("C9 a long TXT record split into several strings is joined without spaces")
    func splitRecord() async throws {
        var (dns, http) = world()
        let id = String(repeating: "a", count: 32)
        dns.txt("_mta-sts.example.com", ["v=STSv1; id=\(id); ext=" + String(repeating: "x", count: 250)])
        let r = try await discover(dns, http)
        #expect(r.record?.id == id)
    }

    @Test("Policy host resolution: NXDOMAIN is host-not-found, failures are host-dns-failure, AAAA alone works")
    func policyHost() async throws {
        var (dns, http) = world()
        dns.answers["mta-sts.example.com"] = nil
        let missing = try await discover(dns, http)
        #expect(missing.outcome == .fetchError && missing.error?.code == .fetch(.hostNotFound))
        #expect(missing.outcome.tlsrptResultType == "sts-policy-fetch-error")
        dns.set("mta-sts.example.com", .a, DNSAnswer(.failure("SERVFAIL")))
        dns.set("mta-sts.example.com", .aaaa, DNSAnswer(.failure("timeout")))
        #expect(try await discover(dns, http).error?.code == .hostDNSFailure)
        dns.set("mta-sts.example.com", .a, DNSAnswer(.nodata))
        dns.set("mta-sts.example.com", .aaaa, DNSAnswer(.records([[0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1]])))
        let v6 = try await discover(dns, http)
        #expect(v6.outcome == .valid)
        #expect(v6.steps.last?.question.hasSuffix("at 2001:db8::1") == true)
    }

    @Test("Fetch failures map to TLS-RPT result types; certificate failures are webpki-invalid (C34, C96)")
    func fetchFailures() async throws {
        var (dns, http) = world()
        _ = dns
        http.results["mta-sts.example.com"] = .failure(.status(404))
        var r = try await discover(dns, http)
        #expect(r.outcome == .fetchError && r.error?.code == .fetch(.httpStatus))
        http.results["mta-sts.example.com"] = .failure(FetchFailure(code: .tlsCertificateExpired, message: "expired"))
        r = try await discover(dns, http)
        #expect(r.outcome == .webpkiInvalid && r.outcome.tlsrptResultType == "sts-webpki-invalid")
    }

    @Test("An invalid body is policy-invalid with the parser's diagnostics; blank lines are tolerated (C31, C55)")
    func policyBodies() async throws {
        var (dns, http) = world()
        http.results["mta-sts.example.com"] = .body(Array("<html>not found</html>".utf8))
        var r = try await discover(dns, http)
        #expect(r.outcome == .policyInvalid && r.outcome.tlsrptResultType == "sts-policy-invalid")
        #expect(r.error?.code == .policy(.policyNoColon))
        #expect(r.policyBody != nil, "the raw text is kept")
        http.results["mta-sts.example.com"] = .body(Self.goodPolicy + [0x0D, 0x0A])
        r = try await discover(dns, http)
        #expect(r.outcome == .valid)
        #expect(r.diagnostics.contains { $0.code == .policyBlankLine && $0.severity == .warning })
        _ = dns
    }
}

@Suite("DNS rdata and HTTP helpers")
struct RecordDataTests {
    @Test func txt() {
        #expect(DNSRecordData.txt([3] + Array("abc".utf8) + [2] + Array("de".utf8)) == Array("abcde".utf8))
        #expect(DNSRecordData.txt([0]) == [])
        #expect(DNSRecordData.txt([5, 1]) == nil)
    }

    @Test func mx() {
        let rdata: [UInt8] = [0, 10, 3] + Array("mx1".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0]
        #expect(DNSRecordData.mx(rdata)?.preference == 10)
        #expect(DNSRecordData.mx(rdata)?.host == "mx1.example.com")
        #expect(DNSRecordData.mx([0, 0, 0])?.host == ".")
        #expect(DNSRecordData.mx([0, 10, 9, 1]) == nil)
    }

    @Test("IP addresses print in RFC 5952 form", arguments: [
        ([192, 0, 2, 1], "192.0.2.1"),
        ([0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1], "2001:db8::1"),
        (Array(repeating: 0, count: 15) + [1], "::1"),
        (Array(repeating: 0, count: 16), "::"),
        ([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1], "2001:db8:0:1:1:1:1:1"),
        ([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], "2001:db8::1:0:0:1"),
    ] as [([UInt8], String)])
    func addresses(_ bytes: [UInt8], _ text: String) {
        #expect(IPAddress(bytes: bytes)?.description == text)
    }

    @Test("C40 Content-Type text/plain with parameters ignored", arguments: [
        ("text/plain", true), ("text/plain; charset=utf-8", true), ("TEXT/Plain;charset=us-ascii", true), (" text/plain ; x=y", true),
        ("text/html", false), ("text/plainx", false), ("application/octet-stream", false), ("", false), ("text/json", false),
    ])
    func contentType(_ value: String, _ ok: Bool) { #expect(FetchFailure.isTextPlain(value) == ok) }
}
