import MTASTSCore
import MTASTSDiscovery
import MTASTSStubDNS
import PostfixSocketmap
import Testing
@testable import MTASTSResolverDaemon

@Suite("Socketmap keys (RFC 8461 §3.4; rfc-checklist §2.2)")
struct PolicyKeyTests {
    @Test(arguments: [
        ("example.com", "example.com", "a recipient domain"),
        ("Example.COM.", "example.com", "C58 case-folded, trailing dot removed"),
        ("bücher.example", "xn--bcher-kva.example", "H78 U-label to A-label"),
        ("[relay.example.net]:587", "relay.example.net", "C14 smart host with port"),
        ("[relay.example.net]", "relay.example.net", "C14 smart host"),
        ("relay.example.net:25", "relay.example.net", "host:port next hop"),
    ])
    func domain(_ key: String, _ expected: String, _ why: String) throws {
        #expect(PolicyKey(key) == .domain(try DomainName(expected)), "\(why)")
    }

    @Test(arguments: [
        (".example.com", "C15 parent-domain probe"),
        (".com", "C15 parent-domain probe"),
        ("[192.0.2.1]", "C16 IPv4 literal"),
        ("[192.0.2.1]:25", "C16 IPv4 literal with port"),
        ("[IPv6:2001:db8::1]", "C16 IPv6 literal"),
        ("192.0.2.1", "C16 bare IPv4"),
        ("2001:db8::1", "C16 bare IPv6"),
        ("", "empty"),
        ("[unclosed", "garbage"),
        ("a b.example", "not a domain"),
        ("[x]:port", "bad port"),
    ])
    func skipped(_ key: String, _ why: String) {
        if case .domain = PolicyKey(key) { Issue.record("\(key) should be skipped: \(why)") }
    }
}

@Suite("Postfix replies (rfc-checklist §2.4)")
struct PostfixReplyTests {
    func policy(_ text: String) -> STSPolicy { STSPolicy.parse(text).policy! }
    let domain = try! DomainName("example.com")
    let enforceText = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.mx.example.net\nmx: mail.example.com.\nmax_age: 86400\n"

