import Testing
@testable import MTASTSCore

@Suite("MX matching (RFC 8461 §4.1) and domain names")
struct MatchingTests {
    struct Case: Sendable, CustomStringConvertible {
        let pattern: String, host: String, matches: Bool, why: String
        var description: String { why }
    }

    static let cases: [Case] = [
        .init(pattern: "a.example", host: "a.example", matches: true, why: "L64 exact"),
        .init(pattern: "*.b.example", host: "sub.b.example", matches: true, why: "C59 L65 one label"),
        .init(pattern: "*.b.example", host: "b.example", matches: false, why: "C59 L66 not the domain itself"),
        .init(pattern: "*.b.example", host: "sub.sub.b.example", matches: false, why: "C59 L67 never two labels"),
        .init(pattern: "a.example", host: "other", matches: false, why: "L68 unrelated"),
        .init(pattern: "example.org", host: "example.org.", matches: true, why: "L69 host trailing dot"),
        .init(pattern: "*.Example.COM", host: "MAIL.example.com", matches: true, why: "C59 case-insensitive"),
        .init(pattern: "*.example.org", host: "localhost", matches: false, why: "L70 host without dots"),
        .init(pattern: "*.example.org", host: "mx0.special.example.org", matches: false, why: "L71 two labels below"),
        .init(pattern: "special.example.org", host: "mx0.special.example.org", matches: false, why: "L71 exact is exact"),
        .init(pattern: "*.special.example.org", host: "mx0.special.example.org", matches: true, why: "L71 right depth"),
        .init(pattern: "*.com", host: "abc.com", matches: true, why: "L72 TLD wildcard matches (and is warned about)"),
        .init(pattern: "x.xn--aca-6ma.com", host: "x.ñaca.com", matches: true, why: "H79 L74 U-label host vs A-label pattern"),
        .init(pattern: "x.xn--aca-6ma.com", host: "X.ÑACA.com", matches: true, why: "L74 upper-case U-label"),
        .init(pattern: "x.xn--aca-6ma.com", host: "x.naca.com", matches: false, why: "L74 similar ASCII is different"),
        .init(pattern: "*.mx.microsoft", host: "icewolf-li.h-v1.mx.microsoft", matches: false, why: "L77 Microsoft's two labels"),
        .init(pattern: "*.h-v1.mx.microsoft", host: "icewolf-li.h-v1.mx.microsoft", matches: true, why: "L77 the correct pattern"),
        .init(pattern: "mail.example.com", host: "mail.example.com.evil.net", matches: false, why: "L81 anchored at both ends"),
        .init(pattern: "*.example.com", host: "a.b.example.com", matches: false, why: "L81 any-depth wildcard is wrong"),
        .init(pattern: "example.com", host: "example.com", matches: true, why: "C60 implicit MX: the domain itself"),
        .init(pattern: "*.example.com", host: "example.com", matches: false, why: "C60 implicit MX vs wildcard"),
    ]

    @Test(arguments: cases)
    func match(_ c: Case) throws {
        let (pattern, _) = MXPattern.parse(Array(c.pattern.utf8))
        let host = try DomainName(c.host)
        #expect(try #require(pattern).matches(host) == c.matches)
        let policy = STSPolicy(mode: .enforce, maxAge: 86400, mx: [pattern!])
        #expect(policy.match(host).isMatch == c.matches)
    }

    @Test("mx_re (the line query's anchored regular expression) decides every case as the policy's own match", arguments: cases)
    func anchoredRegex(_ c: Case) throws {
        let pattern = try #require(MXPattern.parse(Array(c.pattern.utf8)).0)
        let text = try #require(MXPattern.anchoredRegex([pattern]))
        #expect(!text.contains { "\\:;{}\"' ".contains($0) }, "safe inside Exim lists: \(text)")
        let regex = try Regex(text)
        let host = try DomainName(c.host).value
        #expect((try regex.wholeMatch(in: host) != nil) == c.matches, "\(text) vs \(host)")
    }

