import Foundation
import MTASTSCore
import MTASTSDiscovery
import Testing
@testable import MTASTSChecker

/// Hand-made observations for the pure rules: a clean deployment of example.com, changed one thing at a time.
enum Fake {
    static let now: Int64 = 1_800_000_000
    static let domain = try! DomainName("example.com")
    static let mxHost = try! DomainName("mx1.example.com")
    static let hostAddress = IPAddress(bytes: [192, 0, 2, 1])!
    static let mxAddress = IPAddress(bytes: [192, 0, 2, 25])!
    static let policy = "version: STSv1\r\nmode: enforce\r\nmx: *.example.com\r\nmax_age: 604800\r\n"

    static func txt(_ texts: String...) -> DNSAnswer {
        DNSAnswer(.records(texts.map { [UInt8($0.utf8.count)] + Array($0.utf8) }), ttl: 300)
    }

    static func certificate(_ names: [String], problems: [CertificateReport.Problem] = [], days: Int64 = 60) -> CertificateReport {
        CertificateReport(subject: "CN=\(names.first ?? "")", issuer: "CN=Test CA", dnsNames: names, notBefore: now - 86400,
                          notAfter: now + days * 86400, chainLength: 2, problems: problems)
    }

    static func tls(_ names: [String], problems: [CertificateReport.Problem] = [], version: String = "TLSv1.3", days: Int64 = 60) -> TLSObservation {
        TLSObservation(version: version, chainDER: [[0x30]], certificate: certificate(names, problems: problems, days: days))
    }

    static func hostProbe(body: String = policy, address: IPAddress = hostAddress, elapsed: Duration = .milliseconds(5),
                          tls: Result<TLSObservation, ConnectionFailure>? = nil, fetch: PolicyFetchResult.Outcome? = nil) -> PolicyHostProbe {
        let outcome = fetch ?? .body(Array(body.utf8))
        return PolicyHostProbe(address: address, tls: tls ?? .success(self.tls(["mta-sts.example.com"])),
                               fetch: PolicyFetchResult(outcome, attempts: [.init(address: address, summary: "200 text/plain", elapsed: elapsed)]),
                               elapsed: elapsed)
    }

    static func smtp(_ failure: SMTPProbe.Failure? = nil, tls: TLSObservation? = Fake.tls(["mx1.example.com"]), ehloAfterTLS: Bool = true) -> SMTPProbe {
        SMTPProbe(address: mxAddress, port: 25, banner: "mx1.example.com ESMTP", ehloKeywords: ["PIPELINING", "STARTTLS"],
                  tls: failure == nil ? tls : nil, ehloAfterTLS: failure == nil && ehloAfterTLS, failure: failure)
    }

    /// A deployment with no finding above info.
    static func clean() -> Observations {
        Observations(domain: domain, now: now, txt: txt("v=STSv1; id=abc123;"),
                     hostAnswers: [.a: DNSAnswer(.records([hostAddress.bytes])), .aaaa: DNSAnswer(.nodata)],
                     hostProbes: [hostProbe()], mx: DNSAnswer(.records([[0, 10, 0]])),
                     mxHosts: [MXObservation(host: mxHost, preference: 10, addresses: [mxAddress], probes: [smtp()])],
                     tlsrpt: txt("v=TLSRPTv1; rua=mailto:tlsrpt@example.com"))
    }

    /// The MX host's DANE state as a DNSSEC-secure lookup found it.
    static func dane(_ tlsa: DANEStatus.TLSAState, regime: DANEStatus.Regime = .dane, mx: DANEStatus.MXState = .secure) -> DANEStatus {
        DANEStatus(regime: regime, mx: mx, hosts: [.init(name: mxHost.value, preference: 10, tlsa: tlsa)], reason: "test", ttl: 300)
    }

    /// DANE-EE, full certificate, SHA-256 of the fake chain's leaf `[0x30]`.
    static let matchingTLSA = TLSARecord(usage: 3, selector: 0, matchingType: 1, data: TLSAMatcher.digest([0x30], 1)!)
    static let otherTLSA = TLSARecord(usage: 3, selector: 0, matchingType: 1, data: Array(repeating: 7, count: 32))

    static func with(_ change: (inout Observations) -> Void) -> Observations {
        var o = clean()
        change(&o)
        return o
    }

