import Testing
@testable import MTASTSResolverDaemon

/// Issue 14, item 12: a negative duration, or zero where zero means nothing, is a configuration error naming the key.
@Suite("Resolver configuration: durations and numbers")
struct DurationConfigurationTests {
    /// Every duration key as YAML with `X` for the value, and whether 0 has a meaning there.
    static let keys: [(yaml: String, key: String, zeroMeans: Bool)] = [
        ("shutdown_timeout: X", "shutdown_timeout", true),
        ("cache_grace: X", "cache_grace", true),
        ("negative_cache_max: X", "negative_cache_max", true),
        ("failure_retry: X", "failure_retry", true),
        ("idle_timeout: X", "idle_timeout", false),
        ("dns_timeout: X", "dns_timeout", false),
        ("fetch_timeout: X", "fetch_timeout", false),
        ("refresh_interval: X", "refresh_interval", false),
        ("evict_after: X", "evict_after", false),
        ("proactive_policy_fetching: {interval: X}", "proactive_policy_fetching.interval", false),
        ("default_zone: {timeout: X}", "default_zone.timeout", false),
        ("zones: {reporting: {timeout: X}}", "zones.reporting.timeout", false),
    ]

    static let cases: [(String, String, String)] = keys.flatMap { k in
        (["-1", "-0.5", ".inf", "-.inf", ".nan", "1e10", "10000000000", "5s"] + (k.zeroMeans ? [] : ["0", "0.0"])).map { (k.yaml, k.key, $0) }
    }

    @Test("Refused with the key named", arguments: cases)
    func refused(_ yaml: String, _ key: String, _ value: String) {
        let text = yaml.replacingOccurrences(of: "X", with: value)
        do {
            _ = try ResolverConfiguration.parse(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.description.contains("\(key) must be a number of seconds"), "\(error.description)")
        }
    }

    @Test("Accepted: fractions, the upper bound, and 0 where it has a meaning", arguments: keys)
    func accepted(_ yaml: String, _ key: String, _ zeroMeans: Bool) throws {
        for value in ["0.25", "1000000000"] + (zeroMeans ? ["0"] : []) {
            _ = try ResolverConfiguration.parse(yaml.replacingOccurrences(of: "X", with: value))
        }
        #expect(try ResolverConfiguration.parse("idle_timeout: 2.5\ndefault_zone: {timeout: 0.5}").idleTimeout == 2.5)
    }
}

@Suite("Bundled resolver configuration")
struct BundledResolverConfigurationTests {
    @Test("contrib/resolver.yml parses, TLS-RPT attributes off in the default zone (Postfix < 3.10 refuses them)")
    func contrib() throws {
        let path = #filePath.replacingOccurrences(of: "Tests/ResolverDaemonTests/DurationConfigurationTests.swift", with: "contrib/resolver.yml")
        let c = try ResolverConfiguration.load(path: path)
        #expect(!c.defaultZone.tlsrpt && c.zones["tlsrpt"]?.tlsrpt == true)
    }
}