    @Test("enforce → secure match with patterns in policy order, *.x as .x, servername=hostname")
    func enforce() {
        let p = STSPolicy.parse(enforceText, reading: .sender).policy!
        #expect(PostfixPolicyReply.reply(for: p, domain: domain, options: ZoneOptions())
            == .ok("secure match=mail.example.com:.mx.example.net servername=hostname"))
        var noSNI = ZoneOptions()
        noSNI.requireSNI = false
        #expect(PostfixPolicyReply.reply(for: p, domain: domain, options: noSNI) == .ok("secure match=mail.example.com:.mx.example.net"))
    }

    @Test("C67 testing and C68 none → NOTFOUND; strict_testing enforces testing")
    func modes() {
        let testing = policy("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1\n")
        #expect(PostfixPolicyReply.reply(for: testing, domain: domain, options: ZoneOptions()) == .notFound)
        var strict = ZoneOptions()
        strict.strictTesting = true
        #expect(PostfixPolicyReply.reply(for: testing, domain: domain, options: strict) == .ok("secure match=a.example servername=hostname"))
        let none = policy("version: STSv1\nmode: none\nmax_age: 1\n")
        #expect(PostfixPolicyReply.reply(for: none, domain: domain, options: strict) == .notFound)
        #expect(PostfixPolicyReply.reply(for: .none, options: ZoneOptions(), now: 0) == .notFound)
    }

    @Test("tlsrpt: policy_type, policy_domain, raw mx_host_pattern and one policy_string per line (Postfix ≥ 3.10)")
    func tlsrpt() {
        var zone = ZoneOptions()
        zone.tlsrpt = true
        let p = policy("version: STSv1\nmode: enforce\nmx: *.mx.example.net\nmax_age: 86400\n")
        #expect(PostfixPolicyReply.reply(for: p, domain: domain, options: zone) == .ok(
            "secure match=.mx.example.net servername=hostname policy_type=sts policy_domain=example.com mx_host_pattern=*.mx.example.net"
                + " { policy_string = version: STSv1 } { policy_string = mode: enforce } { policy_string = mx: *.mx.example.net }"
                + " { policy_string = max_age: 86400 }"))
    }

    @Test("Replies never exceed Postfix's 100000 bytes: policy_string attributes are dropped first")
    func sizeCap() {
        var zone = ZoneOptions()
        zone.tlsrpt = true
        let many = (0..<3000).map { "mx: host\($0).mx.example.net" }.joined(separator: "\n")
        let p = policy("version: STSv1\nmode: enforce\n\(many)\nmax_age: 86400\n")
        guard case .ok(let data) = PostfixPolicyReply.reply(for: p, domain: domain, options: zone) else {
            Issue.record("expected OK")
            return
        }
        #expect(("OK " + data).utf8.count <= SocketmapReply.maxPayload)
        #expect(data.contains("host2999.mx.example.net") && !data.contains("policy_string"))
    }

    private func dane(_ regime: DANEStatus.Regime) -> DANEStatus {
        DANEStatus(regime: regime, mx: .secure, hosts: [], reason: "because", ttl: 300)
    }

    @Test("G71 DANE precedes MTA-STS: dane-only (or the zone's dane), TEMP when undecidable, MTA-STS otherwise")
    func danePrecedence() {
        let p = STSPolicy.parse(enforceText, reading: .sender).policy!
        #expect(PostfixPolicyReply.reply(for: p, domain: domain, dane: dane(.dane), options: ZoneOptions()) == .ok("dane-only"))
        var opportunistic = ZoneOptions()
        opportunistic.daneReply = .dane
        #expect(PostfixPolicyReply.reply(for: p, domain: domain, dane: dane(.dane), options: opportunistic) == .ok("dane"))
        #expect(PostfixPolicyReply.reply(for: p, domain: domain, dane: dane(.deferred), options: ZoneOptions())
                == .temp("DANE cannot be evaluated for example.com: because"))
        #expect(PostfixPolicyReply.reply(for: p, domain: domain, dane: dane(.mtaSTS), options: ZoneOptions())
                == PostfixPolicyReply.reply(for: p, domain: domain, options: ZoneOptions()))
        // A policy that does not change delivery leaves Postfix's own level (its own DANE included) in charge.
        let testing = policy("version: STSv1\nmode: testing\nmx: mail.example.com\nmax_age: 86400\n")
        #expect(PostfixPolicyReply.reply(for: testing, domain: domain, dane: dane(.dane), options: ZoneOptions()) == .notFound)
    }

    @Test("Same input, same bytes out")
    func deterministic() {
        let p = STSPolicy.parse(enforceText, reading: .sender).policy!
        let replies = (0..<50).map { _ in PostfixPolicyReply.reply(for: p, domain: domain, options: ZoneOptions()).frame }
        #expect(Set(replies).count == 1)
    }
}

@Suite("Resolver configuration (postfix-mta-sts-resolver keys)")
struct ConfigurationTests {
    @Test("A postfix-mta-sts-resolver configuration is read with its meaning")
    func pmsrConfig() throws {
        let c = try ResolverConfiguration.parse("""
            host: 127.0.0.1
            port: 8461
            reuse_port: true
            shutdown_timeout: 20
            cache:
              type: sqlite
              options:
                filename: "/var/lib/mta-sts/cache.db"
            default_zone:
              strict_testing: false
              timeout: 4
            zones:
              myzone:
                strict_testing: true
                timeout: 4
                tlsrpt: true
            proactive_policy_fetching:
              enabled: true
              interval: 86400
              concurrency_limit: 100
              grace_ratio: 2.0
            cache_grace: 60
            """)
        #expect(c.listen == .tcp(host: "127.0.0.1", port: 8461))
        #expect(c.cache == .sqlite(path: "/var/lib/mta-sts/cache.db"))
        #expect(c.zones["myzone"]?.strictTesting == true && c.zones["myzone"]?.tlsrpt == true)
        #expect(c.zones["myzone"]?.requireSNI == true, "zones inherit default_zone")
        #expect(c.defaultZone.timeout == .seconds(4))
        #expect(c.cacheSettings.revalidateAfter == 60)
        #expect(c.proactiveRefresh)
    }

