import MTASTSCore
import MTASTSDiscovery
import Testing
@testable import MTASTSChecker

/// One mapping of ReportRecheck.rules: a TLS-RPT result type and a finding code that means it now.
struct RecheckMapping: CustomTestStringConvertible, Sendable {
    let resultType: String
    let code: FindingCode
    var testDescription: String { "\(resultType) ← \(code)" }
}

@Suite("TLS-RPT result types judged by a check now (ReportRecheck, pure)")
struct ReportRecheckTests {
    /// RFC 8460 §4.3.1–§4.3.3, in the RFC's order.
    static let rfc8460ResultTypes = [
        "starttls-not-supported", "certificate-host-mismatch", "certificate-expired", "certificate-not-trusted", "validation-failure",
        "tlsa-invalid", "dnssec-invalid", "dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
    ]

    static let mappings: [RecheckMapping] = ReportRecheck.rules.sorted { $0.key < $1.key }.flatMap { type, rule in
        rule.codes.map { RecheckMapping(resultType: type, code: $0) }
    }

    static let mx1 = ReportRecheck.Evidence.MX(host: "mx1.example.com", addresses: ["192.0.2.25"], reached: true)
    static let mx2 = ReportRecheck.Evidence.MX(host: "mx2.example.com", addresses: ["192.0.2.26"], reached: true)

    /// A check of example.com (MX mx1 and mx2, DNSSEC-secure, usable TLSA at both) that found `findings`.
    static func evidence(_ findings: [Finding] = [], mx: [ReportRecheck.Evidence.MX] = [mx1, mx2], policyValid: Bool = true,
                         dane: (mxSecure: Bool, usableTLSA: Set<String>)? = (true, ["mx1.example.com", "mx2.example.com"])) -> ReportRecheck.Evidence {
        ReportRecheck.Evidence(domain: "example.com", findings: findings, mx: mx, policyValid: policyValid, dane: dane)
    }

    /// Where `checker` puts a finding of `code` about mx1 (or about the policy host, or the domain).
    static func subject(_ code: FindingCode, host: String = "mx1.example.com") -> String {
        switch code {
        case .daneMXBogus: "example.com"
        case .daneTLSAUnusable, .daneTLSAFailed: "_25._tcp.\(host)"
        case .daneTLSAMismatch: "\(host) 192.0.2.25"
        default: code.rawValue.hasPrefix("host-") ? "mta-sts.example.com 192.0.2.1" : "\(host) 192.0.2.25 port 25"
        }
    }

    @Test("Every RFC 8460 §4.3 result type has a rule, and no other name has one")
    func everyResultType() {
        #expect(Set(ReportRecheck.rules.keys) == Set(Self.rfc8460ResultTypes))
        #expect(Self.rfc8460ResultTypes.count == 11)
    }

    @Test("Each mapped finding, found now, makes its result type still failing, with the finding's sentence", arguments: mappings)
    func mappedFindingStillFails(_ m: RecheckMapping) {
        let finding = Finding(m.code, nil, Self.subject(m.code), "the problem itself")
        let outcome = ReportRecheck.judge(resultType: m.resultType, mx: ["mx1.example.com"], evidence: Self.evidence([finding]))
        #expect(outcome == .init(.stillFailing, "\(Self.subject(m.code)): the problem itself"))
        // The result type's name as a sender may spell it.
        #expect(ReportRecheck.judge(resultType: m.resultType.uppercased(), mx: [], evidence: Self.evidence([finding])).status == .stillFailing)
    }

    @Test("A mapped finding about another MX than the reports name is not the reported failure", arguments: mappings)
    func otherMXNotSeen(_ m: RecheckMapping) {
        guard ReportRecheck.rules[m.resultType]?.scope != .policy, m.code != .daneMXBogus else { return }  // not about one MX
        let finding = Finding(m.code, nil, Self.subject(m.code, host: "mx2.example.com"), "the problem elsewhere")
        let outcome = ReportRecheck.judge(resultType: m.resultType, mx: ["MX1.example.com."], evidence: Self.evidence([finding]))
        #expect(outcome.status == .notSeen)
        #expect(outcome.detail.contains("mx1.example.com") && !outcome.detail.contains("mx2"))
        // Named by its IP address (a report without receiving-mx-hostname): the same host.
        #expect(ReportRecheck.judge(resultType: m.resultType, mx: ["192.0.2.26"], evidence: Self.evidence([finding])).status == .stillFailing)
    }

    @Test("Every result type is not seen on a check that finds nothing of it", arguments: rfc8460ResultTypes)
    func cleanNotSeen(_ type: String) {
        let unrelated = [Finding(.tlsrptMissing, nil, "_smtp._tls.example.com", "no record"), Finding(.smtpCertExpiring, nil, Self.subject(.smtpCertExpiring), "soon")]
        let outcome = ReportRecheck.judge(resultType: type, mx: [], evidence: Self.evidence(unrelated))
        #expect(outcome.status == .notSeen, "\(outcome.detail)")
    }

    @Test("dane-required: still failing without a secure MX RRset or without usable TLSA records at the MX; not seen with them")
    func daneRequired() {
        let insecure = ReportRecheck.judge(resultType: "dane-required", mx: [], evidence: Self.evidence(dane: (false, [])))
        #expect(insecure == .init(.stillFailing, "the MX records of example.com are not DNSSEC-secure now: no TLSA record can be validated"))
        let partial = ReportRecheck.judge(resultType: "dane-required", mx: [], evidence: Self.evidence(dane: (true, ["mx1.example.com"])))
        #expect(partial == .init(.stillFailing, "no usable TLSA records at _25._tcp.mx2.example.com"))
        let named = ReportRecheck.judge(resultType: "dane-required", mx: ["mx1.example.com"], evidence: Self.evidence(dane: (true, ["mx1.example.com"])))
        #expect(named == .init(.notSeen, "usable TLSA records at _25._tcp.mx1.example.com now"))
    }

