import Foundation
import MTASTSCore
@testable import MTASTSPolicyHost
import Testing

@Suite("Policy host configuration")
struct ConfigurationTests {
    func parse(_ yaml: String) throws -> PolicyHostConfiguration {
        try PolicyHostConfiguration.parse(yaml)
    }

    @Test("Static, file, proxy and default sources; every top-level key")
    func sources() throws {
        let c = try parse("""
            https: ["127.0.4.1:443", "[::1]:8443"]
            http: 127.0.0.1:8080
            admin: 127.0.0.1:9461
            certificate: /etc/default.pem
            key: /etc/default.key
            cache_control: max-age=300
            request_timeout: 5
            access_log: false
            dns_servers: 127.0.0.1:5300
            ca_file: /ca.pem
            proxy_refresh: 600
            proxy_retry: 30
            mx_guard_interval: 60
            file_check_interval: 2
            zone: {ttl: 600, addresses: [192.0.2.1, "2001:db8::1"]}
            default:
              proxy: https://mta-sts.provider.example/.well-known/mta-sts.txt
            domains:
              Example.COM:
                mode: enforce
                mx: [mx1.example.com, "*.mx.example.com"]
                max_age: 86400
                certificate: /etc/example.pem
                key: /etc/example.key
                tlsrpt: mailto:tlsrpt@example.com
              file.example: {file: /etc/file.txt}
              guarded.example: {proxy: "https://mta-sts.provider.example/.well-known/mta-sts.txt", mx_guard: true}
              customer.example:
            """)
        #expect(c.https == [.init(host: "127.0.4.1", port: 443), .init(host: "::1", port: 8443)])
        #expect(c.http == [.init(host: "127.0.0.1", port: 8080)] && c.admin == .init(host: "127.0.0.1", port: 9461))
        #expect(c.cacheControl == "max-age=300" && c.requestTimeout == 5 && !c.accessLog && c.network.dnsServers == ["127.0.0.1:5300"])
        #expect(c.zone.ttl == 600 && c.zone.addresses.count == 2)
        let example = try #require(c.domain(try DomainName("example.com")))
        guard case .fixed(let policy) = example.source else { Issue.record("not static"); return }
        #expect(policy.mode == .enforce && policy.maxAge == 86400 && policy.mx.map(\.description) == ["mx1.example.com", "*.mx.example.com"])
        #expect(example.certificate == .init(chain: "/etc/example.pem", key: "/etc/example.key") && !example.usesDefault)
        #expect(c.domain(try DomainName("file.example"))?.source == .file(path: "/etc/file.txt"))
        let provider = try DomainName("provider.example")
        #expect(c.domain(try DomainName("guarded.example"))?.source == .proxy(upstream: provider, mxGuard: true))
        let customer = try #require(c.domain(try DomainName("customer.example")))
        #expect(customer.source == .proxy(upstream: provider, mxGuard: false) && customer.usesDefault)
    }

    struct Bad: CustomTestStringConvertible, Sendable {
        let yaml: String, message: String
        var testDescription: String { message }
    }

