import MTASTSCore
import MTASTSDiscovery

/// `mta-sts reports summary --check`: is a failure that TLS-RPT reports name (an RFC 8460 §4.3 result type) still
/// there? Judged from a fresh check of the policy domain, reduced to ``Evidence``; pure, so every mapping is tested
/// with hand-made evidence. A result type maps to the checker's findings that a sender would report as that type;
/// what the checker cannot observe (a sender's own type names, DANE with DNSSEC off) is said to be not checkable.
public enum ReportRecheck {
    /// The raw values are the `status` of `reports summary --check --json` (a contract).
    public enum Status: String, Sendable, Hashable, CaseIterable {
        /// The check finds now what the reports describe.
        case stillFailing = "still-failing"
        /// The check looked and found nothing of it (fixed, or the sender's problem).
        case notSeen = "not-seen"
        /// The check cannot observe it (the detail says why).
        case notCheckable = "not-checkable"
    }

    public struct Outcome: Sendable, Hashable {
        public var status: Status
        /// A sentence: the findings (`subject: message`), what was looked at, or why it cannot be looked at.
        public var detail: String

        public init(_ status: Status, _ detail: String) {
            self.status = status
            self.detail = detail
        }
    }

    /// Where the checker looks for a result type.
    public enum Scope: Sendable, Hashable {
        /// The STARTTLS session with each MX address (RFC 8460 §4.3.1, §4.3.3).
        case mx
        /// The policy host and its policy (RFC 8460 §4.3.2, sts-*).
        case policy
        /// DNSSEC and TLSA (RFC 8460 §4.3.1, DANE types): needs the DNSSEC checks on.
        case dane
    }

    /// The findings that mean `resultType` now, where they are looked for, and the problem in words.
    public struct Rule: Sendable, Hashable {
        public var scope: Scope
        public var codes: [FindingCode]
        public var problem: String
    }

    /// RFC 8460 §4.3's result types (negotiation, policy and general failures) and what `check` observes of each.
    public static let rules: [String: Rule] = [
        "starttls-not-supported": Rule(scope: .mx, codes: [.smtpStartTLSMissing, .smtpStartTLSRefused], problem: "missing or refused STARTTLS"),
        "certificate-host-mismatch": Rule(scope: .mx, codes: [.smtpCertName], problem: "certificate that does not name the MX"),
        "certificate-expired": Rule(scope: .mx, codes: [.smtpCertExpired], problem: "expired certificate"),
        "certificate-not-trusted": Rule(scope: .mx, codes: [.smtpCertUntrusted, .smtpCertSelfSigned], problem: "untrusted or self-signed certificate"),
        "validation-failure": Rule(scope: .mx, codes: [.smtpTLSFailed, .smtpTLSVersion, .smtpProtocol, .smtpStartTLSInjection, .smtpCertNotYetValid],
                                   problem: "TLS handshake, TLS version, SMTP protocol or certificate date failure"),
        "tlsa-invalid": Rule(scope: .dane, codes: [.daneTLSAMismatch, .daneTLSAUnusable], problem: "TLSA record that does not match or is unusable"),
        "dnssec-invalid": Rule(scope: .dane, codes: [.daneMXBogus, .daneTLSAFailed], problem: "DNSSEC failure of the MX or TLSA records"),
        // RFC 8460 §4.3.1: no DNSSEC-validated TLSA records where the sender requires them; judged in ``daneRequired``.
        "dane-required": Rule(scope: .dane, codes: [], problem: "MX without usable DNSSEC-validated TLSA records"),
        "sts-policy-fetch-error": Rule(scope: .policy, codes: [.hostDNSFailure, .hostNoAddress, .hostConnectFailed, .hostTLSFailed, .hostTimeout,
                                                               .hostHTTPStatus, .hostHTTPRedirect, .hostHTTPError, .hostTooLarge],
                                       problem: "failure to fetch the policy"),
        // Also a served policy that a sender cannot parse; judged in ``judge(resultType:mx:evidence:)``.
        "sts-policy-invalid": Rule(scope: .policy, codes: [.hostContentType], problem: "invalid policy"),
        "sts-webpki-invalid": Rule(scope: .policy, codes: [.hostCertExpired, .hostCertNotYetValid, .hostCertSelfSigned, .hostCertUntrusted,
                                                           .hostCertName, .hostTLSVersion],
                                   problem: "invalid certificate or TLS version on the policy host"),
    ]