    static func withSMTP(_ probe: SMTPProbe) -> Observations {
        with { $0.mxHosts[0].probes = [probe] }
    }

    static func withPolicy(_ text: String) -> Observations {
        with { $0.hostProbes = [hostProbe(body: text)] }
    }
}

/// One pure case: observations and the finding code they must produce.
struct RuleCase: CustomTestStringConvertible, Sendable {
    let code: String
    let observations: Observations
    var testDescription: String { code }

    init(_ code: FindingCode, _ observations: Observations) {
        self.code = code.rawValue
        self.observations = observations
    }
}

@Suite("Check rules (pure, with fakes)")
struct CheckRulesTests {
    static let cases: [RuleCase] = [
        RuleCase(.txtMissing, Fake.with { $0.txt = DNSAnswer(.nxdomain) }),
        RuleCase(.txtDNSFailure, Fake.with { $0.txt = DNSAnswer(.failure("SERVFAIL")) }),
        RuleCase(.txtAtApex, Fake.with { $0.txt = DNSAnswer(.nodata); $0.apexTXT = Fake.txt("v=spf1 -all", "v=STSv1; id=x1;") }),
        RuleCase(.txtSPF, Fake.with { $0.txt = Fake.txt("v=spf1 -all") }),
        RuleCase(.txtCNAME, Fake.with { $0.txt.canonicalName = "_mta-sts.provider.example" }),
        RuleCase(.hostDNSFailure, Fake.with { $0.hostAnswers[.a] = DNSAnswer(.failure("SERVFAIL")); $0.hostProbes = [] }),
        RuleCase(.hostNoAddress, Fake.with { $0.hostAnswers = [.a: DNSAnswer(.nxdomain), .aaaa: DNSAnswer(.nxdomain)]; $0.hostProbes = [] }),
        RuleCase(.hostConnectFailed, Fake.with {
            $0.hostProbes = [Fake.hostProbe(tls: .failure(.connect("Connection refused")),
                                            fetch: .failure(FetchFailure(code: .connectFailed, message: "refused")))]
        }),
        RuleCase(.hostTLSFailed, Fake.with { $0.hostProbes = [Fake.hostProbe(tls: .failure(.handshake("WRONG_VERSION_NUMBER")))] }),
        RuleCase(.hostTLSVersion, Fake.with { $0.hostProbes = [Fake.hostProbe(tls: .success(Fake.tls(["mta-sts.example.com"], version: "TLSv1.1")))] }),
        RuleCase(.hostCertExpired, Fake.with { $0.hostProbes = [Fake.hostProbe(tls: .success(Fake.tls(["mta-sts.example.com"], problems: [.expired], days: -2)))] }),
        RuleCase(.hostCertNotYetValid, Fake.with { $0.hostProbes = [Fake.hostProbe(tls: .success(Fake.tls(["mta-sts.example.com"], problems: [.notYetValid])))] }),
        RuleCase(.hostCertSelfSigned, Fake.with { $0.hostProbes = [Fake.hostProbe(tls: .success(Fake.tls(["mta-sts.example.com"], problems: [.selfSigned])))] }),
        RuleCase(.hostCertUntrusted, Fake.with { $0.hostProbes = [Fake.hostProbe(tls: .success(Fake.tls(["mta-sts.example.com"], problems: [.untrusted])))] }),
        RuleCase(.hostCertName, Fake.with { $0.hostProbes = [Fake.hostProbe(tls: .success(Fake.tls(["www.example.com"], problems: [.nameMismatch])))] }),
        RuleCase(.hostCertExpiring, Fake.with { $0.hostProbes = [Fake.hostProbe(tls: .success(Fake.tls(["mta-sts.example.com"], days: 3)))] }),
        RuleCase(.hostHTTPStatus, Fake.with { $0.hostProbes = [Fake.hostProbe(fetch: .failure(.status(404)))] }),
        RuleCase(.hostHTTPRedirect, Fake.with { $0.hostProbes = [Fake.hostProbe(fetch: .failure(.redirect(301, location: "https://x/")))] }),
        RuleCase(.hostContentType, Fake.with { $0.hostProbes = [Fake.hostProbe(fetch: .failure(.contentType("text/html")))] }),
        RuleCase(.hostTooLarge, Fake.with { $0.hostProbes = [Fake.hostProbe(fetch: .failure(.tooLarge(limit: 65536)))] }),
        RuleCase(.hostTimeout, Fake.with { $0.hostProbes = [Fake.hostProbe(fetch: .failure(.timeout(.seconds(5))))] }),
        RuleCase(.hostHTTPError, Fake.with { $0.hostProbes = [Fake.hostProbe(fetch: .failure(FetchFailure(code: .httpError, message: "bad HTTP")))] }),
        RuleCase(.hostSlow, Fake.with { $0.hostProbes = [Fake.hostProbe(elapsed: .seconds(2))] }),
        RuleCase(.hostInconsistent, Fake.with {
            $0.hostProbes = [Fake.hostProbe(), Fake.hostProbe(body: Fake.policy.replacingOccurrences(of: "604800", with: "86400"),
                                                             address: IPAddress(bytes: [192, 0, 2, 2])!)]
        }),
        RuleCase(.hostNoSNI, Fake.with { $0.hostProbes[0].withoutSNI = .success(Fake.tls(["default.example.net"])) }),
        RuleCase(.smtpSNIRequired, Fake.with { $0.mxHosts[0].probes[0].withoutSNI = .failure(.handshake("SSLV3_ALERT_HANDSHAKE_FAILURE")) }),
        RuleCase(.smtpProbesCapped, Fake.with {
            $0.mxHosts.append(MXObservation(host: try! DomainName("mx2.example.com"), preference: 20, addresses: [Fake.mxAddress],
                                            unprobed: [Fake.mxAddress]))
        }),
        RuleCase(.addressNotPublic, Fake.withSMTP(Fake.smtp(.connection(.notPublic)))),
        RuleCase(.mxDNSFailure, Fake.with { $0.mx = DNSAnswer(.failure("SERVFAIL")); $0.mxHosts = [] }),
        RuleCase(.mxImplicit, Fake.with { $0.mx = DNSAnswer(.nodata); $0.mxHosts[0].host = Fake.domain }),
        RuleCase(.mxNull, Fake.with { $0.mxHosts = [] }),
        RuleCase(.mxNotCovered, Fake.with { $0.mxHosts[0].host = try! DomainName("mx.other.net") }),
        RuleCase(.mxPatternUnused, Fake.withPolicy("version: STSv1\nmode: enforce\nmx: *.example.com\nmx: old.example.net\nmax_age: 86400\n")),
        RuleCase(.mxNoAddress, Fake.with { $0.mxHosts[0].addresses = []; $0.mxHosts[0].probes = [] }),
        RuleCase(.smtpConnectFailed, Fake.withSMTP(Fake.smtp(.connection(.connect("Connection refused"))))),
        RuleCase(.smtpProtocol, Fake.withSMTP(Fake.smtp(.protocolError("the greeting was `554 go away`, not 220")))),
        RuleCase(.smtpStartTLSMissing, Fake.withSMTP(Fake.smtp(.starttlsMissing))),
        RuleCase(.smtpStartTLSRefused, Fake.withSMTP(Fake.smtp(.starttlsRefused("454 4.7.0 TLS not available")))),
        RuleCase(.smtpStartTLSInjection, Fake.withSMTP(Fake.smtp(.injection("250 injected")))),
        RuleCase(.smtpTLSFailed, Fake.withSMTP(Fake.smtp(.connection(.handshake("HANDSHAKE_FAILURE"))))),
        RuleCase(.smtpTLSVersion, Fake.withSMTP(Fake.smtp(tls: Fake.tls(["mx1.example.com"], version: "TLSv1")))),
        RuleCase(.smtpCertExpired, Fake.withSMTP(Fake.smtp(tls: Fake.tls(["mx1.example.com"], problems: [.expired], days: -1)))),
        RuleCase(.smtpCertNotYetValid, Fake.withSMTP(Fake.smtp(tls: Fake.tls(["mx1.example.com"], problems: [.notYetValid])))),
        RuleCase(.smtpCertSelfSigned, Fake.withSMTP(Fake.smtp(tls: Fake.tls(["mx1.example.com"], problems: [.selfSigned])))),
        RuleCase(.smtpCertUntrusted, Fake.withSMTP(Fake.smtp(tls: Fake.tls(["mx1.example.com"], problems: [.untrusted])))),
        RuleCase(.smtpCertName, Fake.withSMTP(Fake.smtp(tls: Fake.tls(["mail.other.net"], problems: [.nameMismatch])))),
        RuleCase(.smtpCertExpiring, Fake.withSMTP(Fake.smtp(tls: Fake.tls(["mx1.example.com"], days: 5)))),
        RuleCase(.tlsrptMissing, Fake.with { $0.tlsrpt = DNSAnswer(.nxdomain) }),
        RuleCase(.tlsrptDNSFailure, Fake.with { $0.tlsrpt = DNSAnswer(.failure("SERVFAIL")) }),
        RuleCase(.tlsrptMultiple, Fake.with { $0.tlsrpt = Fake.txt("v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com") }),
        RuleCase(.tlsrptInvalid, Fake.with { $0.tlsrpt = Fake.txt("v=TLSRPTv1;") }),
        RuleCase(.tlsrptRUAInvalid, Fake.with { $0.tlsrpt = Fake.txt("v=TLSRPTv1; rua=http://r.example.com/") }),
        RuleCase(.daneApplies, Fake.with { $0.dane = Fake.dane(.usable([Fake.matchingTLSA])) }),
        RuleCase(.daneMXBogus, Fake.with { $0.dane = Fake.dane(.notChecked, regime: .deferred, mx: .bogus("signature expired")) }),
        RuleCase(.daneTLSAFailed, Fake.with { $0.dane = Fake.dane(.failed("SERVFAIL"), regime: .deferred) }),
        RuleCase(.daneTLSAUnusable, Fake.with {
            $0.dane = Fake.dane(.unusable([TLSARecord(usage: 0, selector: 0, matchingType: 1, data: Array(repeating: 1, count: 32))]), regime: .mtaSTS)
        }),
        RuleCase(.daneTLSAMismatch, Fake.with { $0.dane = Fake.dane(.usable([Fake.otherTLSA])) }),
        RuleCase(.modeTesting, Fake.withPolicy("version: STSv1\r\nmode: testing\r\nmx: *.example.com\r\nmax_age: 86400\r\n")),
        RuleCase(.modeNone, Fake.withPolicy("version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n")),
        RuleCase(.verdictNoPolicy, Fake.with { $0.hostProbes = [Fake.hostProbe(fetch: .failure(.status(404)))] }),
        RuleCase(.verdictDefer, Fake.withSMTP(Fake.smtp(.starttlsMissing))),
        RuleCase(.verdictMXSkipped, Fake.with {
            $0.mxHosts.append(MXObservation(host: try! DomainName("mx2.example.com"), preference: 20, addresses: [Fake.mxAddress],
                                            probes: [Fake.smtp(.starttlsMissing)]))
        }),
    ]

