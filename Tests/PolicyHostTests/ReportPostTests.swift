import Foundation
import Logging
import MTASTSCore
@testable import MTASTSPolicyHost
import MTASTSRuntime
import Testing

/// TLS reports by HTTPS POST (RFC 8460 §5.3) without sockets: which requests reach a report host, which bodies are
/// read, the `reports:` configuration, and what the store handle answers.
@Suite("Report POSTs: routing, body decisions, configuration, store")
struct ReportPostTests {
    static let policyHosts: Set<String> = ["mta-sts.example.com"]
    static let reportHosts: Set<String> = ["tlsrpt.example.com"]

    func decide(_ method: String, _ uri: String = "/", _ host: String = "tlsrpt.example.com") -> Router.Decision {
        Router.decide(method: method, uri: uri, hosts: [host], knownHost: Self.policyHosts.contains, reportHost: Self.reportHosts.contains)
    }

    @Test("A report host takes POST on any path (its name as the route key); every other method there is 405; policy hosts are unchanged")
    func routing() {
        #expect(decide("POST") == .report("tlsrpt.example.com"))
        #expect(decide("POST", "/v1/tlsrpt?x=1", "TLSRPT.example.com.:443") == .report("tlsrpt.example.com"))
        #expect(decide("GET") == .response(405))
        #expect(decide("HEAD", "/.well-known/mta-sts.txt") == .response(405))
        #expect(decide("PUT") == .response(405))
        // The strict rules come first: never a proxy, exactly one Host.
        #expect(decide("POST", "https://tlsrpt.example.com/") == .response(400))
        #expect(Router.decide(method: "POST", uri: "/", hosts: ["tlsrpt.example.com", "tlsrpt.example.com"],
                              knownHost: Self.policyHosts.contains, reportHost: Self.reportHosts.contains) == .response(400))
        // A policy host never takes a body; unknown names stay 404.
        #expect(decide("POST", "/.well-known/mta-sts.txt", "mta-sts.example.com") == .response(405))
        #expect(decide("GET", "/.well-known/mta-sts.txt", "mta-sts.example.com") == .policy("mta-sts.example.com"))
        #expect(decide("POST", "/", "other.example.com") == .response(404))
    }

    func head(length: UInt64? = 100, chunked: Bool = false, type: String? = "application/tlsrpt+gzip") -> RequestHead {
        RequestHead(method: "POST", target: "/", isHTTP11: true, hosts: ["tlsrpt.example.com"], keepAlive: true, hasBody: true,
                    contentLength: length, transferEncoding: chunked, contentType: type)
    }

    @Test("The body is read only with a Content-Length within the cap and a report media type; else 411, 413 or 415 on the head alone")
    func bodyDecision() {
        #expect(ReportPost.decide(head(), maxBody: 100) == .read(100))
        #expect(ReportPost.decide(head(length: 0), maxBody: 100) == .read(0))
        #expect(ReportPost.decide(head(type: "application/tlsrpt+json; charset=utf-8"), maxBody: 100) == .read(100))
        #expect(ReportPost.decide(head(type: " Application/TLSRPT+JSON "), maxBody: 100) == .read(100))
        #expect(ReportPost.decide(head(length: 101), maxBody: 100) == .refuse(.tooLarge))
        #expect(ReportPost.decide(head(length: 999_999_999_999), maxBody: 100) == .refuse(.tooLarge))
        #expect(ReportPost.decide(head(length: nil), maxBody: 100) == .refuse(.lengthRequired))
        #expect(ReportPost.decide(head(length: nil, chunked: true), maxBody: 100) == .refuse(.lengthRequired))
        for type in [nil, "", "application/json", "application/gzip", "application/tlsrpt", "text/plain", "application/tlsrpt+gzipx"] {
            #expect(ReportPost.decide(head(type: type), maxBody: 100) == .refuse(.unsupportedType), "\(type ?? "nil")")
        }
        #expect(ReportPost.Outcome.allCases.map(\.status) == [201, 200, 400, 411, 413, 415, 503])
    }

    @Test("reports: store, hosts (a list, or names with their own certificate), max_body; defaults")
    func configuration() throws {
        let base = "certificate: /d.pem\nkey: /d.key\ndomains:\n  example.com: {mode: testing, mx: [mx.example.com], max_age: 86400}\n"
        let list = try PolicyHostConfiguration.parse(base + "reports: {hosts: [TLSRPT.example.com]}")
        var expected = PolicyHostConfiguration.Reports()
        expected.hosts = [.init(name: try DomainName("tlsrpt.example.com"))]
        #expect(list.reports == expected)
        #expect(list.reports?.store == .sqlite(path: "/var/lib/mta-sts/reports.sqlite"))
        #expect(list.reports?.maxBody == 1_048_576)
        let full = try PolicyHostConfiguration.parse(base + """
            reports:
              store: postgres://u:p@db/reports
              max_body: 65536
              hosts:
                a.example.com: {certificate: /a.pem, key: /a.key}
                b.example.com:
            """)
        #expect(full.reports?.store == .postgres(url: "postgres://u:p@db/reports"))
        #expect(full.reports?.maxBody == 65536)
        #expect(full.reports?.hosts.map(\.name.value) == ["a.example.com", "b.example.com"])
        #expect(full.reports?.hosts.first?.certificate == .init(chain: "/a.pem", key: "/a.key"))
        #expect(full.reports?.hosts.last?.certificate == nil)
        #expect(try PolicyHostConfiguration.parse(base).reports == nil)
    }

    @Test("Bad reports: sections are refused with the key named",
          arguments: [("reports: {hosts: [a.example.com], path: /x}", "unknown key 'reports.path'"),
                      ("reports: {hosts: []}", "reports.hosts names no host"),
                      ("reports: {store: sqlite:/x}", "reports.hosts names no host"),
                      ("reports: {hosts: [a.example.com], store: memory}", "reports.store must be sqlite:PATH or postgres://"),
                      ("reports: {hosts: [a.example.com], store: /var/x.sqlite}", "reports.store must be sqlite:PATH or postgres://"),
                      ("reports: {hosts: [a.example.com], max_body: 0}", "reports.max_body must be 1 to 10485760"),
                      ("reports: {hosts: [a.example.com], max_body: 20000000}", "reports.max_body must be 1 to 10485760"),
                      ("reports: {hosts: [mta-sts.example.com]}", "is a policy host name"),
                      ("reports: {hosts: [a.example.com, A.example.com.]}", "listed twice"),
                      ("reports: {hosts: {a.example.com: {certificate: /a.pem}}}", "certificate and key go together"),
                      ("reports: {hosts: {a.example.com: {cert: /a.pem}}}", "unknown key 'reports.hosts.a.example.com.cert'"),
                      ("reports: {hosts: [\"a b\"]}", "reports.hosts:")])
    func refused(_ yaml: String, _ words: String) {
        let base = "certificate: /d.pem\nkey: /d.key\ndomains:\n  example.com: {mode: testing, mx: [mx.example.com], max_age: 86400}\n"
        #expect { try PolicyHostConfiguration.parse(base + yaml) } throws: { "\($0)".contains(words) }
    }

    static let report = """
        {"organization-name":"Sender","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},\
        "contact-info":"t@sender.example","report-id":"r-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},\
        "summary":{"total-successful-session-count":5,"total-failure-session-count":0}}]}
        """

    @Test("The store handle: created at the first POST; stored, then a duplicate; no report is 400 with the parser's reason; a store that cannot be opened is 503")
    func store() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reportpost-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sub/reports.sqlite").path
        let handle = ReportStoreHandle(setting: .sqlite(path: path))
        let logger = Logger(label: "test")
        #expect(!FileManager.default.fileExists(atPath: path))
        let first = await handle.receive(Array(Self.report.utf8), source: "test", logger: logger)
        #expect(first.0 == .stored && first.1 == "stored Sender r-1")
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(await handle.receive(Array(Self.report.utf8), source: "test", logger: logger).0 == .duplicate)
        let bad = await handle.receive(Array(#"{"organization-name":"x","report-id":"y"}"#.utf8), source: "test", logger: logger)
        #expect(bad.0 == .rejected)
        #expect(bad.1.hasPrefix("not a report: no `"), "\(bad.1)")
        let stored = try await handle.open(logger: logger).list()
        #expect(stored.map(\.reportID) == ["r-1"])
        #expect(try await handle.open(logger: logger).rejectionCount(since: nil) == 1)
        await handle.close()

        // A file where the directory should be: nothing can be opened, the sender is told to come back.
        let blocked = ReportStoreHandle(setting: .sqlite(path: "/etc/hostname/reports.sqlite"))
        let unavailable = await blocked.receive(Array(Self.report.utf8), source: "test", logger: logger)
        #expect(unavailable.0 == .storeUnavailable)
    }
}