    static let bad: [Bad] = [
        Bad(yaml: "domains: {a.example: {mode: enforce, mx: [mx.a.example], max_age: 86400, colour: red}}", message: "unknown key 'domains.a.example.colour'"),
        Bad(yaml: "domainz: {}", message: "unknown key 'domainz'"),
        Bad(yaml: "domains: {a.example: {mode: Enforce, mx: [mx.a.example], max_age: 86400}}", message: "policy-mode-invalid"),
        Bad(yaml: "domains: {a.example: {mode: enforce, max_age: 86400}}", message: "policy-mx-missing"),
        Bad(yaml: "domains: {a.example: {mode: enforce, mx: [mx*.a.example], max_age: 86400}}", message: "mx-wildcard-invalid"),
        Bad(yaml: "domains: {a.example: {mode: enforce, mx: [m.a.example], max_age: 31557601}}", message: "policy-max-age-too-large"),
        Bad(yaml: "domains: {a.example: {mode: enforce, mx: [m.a.example]}}", message: "max_age is missing"),
        Bad(yaml: "domains: {a.example: {mode: \"enforce\\nmx: evil\", mx: [m.a.example], max_age: 1}}", message: "single lines"),
        Bad(yaml: "domains: {a.example: }", message: "has no policy and there is no default"),
        Bad(yaml: "domains: {a.example: {file: /x, proxy: \"https://mta-sts.p.example/.well-known/mta-sts.txt\"}}", message: "give one of"),
        Bad(yaml: "domains: {a.example: {proxy: \"http://mta-sts.p.example/.well-known/mta-sts.txt\"}}", message: "proxy must be https://mta-sts."),
        Bad(yaml: "domains: {a.example: {proxy: \"https://p.example/.well-known/mta-sts.txt\"}}", message: "proxy must be https://mta-sts."),
        Bad(yaml: "domains: {a.example: {file: /x, mx_guard: true}}", message: "mx_guard applies to proxy only"),
        Bad(yaml: "domains: {\"a..example\": {file: /x}}", message: "not a valid domain name"),
        Bad(yaml: "domains: {a.example: {file: /x, certificate: /c.pem}}", message: "go together"),
        Bad(yaml: "https: 443\ndomains: {a.example: {file: /x}}", message: "must be a string"),
        Bad(yaml: "https: nohostport\ndomains: {a.example: {file: /x}}", message: "is not HOST:PORT"),
        Bad(yaml: "zone: {addresses: [mta-sts.example]}\ndomains: {a.example: {file: /x}}", message: "is not an IP address"),
        Bad(yaml: "domains: {a.example: {file: /x, tlsrpt: \"tlsrpt@a.example\"}}", message: "tlsrpt must be"),
        Bad(yaml: "request_timeout: 0\ndomains: {a.example: {file: /x}}", message: "more than 0"),
        Bad(yaml: "domains: {}", message: "no domains"),
        Bad(yaml: "- a\n- b", message: "top level must be a mapping"),
    ]

    @Test("Bad configurations are refused with a reason (a typo never changes what senders get)", arguments: bad)
    func refused(_ b: Bad) {
        do {
            _ = try parse(b.yaml)
            Issue.record("accepted")
        } catch {
            let e = error as? PolicyHostConfiguration.Invalid
            #expect(e?.description.contains(b.message) == true, "\(error)")
            #expect(e?.isIOError == false)
        }
    }

    static let durationKeys = ["request_timeout", "dns_timeout", "fetch_timeout", "proxy_refresh", "proxy_retry", "mx_guard_interval",
                               "file_check_interval"]

    @Test("Durations: 0, negative, infinite, NaN or beyond 10^9 s are refused with the key named (issue 14, item 12)",
          arguments: durationKeys, ["0", "-1", "-0.5", ".inf", ".nan", "1e10", "10000000000", "5s"])
    func durations(_ key: String, _ value: String) throws {
        let domains = "\ndomains: {a.example: {file: /x}}"
        do {
            _ = try parse("\(key): \(value)" + domains)
            Issue.record("\(key): \(value) accepted")
        } catch {
            #expect((error as? PolicyHostConfiguration.Invalid)?.description.contains("\(key) must be a number of seconds, more than 0") == true,
                    "\(error)")
        }
        _ = try parse("\(key): 0.25" + domains)
        _ = try parse("\(key): 1000000000" + domains)
    }

    @Test("zone.ttl is a DNS TTL: 0 to 2^31-1 (RFC 2181 §8)", arguments: ["-1", "2147483648"])
    func zoneTTL(_ value: String) throws {
        #expect(throws: PolicyHostConfiguration.Invalid.self) { try parse("zone: {ttl: \(value)}\ndomains: {a.example: {file: /x}}") }
        #expect(try parse("zone: {ttl: 0}\ndomains: {a.example: {file: /x}}").zone.ttl == 0)
    }

    @Test("A bad static policy carries the core parser's diagnostics")
    func diagnostics() {
        do {
            _ = try parse("domains: {a.example: {mode: enforce, mx: [\"mx.bücher.example\"], max_age: 86400}}")
            Issue.record("accepted")
        } catch {
            #expect((error as? PolicyHostConfiguration.Invalid)?.diagnostics.errors.map(\.code).contains(.mxULabel) == true)
        }
    }
}

@Suite("Bundled policy host configuration")
struct BundledConfigurationTests {
    @Test("contrib/serve.yml parses")
    func contrib() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let c = try PolicyHostConfiguration.load(path: root.appendingPathComponent("contrib/serve.yml").path)
        #expect(c.domains.count == 3 && c.domains.contains { $0.usesDefault })
    }
}