    @Test("mx_re of several patterns: any of them, each anchored; duplicates once; none → nil")
    func anchoredRegexMany() throws {
        let patterns = ["mx1.example.net", "*.mx.example.net", "mx1.example.net"].map { MXPattern.parse(Array($0.utf8)).0! }
        let text = try #require(MXPattern.anchoredRegex(patterns))
        #expect(text == "^(mx1[.]example[.]net|[^.]+[.]mx[.]example[.]net)$")
        let regex = try Regex(text)
        for (host, expected) in [("mx1.example.net", true), ("a.mx.example.net", true), ("a.b.mx.example.net", false),
                                 ("mx1.example.net.evil", false), ("mx1xexample.net", false), ("evil.test", false)] {
            #expect((try regex.firstMatch(in: host) != nil) == expected, "\(host)")
        }
        #expect(MXPattern.anchoredRegex([]) == nil)
    }

    @Test("Mismatches say why and suggest the smallest pattern that works")
    func explanation() throws {
        let policy = try #require(STSPolicy.parse("version: STSv1\nmode: enforce\nmx: *.mx.microsoft\nmax_age: 86400\n").policy)
        guard case .notMatched(let reason, let suggestion) = policy.match(try DomainName("icewolf-li.h-v1.mx.microsoft")) else {
            Issue.record("expected a mismatch")
            return
        }
        #expect(reason.contains("exactly one label"))
        #expect(suggestion?.description == "*.h-v1.mx.microsoft")
        guard case .notMatched(let r2, let s2) = policy.match(try DomainName("mx.microsoft")) else { return }
        #expect(r2.contains("not mx.microsoft itself"))
        #expect(s2?.description == "mx.microsoft")
    }

    @Test("H78 U-labels become A-labels; names are lowercased without a trailing dot (C17, C58)")
    func domainNames() throws {
        #expect(try DomainName("Bücher.Example.").value == "xn--bcher-kva.example")
        #expect(try DomainName("Example.COM.") == DomainName("example.com"))
        #expect(try DomainName("mail.example.com").prefixed(by: "_mta-sts") == "_mta-sts.mail.example.com")
        for bad in ["", ".", "a..b", "-a.example", "a-.example", "a_b.example", String(repeating: "a", count: 64) + ".example",
                    String(repeating: "abcdefghi.", count: 26), "a b.example"] {
            #expect(throws: DomainName.Invalid.self, "\(bad)") { try DomainName(bad) }
        }
        // L75: a huge name with a full-width character fails cleanly.
        #expect(throws: DomainName.Invalid.self) { try DomainName(String(repeating: "a", count: 65536) + "\u{FF41}") }
    }
}

@Suite("Certificate DNS-ID matching (RFC 8461 §3.3, §4.2; RFC 9525 §6.3)")
struct CertificateIdentityTests {
    @Test("C34 C35 C61 C79 C80 C81", arguments: [
        ("mta-sts.example.com", "mta-sts.example.com", true, "exact"),
        ("MTA-STS.Example.COM.", "mta-sts.example.com", true, "case and trailing dot"),
        ("*.example.com", "mta-sts.example.com", true, "C34 whole-label wildcard"),
        ("*.example.com", "example.com", false, "a wildcard never matches the base"),
        ("*.example.com", "a.b.example.com", false, "C80 a wildcard matches one label"),
        ("mta*.example.com", "mta-sts.example.com", false, "C35 C80 partial-label wildcard"),
        ("*mta.example.com", "xmta.example.com", false, "C80 partial-label wildcard, other side"),
        ("mta-sts.*.com", "mta-sts.example.com", false, "wildcard not leftmost"),
        ("*.*.example.com", "a.b.example.com", false, "two wildcards"),
        ("*", "localhost", false, "bare star"),
        ("*.com", "example.com", false, "wildcard above a TLD"),
        ("www.example.com", "mta-sts.example.com", false, "C61 another name"),
        ("mta-sts.example.com.evil.net", "mta-sts.example.com", false, "anchored"),
        ("*.xn--bcher-kva.example", "mx.bücher.example", true, "C79 A-label comparison with a U-label host"),
        ("*.bücher.example", "mx.xn--bcher-kva.example", false, "a U-label SAN is not a DNS-ID"),
        ("", "example.com", false, "empty"),
    ])
    func match(_ san: String, _ host: String, _ expected: Bool, _ why: String) throws {
        #expect(CertificateIdentity.matches(san, host: try DomainName(host)) == expected, "\(why)")
    }

    @Test("C81 only the SAN list counts: no names, no match")
    func noNames() throws {
        #expect(!CertificateIdentity.covers([], host: try DomainName("mta-sts.example.com")))
        #expect(CertificateIdentity.covers(["a.example.com", "*.example.com"], host: try DomainName("mta-sts.example.com")))
    }
}