    @Test("sts-policy-invalid: a served policy that a sender cannot read is still failing, with its diagnostics")
    func policyInvalid() {
        let diagnostic = Finding(Diagnostic(.policyModeInvalid, .error, "mode must be enforce, testing or none"),
                                 subject: "https://mta-sts.example.com/.well-known/mta-sts.txt")
        let outcome = ReportRecheck.judge(resultType: "sts-policy-invalid", mx: [], evidence: Self.evidence([diagnostic], policyValid: false))
        #expect(outcome.status == .stillFailing)
        #expect(outcome.detail.hasPrefix("https://mta-sts.example.com/.well-known/mta-sts.txt: mode must be"))
        // The other sts-* types are about the fetch and the certificate, which worked.
        #expect(ReportRecheck.judge(resultType: "sts-policy-fetch-error", mx: [], evidence: Self.evidence([diagnostic], policyValid: false)).status == .notSeen)
        // No record now: senders no longer fetch a policy.
        var gone = Self.evidence([Finding(.txtMissing, nil, "_mta-sts.example.com", "no record")])
        gone.recordPresent = false
        gone.policyFetched = false
        #expect(ReportRecheck.judge(resultType: "sts-policy-fetch-error", mx: [], evidence: gone)
                == .init(.notSeen, "example.com publishes no usable _mta-sts record now, so senders fetch no policy"))
    }

    @Test("Cannot be re-checked: a sender's own type, DANE with DNSSEC off, an MX that does not answer, no MX")
    func notCheckable() {
        let own = ReportRecheck.judge(resultType: "Testing", mx: [], evidence: Self.evidence())
        #expect(own == .init(.notCheckable, "'Testing' is not an RFC 8460 result type; check has no finding that corresponds to it"))
        for type in ["tlsa-invalid", "dnssec-invalid", "dane-required"] {
            #expect(ReportRecheck.judge(resultType: type, mx: [], evidence: Self.evidence(dane: nil)).status == .notCheckable)
        }
        let down = ReportRecheck.Evidence.MX(host: "mx1.example.com", addresses: ["192.0.2.25"], reached: false)
        let refused = Finding(.smtpConnectFailed, nil, "mx1.example.com 192.0.2.25 port 25", "could not connect: Connection refused")
        let outcome = ReportRecheck.judge(resultType: "certificate-expired", mx: ["mx1.example.com"], evidence: Self.evidence([refused], mx: [down, Self.mx2]))
        #expect(outcome == .init(.notCheckable, "could not talk SMTP with mx1.example.com now: mx1.example.com 192.0.2.25 port 25: could not connect: Connection refused"))
        let noMX = ReportRecheck.judge(resultType: "certificate-expired", mx: [],
                                       evidence: Self.evidence([Finding(.mxDNSFailure, nil, "example.com", "the MX lookup failed: SERVFAIL")], mx: []))
        #expect(noMX == .init(.notCheckable, "no MX host to look at now: example.com: the MX lookup failed: SERVFAIL"))
    }

    @Test("The reports name an MX the domain no longer has: not seen, and the MX hosts now are named")
    func formerMX() {
        let outcome = ReportRecheck.judge(resultType: "certificate-expired", mx: ["old.example.com"], evidence: Self.evidence())
        #expect(outcome == .init(.notSeen, "the reports name old.example.com, not an MX of example.com now (MX now: mx1.example.com, mx2.example.com)"))
    }

    @Test("Evidence from the checker's own rules: a name mismatch, a bad policy, a refused MX, DANE state")
    func throughCheckRules() {
        func judge(_ type: String, _ o: Observations) -> ReportRecheck.Outcome {
            ReportRecheck.judge(resultType: type, mx: ["mx1.example.com"], evidence: ReportRecheck.Evidence(CheckRules.evaluate(o)))
        }
        let mismatch = Fake.withSMTP(Fake.smtp(tls: Fake.tls(["www.example.com"], problems: [.nameMismatch])))
        #expect(judge("certificate-host-mismatch", mismatch).status == .stillFailing)
        #expect(judge("certificate-host-mismatch", mismatch).detail.contains("the certificate is for www.example.com, not the MX mx1.example.com"))
        #expect(judge("certificate-expired", mismatch).status == .notSeen)
        #expect(judge("certificate-host-mismatch", Fake.clean()) == .init(.notSeen, "check found no certificate that does not name the MX at mx1.example.com now"))
        #expect(judge("sts-policy-invalid", Fake.withPolicy("version: STSv1\nmode: bogus\n")).status == .stillFailing)
        #expect(judge("sts-policy-invalid", Fake.clean()).status == .notSeen)
        #expect(judge("certificate-expired", Fake.withSMTP(Fake.smtp(.connection(.connect("Connection refused"))))).status == .notCheckable)
        #expect(judge("starttls-not-supported", Fake.withSMTP(Fake.smtp(.starttlsMissing))).status == .stillFailing)
        #expect(judge("dane-required", Fake.clean()).status == .notCheckable)  // DNSSEC checks off
        #expect(judge("dane-required", Fake.with { $0.dane = Fake.dane(.none("NODATA"), regime: .mtaSTS) }).status == .stillFailing)
        #expect(judge("tlsa-invalid", Fake.with { $0.dane = Fake.dane(.usable([Fake.otherTLSA])) }).status == .stillFailing)
        #expect(judge("tlsa-invalid", Fake.with { $0.dane = Fake.dane(.usable([Fake.matchingTLSA])) }).status == .notSeen)
    }
}
