import MTASTSCore
import MTASTSDiscovery
import PostfixSocketmap
import Testing
@testable import MTASTSResolverDaemon

/// The line query mode's fields (docs/exim.md): the mode exactly as the socketmap decides, and the policy's fields.
@Suite("Line query replies (Exim)")
struct LineReplyTests {
    let domain = try! DomainName("example.com")

    func cached(_ mode: String, _ mx: [String]) -> PolicyCache.Decision {
        let text = "version: STSv1\nmode: \(mode)\n" + mx.map { "mx: \($0)\n" }.joined() + "max_age: 86400\n"
        let policy = STSPolicy.parse(text).policy!
        return .policy(CachedPolicy(domain: domain, id: "20240101", policy: policy, body: Array(text.utf8), fetchedAt: 1000, lastUsed: 1000))
    }

    func dane(_ regime: DANEStatus.Regime) -> DANEStatus { DANEStatus(regime: regime, mx: .secure, hosts: [], reason: "bogus \"TLSA\"\\", ttl: 300) }

    @Test("enforce: mode, the policy's fields, mx for logs and mx_re of the host patterns")
    func enforce() {
        let line = LineReply.render(cached("enforce", ["mail.example.com", "*.mx.example.net"]), dane: nil, options: ZoneOptions(), now: 2000)
        #expect(line == "mode=enforce policy_domain=example.com id=20240101 max_age=86400 expires=87400 mx=mail.example.com:*.mx.example.net"
                + " mx_re=^(mail[.]example[.]com|[^.]+[.]mx[.]example[.]net)$")
    }

    @Test("testing stays testing (enforce with strict_testing); none keeps its fields; no policy → mode=none")
    func modes() {
        #expect(LineReply.render(cached("testing", ["a.example"]), dane: nil, options: ZoneOptions(), now: 0).hasPrefix("mode=testing policy_domain="))
        var strict = ZoneOptions()
        strict.strictTesting = true
        #expect(LineReply.render(cached("testing", ["a.example"]), dane: nil, options: strict, now: 0).hasPrefix("mode=enforce policy_domain="))
        #expect(LineReply.render(cached("none", []), dane: nil, options: ZoneOptions(), now: 0)
                == "mode=none policy_domain=example.com id=20240101 max_age=86400 expires=87400")
        #expect(LineReply.render(.none, dane: nil, options: ZoneOptions(), now: 0) == "mode=none")
    }

    @Test("DANE precedence as in the socketmap: dane-only (or dane), and temp with a clean quoted reason when undecidable")
    func dane() {
        #expect(LineReply.render(cached("enforce", ["a.example"]), dane: dane(.dane), options: ZoneOptions(), now: 0) == "mode=dane-only")
        var opportunistic = ZoneOptions()
        opportunistic.daneReply = .dane
        #expect(LineReply.render(cached("enforce", ["a.example"]), dane: dane(.dane), options: opportunistic, now: 0) == "mode=dane")
        #expect(LineReply.render(cached("enforce", ["a.example"]), dane: dane(.deferred), options: ZoneOptions(), now: 0)
                == "mode=temp reason=\"DANE cannot be evaluated for example.com: bogus TLSA\"")
        // DANE is only asked for enforced domains: testing never becomes dane-only.
        #expect(LineReply.render(cached("testing", ["a.example"]), dane: dane(.dane), options: ZoneOptions(), now: 0).hasPrefix("mode=testing"))
    }

    @Test("An enforce policy naming only addresses: temp, as the socketmap's TEMP; addresses never reach mx_re")
    func addresses() {
        #expect(LineReply.render(cached("enforce", ["192.0.2.1"]), dane: nil, options: ZoneOptions(), now: 0).hasPrefix("mode=temp reason=\"the MTA-STS policy of example.com names no MX host"))
        let mixed = LineReply.render(cached("enforce", ["192.0.2.1", "mail.example.com"]), dane: nil, options: ZoneOptions(), now: 0)
        #expect(mixed.hasSuffix(" mx=192.0.2.1:mail.example.com mx_re=^(mail[.]example[.]com)$"))
    }

    @Test("A reason loses quotes, backslashes and control characters, so the line stays one extractable field")
    func reasonQuoting() {
        #expect(LineReply.temp("a \"b\" \\c\nd\u{7f}") == "mode=temp reason=\"a b cd\"")
    }
}