    @Test("A clean deployment has no error or warning and delivers to its MX")
    func clean() {
        let report = CheckRules.evaluate(Fake.clean())
        #expect(report.findings.filter { $0.severity != .info }.isEmpty, "\(report.findings)")
        #expect(report.verdict.action == .deliver)
        #expect(report.verdict.deliverTo == ["mx1.example.com"])
        #expect(report.recordStatus == .valid)
    }

    @Test("The TLS-RPT status of the report: a DNS failure, an empty RRset and each selection",
          arguments: [
              (DNSAnswer(.failure("SERVFAIL")), RecordStatus.dnsFailure), (DNSAnswer(.nxdomain), .missing),
              (Fake.txt("v=spf1 -all"), .missing), (Fake.txt("v=TLSRPTv1;"), .invalid),
              (Fake.txt("v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"), .multiple),
              (Fake.txt("v=TLSRPTv1; rua=mailto:a@example.com"), .valid),
          ])
    func tlsrptStatus(_ answer: DNSAnswer, _ expected: RecordStatus) {
        let report = CheckRules.evaluate(Fake.with { $0.tlsrpt = answer })
        #expect(report.tlsrptStatus == expected)
        #expect(report.tlsrpt?.record?.rua == (expected == .valid ? ["mailto:a@example.com"] : nil))
    }