    /// What one check of the domain found, as far as the rules need it.
    public struct Evidence: Sendable {
        public struct MX: Sendable, Hashable {
            public var host: String
            public var addresses: [String]
            /// An SMTP conversation took place at some address (not only refused connections or timeouts).
            public var reached: Bool

            public init(host: String, addresses: [String], reached: Bool) {
                self.host = ReportRecheck.normalized(host)
                self.addresses = addresses
                self.reached = reached
            }
        }

        public var domain: String
        public var findings: [Finding]
        /// The MX hosts checked now (the implicit MX when there are no MX records).
        public var mx: [MX]
        /// A usable `_mta-sts` record is published.
        public var recordPresent: Bool
        /// Some policy host address served a body, and a sender reads a policy from it.
        public var policyFetched: Bool
        public var policyValid: Bool
        /// The MX RRset is DNSSEC-secure, and the MX hosts with usable TLSA records; nil when DNSSEC checks are off.
        public var dane: (mxSecure: Bool, usableTLSA: Set<String>)?

        public init(domain: String, findings: [Finding], mx: [MX], recordPresent: Bool = true, policyFetched: Bool = true,
                    policyValid: Bool = true, dane: (mxSecure: Bool, usableTLSA: Set<String>)? = nil) {
            self.domain = domain
            self.findings = findings
            self.mx = mx
            self.recordPresent = recordPresent
            self.policyFetched = policyFetched
            self.policyValid = policyValid
            self.dane = dane
        }

        public init(_ report: CheckReport) {
            let o = report.observations
            self.init(domain: report.domain.value, findings: report.findings,
                      mx: o.mxHosts.map { h in
                          MX(host: h.host.value, addresses: h.addresses.map(\.description), reached: h.probes.contains { p in
                              if case .connection? = p.failure { return false }
                              return true
                          })
                      },
                      recordPresent: report.record != nil, policyFetched: report.policyBody != nil, policyValid: report.policy != nil,
                      dane: o.dane.map { d in
                          (d.mx == .secure, Set(d.hosts.compactMap { h in
                              if case .usable = h.tlsa { return ReportRecheck.normalized(h.name) }
                              return nil
                          }))
                      })
        }
    }

    /// Whether `resultType`, reported for the receiving MX hosts `mx` (names or IP addresses; empty when the reports
    /// name none), is present in `evidence`.
    public static func judge(resultType: String, mx named: [String], evidence e: Evidence) -> Outcome {
        guard let rule = rules[resultType.lowercased()] else {
            return Outcome(.notCheckable, "'\(resultType)' is not an RFC 8460 result type; check has no finding that corresponds to it")
        }
        switch rule.scope {
        case .policy:
            return policy(resultType.lowercased(), rule, e)
        case .mx, .dane:
            if rule.scope == .dane && e.dane == nil {
                return Outcome(.notCheckable, "DNSSEC checks are off (--dnssec off), so DANE and DNSSEC cannot be re-checked")
            }
            let wanted = Set(named.map(normalized))
            guard !e.mx.isEmpty else {
                let why = e.findings.first { $0.code == FindingCode.mxDNSFailure.rawValue }.map(sentence) ?? "\(e.domain) has no MX host now"
                return Outcome(.notCheckable, "no MX host to look at now: \(why)")
            }
            let scoped = wanted.isEmpty ? e.mx : e.mx.filter { wanted.contains($0.host) || !wanted.isDisjoint(with: $0.addresses) }
            guard !scoped.isEmpty else {
                return Outcome(.notSeen, "the reports name \(wanted.sorted().joined(separator: ", ")), not an MX of \(e.domain) now "
                               + "(MX now: \(e.mx.map(\.host).joined(separator: ", ")))")
            }
            let hosts = scoped.map(\.host)
            if resultType.lowercased() == "dane-required", let dane = e.dane { return daneRequired(e.domain, hosts, dane) }
            let found = e.findings.filter { f in
                rule.codes.contains { $0.rawValue == f.code } && (hosts.contains(subjectHost(f.subject)) || f.subject == e.domain)
            }
            if !found.isEmpty { return Outcome(.stillFailing, found.map(sentence).joined(separator: "; ")) }
            let list = hosts.joined(separator: ", ")
            if rule.scope == .mx, !scoped.contains(where: \.reached) {
                let why = e.findings.filter { hosts.contains(subjectHost($0.subject)) }.map(sentence)
                return Outcome(.notCheckable, "could not talk SMTP with \(list) now" + (why.isEmpty ? "" : ": " + why.joined(separator: "; ")))
            }
            return Outcome(.notSeen, "check found no \(rule.problem) at \(list) now")
        }
    }

