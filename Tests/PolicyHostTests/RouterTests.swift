import MTASTSCore
@testable import MTASTSPolicyHost
import Testing

@Suite("Routing by Host and path (RFC 8461 §3.2, checklist L107)")
struct RouterTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let method: String, uri: String, hosts: [String], want: Router.Decision, why: String
        var testDescription: String { "\(method) \(uri) Host=\(hosts): \(why)" }
    }

    static let known: Set<String> = ["mta-sts.example.com", "mta-sts.xn--bcher-kva.example"]

    static let cases: [Case] = [
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: ["mta-sts.example.com"], want: .policy("mta-sts.example.com"), why: "the policy"),
        Case(method: "HEAD", uri: "/.well-known/mta-sts.txt", hosts: ["mta-sts.example.com"], want: .policy("mta-sts.example.com"), why: "HEAD too"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: ["MTA-STS.Example.COM:443"], want: .policy("mta-sts.example.com"), why: "port stripped, case-insensitive"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: ["mta-sts.example.com."], want: .policy("mta-sts.example.com"), why: "trailing dot"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: ["mta-sts.bücher.example"], want: .policy("mta-sts.xn--bcher-kva.example"), why: "IDN to A-label"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt?x=1", hosts: ["mta-sts.example.com"], want: .policy("mta-sts.example.com"), why: "query ignored"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: ["mta-sts.other.com"], want: .response(404), why: "unknown host"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: ["127.0.4.1"], want: .response(404), why: "address as host"),
        Case(method: "GET", uri: "/", hosts: ["mta-sts.example.com"], want: .response(404), why: "other path"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt/", hosts: ["mta-sts.example.com"], want: .response(404), why: "no redirect to the canonical path"),
        Case(method: "GET", uri: "/.well-known/../.well-known/mta-sts.txt", hosts: ["mta-sts.example.com"], want: .response(404), why: "no path normalisation"),
        Case(method: "POST", uri: "/.well-known/mta-sts.txt", hosts: ["mta-sts.example.com"], want: .response(405), why: "other method"),
        Case(method: "DELETE", uri: "/.well-known/mta-sts.txt", hosts: ["mta-sts.example.com"], want: .response(405), why: "other method"),
        Case(method: "GET", uri: "http://mta-sts.example.com/.well-known/mta-sts.txt", hosts: ["mta-sts.example.com"], want: .response(400), why: "absolute form: never a proxy"),
        Case(method: "GET", uri: "https://evil.example/", hosts: ["mta-sts.example.com"], want: .response(400), why: "absolute form to elsewhere"),
        Case(method: "CONNECT", uri: "evil.example:443", hosts: ["evil.example:443"], want: .response(400), why: "CONNECT: never a tunnel"),
        Case(method: "OPTIONS", uri: "*", hosts: ["mta-sts.example.com"], want: .response(400), why: "asterisk form"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: [], want: .response(400), why: "no Host"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: ["mta-sts.example.com", "mta-sts.example.com"], want: .response(400), why: "two Hosts"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: ["mta-sts.example.com:x"], want: .response(400), why: "bad port"),
        Case(method: "GET", uri: "/.well-known/mta-sts.txt", hosts: ["[::1]:443"], want: .response(400), why: "IPv6 literal"),
        Case(method: "GET", uri: "/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", hosts: ["mta-sts.example.com:80"],
             want: .challenge(host: "mta-sts.example.com", token: "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"), why: "http-01 (RFC 8555 §8.3)"),
        Case(method: "HEAD", uri: "/.well-known/acme-challenge/a-b_c", hosts: ["mta-sts.example.com"],
             want: .challenge(host: "mta-sts.example.com", token: "a-b_c"), why: "http-01, HEAD"),
        Case(method: "GET", uri: "/.well-known/acme-challenge/a-b_c?x", hosts: ["mta-sts.example.com"],
             want: .challenge(host: "mta-sts.example.com", token: "a-b_c"), why: "http-01, query ignored"),
        Case(method: "GET", uri: "/.well-known/acme-challenge/", hosts: ["mta-sts.example.com"], want: .response(404), why: "http-01 without a token"),
        Case(method: "GET", uri: "/.well-known/acme-challenge/a/../b", hosts: ["mta-sts.example.com"], want: .response(404), why: "not a base64url token"),
        Case(method: "GET", uri: "/.well-known/acme-challenge/abc=", hosts: ["mta-sts.example.com"], want: .response(404), why: "padding is not base64url"),
        Case(method: "POST", uri: "/.well-known/acme-challenge/abc", hosts: ["mta-sts.example.com"], want: .response(404), why: "http-01 is GET only"),
        Case(method: "GET", uri: "/.well-known/acme-challenge/abc", hosts: ["mta-sts.other.com"],
             want: .challenge(host: "mta-sts.other.com", token: "abc"), why: "http-01 on a name not configured yet: a fleet's rolling change (404 unless pending)"),
    ]

    @Test(arguments: cases)
    func decide(_ c: Case) {
        #expect(Router.decide(method: c.method, uri: c.uri, hosts: c.hosts, knownHost: Self.known.contains) == c.want)
    }
}