    @Test("DNSSEC mode and the DANE reply level")
    func dnssecKeys() throws {
        let c = try ResolverConfiguration.parse("dnssec: validate\ndefault_zone:\n  dane_reply: dane\nzones:\n  strict:\n    dane_reply: dane-only\n")
        #expect(c.network.dnssec == .validate)
        #expect(c.defaultZone.daneReply == .dane && c.zones["strict"]?.daneReply == .daneOnly)
        #expect(try ResolverConfiguration.parse("port: 1").network.dnssec == nil, "unset: trust-ad, or validate with an anchor")
        #expect(throws: ResolverConfiguration.Invalid.self) { try ResolverConfiguration.parse("dnssec: maybe") }
        #expect(throws: ResolverConfiguration.Invalid.self) { try ResolverConfiguration.parse("default_zone:\n  dane_reply: may\n") }
    }

    @Test("A trust anchor selects validate; validate alone uses the root key; trust-ad with an anchor is refused")
    func dnssecResolution() throws {
        #expect(try DNSSECMode.resolve(mode: nil, anchor: nil) == (.trustAD, nil))
        #expect(try DNSSECMode.resolve(mode: nil, anchor: "/ta.key") == (.validate, "/ta.key"))
        #expect(try DNSSECMode.resolve(mode: .off, anchor: nil) == (.off, nil))
        #expect(throws: DNSSECMode.SetupError.self) { try DNSSECMode.resolve(mode: .trustAD, anchor: "/ta.key") }
    }

    @Test("A UNIX socket with an octal mode, the internal cache, and our extras")
    func extras() throws {
        let c = try ResolverConfiguration.parse("""
            path: /run/mta-sts.sock
            mode: 0660
            cache: {type: internal}
            dns_servers: [127.0.0.1:5300]
            ca_file: /etc/ssl/extra.pem
            metrics: {port: 9461}
            listen_threads: 2
            """)
        #expect(c.listen == .unix(path: "/run/mta-sts.sock", mode: 0o660, owner: nil, group: nil))
        #expect(c.listenThreads == 2)
        #expect(c.cache == .memory)
        #expect(c.network.dnsServers == ["127.0.0.1:5300"])
        #expect(c.metricsListen?.port == 9461 && c.metricsListen?.host == "127.0.0.1")
    }

    @Test("Defaults: 127.0.0.1:8461 and the SQLite store at its documented path")
    func defaults() throws {
        let c = try ResolverConfiguration.parse("")
        #expect(c.listen == .tcp(host: "127.0.0.1", port: 8461))
        #expect(c.cache == .sqlite(path: ResolverConfiguration.defaultSQLitePath))
        #expect(c.listenThreads == 1)
    }

    @Test("Mistakes are errors that name the key", arguments: [
        ("prot: 8461", "unknown key 'prot'"),
        ("default_zone: {strict_testin: true}", "unknown key 'default_zone.strict_testin'"),
        ("port: eighty", "port must be a whole number"),
        ("port: 70000", "out of range"),
        ("cache: {type: redis}", "'redis' is not supported"),
        ("cache: {type: postgres}", "needs cache.options.dsn"),
        ("[1, 2]", "must be a mapping"),
        ("mode: 0999\npath: /x", "file mode"),
        ("listen_threads: 0", "listen_threads must be 1 to 64"),
        ("listen_threads: -1", "listen_threads must be 1 to 64"),
        ("port: -1", "port -1 is out of range"),
        ("metrics: {port: 0}", "metrics.port 0 is out of range"),
        ("metrics: {port: 65536}", "metrics.port 65536 is out of range"),
        ("idle_timeout: -1", "idle_timeout must be a number of seconds, more than 0"),
    ])
    func errors(_ yaml: String, _ message: String) {
        do {
            _ = try ResolverConfiguration.parse(yaml)
            Issue.record("\(yaml) was accepted")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }
}

@Suite("Metrics exposition")
struct MetricsTests {
    @Test func exposition() {
        let m = ResolverMetrics(cacheSize: { 42 })
        m.count(.hit)
        m.count(.hit)
        m.record(.fetchFailed(try! DomainName("a.example"), id: "x", outcome: .webpkiInvalid, reason: "r"))
        m.record(.revalidated(try! DomainName("a.example")))
        let text = m.exposition()
        #expect(text.contains("mtasts_revalidations_total 1\n"))
        #expect(text.contains("mtasts_lookups_total{path=\"hit\"} 2\n"))
        #expect(text.contains("mtasts_policy_fetches_total{outcome=\"webpki-invalid\"} 1\n"))
        #expect(text.contains("mtasts_cached_policies 42\n"))
    }
}