    /// The sts-* types: the policy host's findings, and for sts-policy-invalid a served policy a sender cannot read.
    private static func policy(_ type: String, _ rule: Rule, _ e: Evidence) -> Outcome {
        var found = e.findings.filter { f in rule.codes.contains { $0.rawValue == f.code } }
        if type == "sts-policy-invalid", e.policyFetched, !e.policyValid {
            // The core's diagnostics of the policy body carry its URL as their subject (CheckRules.hostFindings).
            found += e.findings.filter { $0.subject.hasPrefix("https://") && $0.severity == .error }
            if found.isEmpty { found.append(Finding(.hostHTTPError, nil, "mta-sts.\(e.domain)", "the policy served cannot be read as a policy")) }
        }
        if !found.isEmpty { return Outcome(.stillFailing, found.map(sentence).joined(separator: "; ")) }
        if !e.recordPresent {
            return Outcome(.notSeen, "\(e.domain) publishes no usable _mta-sts record now, so senders fetch no policy")
        }
        return Outcome(.notSeen, "check found no \(rule.problem) at mta-sts.\(e.domain) now" + (e.policyFetched ? " (it served a policy)" : ""))
    }

    /// RFC 8460 §4.3.1 dane-required: the sender wanted DNSSEC-validated TLSA records for each MX.
    private static func daneRequired(_ domain: String, _ hosts: [String], _ dane: (mxSecure: Bool, usableTLSA: Set<String>)) -> Outcome {
        guard dane.mxSecure else {
            return Outcome(.stillFailing, "the MX records of \(domain) are not DNSSEC-secure now: no TLSA record can be validated")
        }
        let without = hosts.filter { !dane.usableTLSA.contains($0) }
        if !without.isEmpty {
            return Outcome(.stillFailing, "no usable TLSA records at " + without.map { "_25._tcp.\($0)" }.joined(separator: ", "))
        }
        return Outcome(.notSeen, "usable TLSA records at " + hosts.map { "_25._tcp.\($0)" }.joined(separator: ", ") + " now")
    }

    /// The host a finding is about: the first word of its subject (`mx1.example.com 192.0.2.25 port 25`), without
    /// the TLSA owner prefix (`_25._tcp.mx1.example.com`).
    static func subjectHost(_ subject: String) -> String {
        let first = String(subject.prefix { $0 != " " })
        return normalized(first.hasPrefix("_25._tcp.") ? String(first.dropFirst(9)) : first)
    }

    static func normalized(_ name: String) -> String {
        let lower = name.lowercased()
        return lower.hasSuffix(".") ? String(lower.dropLast()) : lower
    }

    static func sentence(_ f: Finding) -> String { "\(f.subject): \(f.message)" }
}