    @Test("Each finding code is produced by its observations", arguments: cases)
    func produces(_ c: RuleCase) {
        let findings = CheckRules.evaluate(c.observations).findings
        #expect(findings.contains { $0.code == c.code }, "\(c.code) not in \(findings.map(\.code))")
    }

    @Test("DANE: the presented certificate is matched against usable TLSA records per address; DANE-TA needs the anchor in the chain")
    func daneMatching() {
        let report = CheckRules.evaluate(Fake.with { $0.dane = Fake.dane(.usable([Fake.otherTLSA, Fake.matchingTLSA])) })
        let check = report.dane[Fake.mxHost]
        #expect(check?.matches.map { $0.address } == [Fake.mxAddress])
        #expect(check?.matches.first?.matched == Fake.matchingTLSA)
        #expect(!report.findings.contains { $0.code == "dane-tlsa-mismatch" })
        // The leaf alone never satisfies a DANE-TA record; an issuer in the chain does.
        let ta = TLSARecord(usage: 2, selector: 0, matchingType: 1, data: TLSAMatcher.digest([0x30], 1)!)
        #expect(TLSAMatcher.match([ta], chain: [[0x30]]) == nil)
        #expect(TLSAMatcher.match([ta], chain: [[0x31], [0x30]]) == ta)
        // Unusable records never match, even when the digest does.
        #expect(TLSAMatcher.match([TLSARecord(usage: 1, selector: 0, matchingType: 1, data: TLSAMatcher.digest([0x30], 1)!)], chain: [[0x30]]) == nil)
        // Without DNSSEC (--dnssec off) there is no DANE section.
        #expect(CheckRules.evaluate(Fake.clean()).dane.isEmpty)
    }

    @Test("Every finding carries its catalogue's RFC section and a fix")
    func findingShape() {
        for c in Self.cases {
            for f in CheckRules.evaluate(c.observations).findings {
                #expect(!f.rfc.isEmpty && !f.message.isEmpty && !f.subject.isEmpty, "\(f)")
                if let code = FindingCode(rawValue: f.code) { #expect(f.rfc == code.rfcSection) }
            }
        }
    }

    @Test("Uncovered MX: the minimal correct pattern is suggested (one label per `*`)")
    func suggestion() {
        let o = Fake.with {
            $0.hostProbes = [Fake.hostProbe(body: "version: STSv1\nmode: enforce\nmx: *.mx.microsoft\nmax_age: 86400\n")]
            $0.mxHosts[0].host = try! DomainName("tenant.h-v1.mx.microsoft")
        }
        let report = CheckRules.evaluate(o)
        let f = report.findings.first { $0.code == "mx-not-covered" }
        #expect(f?.fix == "add `mx: *.h-v1.mx.microsoft` to the policy (and change the id)")
        #expect(f?.severity == .error)
        #expect(report.verdict.action == .defer)
    }

    @Test("MX faults are errors under enforce, warnings under testing, notes under none")
    func modeScaling() {
        for (mode, severity) in [("enforce", Finding.Severity.error), ("testing", .warning), ("none", .info)] {
            var o = Fake.withSMTP(Fake.smtp(.starttlsMissing))
            o.hostProbes = [Fake.hostProbe(body: "version: STSv1\nmode: \(mode)\nmx: *.example.com\nmax_age: 86400\n")]
            let f = CheckRules.evaluate(o).findings.first { $0.code == "smtp-starttls-missing" }
            #expect(f?.severity == severity, "\(mode)")
        }
    }

    @Test("TLS-RPT records (RFC 8460 §3)", arguments: [
        ("v=TLSRPTv1; rua=mailto:tlsrpt@example.com", "record 1 0"),
        ("v=TLSRPTv1;rua=https://r.example/v1 , mailto:a@example.com", "record 2 0"),
        ("v=TLSRPTv1 ; rua=mailto:a@example.com; x-ext=1", "record 1 0"),
        ("v=TLSRPTv1; rua=http://r.example/", "record 1 1"),
        ("v=TLSRPTv1; rua=postmaster@example.com", "record 1 1"),
        ("v=TLSRPTv1;", "invalid"),
        ("v=TLSRPTv1; rua=", "invalid"),
        ("v=TLSRPTv1; rua=mailto:a@example.com,,", "invalid"),
        ("v=tlsrptv1; rua=mailto:a@example.com", "none"),
        ("v=TLSRPTv10; rua=mailto:a@example.com", "none"),
    ])
    func tlsrpt(_ text: String, _ expected: String) {
        let got: String
        switch TLSRPTRecord.select([text, "v=spf1 -all"]) {
        case .record(let r, let unusable): got = "record \(r.rua.count) \(unusable.count)"
        case .invalid: got = "invalid"
        case .none: got = "none"
        case .multiple: got = "multiple"
        }
        #expect(got == expected)
    }
}
