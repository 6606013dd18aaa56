import MTASTSCore
import MTASTSDiscovery

/// What a strict sender does with the domain now (RFC 8461 §5).
public struct Verdict: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable {
        /// Deliver: to `deliverTo` (enforce), or as without MTA-STS while reporting failures (testing).
        case deliver
        /// Enforce, and no MX passes every test: mail waits in the queue.
        case `defer`
        /// No usable policy (no record, unobtainable policy, or mode none): deliver as without MTA-STS.
        case noPolicy = "no-policy"
    }

    public var mode: STSPolicy.Mode?
    public var action: Action
    /// The MX hosts a sender would deliver to, in preference order.
    public var deliverTo: [String]
    /// MX hosts a sender would skip, with the reason.
    public var skipped: [(host: String, reason: String)]
    public var reason: String

    public static func == (a: Verdict, b: Verdict) -> Bool {
        a.mode == b.mode && a.action == b.action && a.deliverTo == b.deliverTo && a.reason == b.reason
            && a.skipped.map(\.host) == b.skipped.map(\.host)
    }
    public func hash(into h: inout Hasher) { h.combine(action); h.combine(deliverTo) }
}

/// What a TXT RRset (`_mta-sts` or `_smtp._tls`) gave. The raw values are the `status` of `check --json` (a contract).
public enum RecordStatus: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case valid, missing, multiple, invalid
    /// The lookup itself failed (SERVFAIL, timeout, bogus DNSSEC).
    case dnsFailure = "dns-failure"

    public var description: String { rawValue }
}

/// The outcome of one check: the observations, what they mean, and the verdict.
public struct CheckReport: Sendable {
    public var observations: Observations
    public var findings: [Finding]
    /// The `_mta-sts` TXT strings (each RR's strings joined).
    public var recordTexts: [String]
    public var recordStatus: RecordStatus
    public var record: STSRecord?
    /// The policy as a sender applies it, and the body it came from.
    public var policy: STSPolicy?
    public var policyBody: [UInt8]?
    /// Each MX host's match against the policy (absent without a policy).
    public var mxMatches: [DomainName: MXMatch]
    public var tlsrptTexts: [String]
    public var tlsrpt: TLSRPTRecord.Selection?
    public var tlsrptStatus: RecordStatus
    /// Per MX host: its TLSA state and whether each presented certificate matches (empty without DNSSEC).
    public var dane: [DomainName: DANEHostCheck] = [:]
    public var verdict: Verdict

    public var domain: DomainName { observations.domain }
}

/// The checks themselves: pure functions from ``Observations`` to findings and a verdict.
public enum CheckRules {
    /// Certificates expiring in fewer days than this get a warning.
    public static let expiryWarningDays = 14
    /// A policy host slower than this gets a warning (RFC 8461 §3.3: hosts SHOULD answer well within limits).
    public static let slowHost: Duration = .seconds(1)

    public static func evaluate(_ o: Observations) -> CheckReport {
        var findings: [Finding] = []
        let (texts, record, recordStatus) = recordFindings(o, into: &findings)
        let (policy, body) = hostFindings(o, recordUsable: record != nil, into: &findings)
        let matches = mxFindings(o, policy: policy, into: &findings)
        let (tlsrptTexts, tlsrpt, tlsrptStatus) = tlsrptFindings(o, into: &findings)
        let dane = daneFindings(o, into: &findings)
        let verdict = verdictFor(o, record: record, policy: policy, matches: matches, into: &findings)
        return CheckReport(observations: o, findings: findings, recordTexts: texts, recordStatus: recordStatus, record: record, policy: policy,
                           policyBody: body, mxMatches: matches, tlsrptTexts: tlsrptTexts, tlsrpt: tlsrpt,
                           tlsrptStatus: tlsrptStatus, dane: dane, verdict: verdict)
    }

    // MARK: TXT (RFC 8461 §3.1)

    static func txtStrings(_ answer: DNSAnswer) -> [String]? {
        guard case .records(let rdata) = answer.result else { return nil }
        return rdata.map { String(decoding: DNSRecordData.txt($0) ?? [], as: UTF8.self) }
    }

    static func recordFindings(_ o: Observations, into f: inout [Finding]) -> ([String], STSRecord?, RecordStatus) {
        let name = o.domain.recordName
        if let target = o.txt.canonicalName {
            let hops = o.txtChain.count > 1 ? " (via \(o.txtChain.dropLast().joined(separator: " → ")))" : ""
            f.append(Finding(.txtCNAME, nil, name, "\(name) is a CNAME to \(target)\(hops); the record there applies to \(o.domain)",
                             fix: "nothing to do: the policy host is still mta-sts.\(o.domain), with its own certificate (RFC 8461 §8.2)"))
        }
        switch o.txt.result {
        case .failure(let reason):
            f.append(Finding(.txtDNSFailure, nil, name, "the TXT lookup failed: \(reason); senders treat this as no policy",
                             fix: "make the name resolve (check the zone's servers and DNSSEC signatures)"))
            return ([], nil, .dnsFailure)
        case .nxdomain, .nodata:
            let what = o.txt.result == .nxdomain ? "does not exist (NXDOMAIN)" : "has no TXT record (NODATA)"
            f.append(Finding(.txtMissing, nil, name, "\(name) \(what): senders do not use MTA-STS for \(o.domain)",
                             fix: "publish `\(name). IN TXT \"v=STSv1; id=\(defaultID)\"`"))
            if let apex = o.apexTXT.flatMap(txtStrings), let misplaced = apex.first(where: { STSRecord.isCandidate(Array($0.utf8)) }) {
                f.append(Finding(.txtAtApex, nil, o.domain.value, "the record `\(misplaced)` is at \(o.domain) itself, where senders never look",
                                 fix: "move it to \(name)"))
            }
            return ([], nil, .missing)
        case .records(let rdata):
            let bytes = rdata.map { DNSRecordData.txt($0) ?? [] }
            let texts = bytes.map { String(decoding: $0, as: UTF8.self) }
            if let spf = texts.first(where: { $0.lowercased().hasPrefix("v=spf1") }) {
                f.append(Finding(.txtSPF, nil, name,
                                 "\(name) answers with the SPF record `\(spf)`: a wildcard TXT or a CNAME to the apex answers for it",
                                 fix: "publish an explicit `\(name)` TXT record (or remove the wildcard) so only `v=STSv1;` is returned"))
            }
            let selection = RecordSelection(rrset: bytes)
            f += selection.diagnostics.map { Finding($0, subject: name) }
            let status: RecordStatus = switch selection {
            case .record: .valid
            case .none: .missing
            case .multiple: .multiple
            case .invalid: .invalid
            }
            return (texts, selection.record, status)
        }
    }

    static let defaultID = "20260101T000000"

    // MARK: Policy host (RFC 8461 §3.3, §7)

    static func hostFindings(_ o: Observations, recordUsable: Bool, into f: inout [Finding]) -> (STSPolicy?, [UInt8]?) {
        guard let host = o.domain.policyHost else { return (nil, nil) }
        let answers = [DNSRecordType.a, .aaaa].compactMap { type in o.hostAnswers[type].map { (type, $0) } }
        let failures = answers.compactMap { type, a -> String? in
            if case .failure(let r) = a.result { return "\(type): \(r)" }
            return nil
        }
        if !failures.isEmpty {
            f.append(Finding(.hostDNSFailure, nil, host.value, "the policy host could not be resolved: " + failures.joined(separator: "; "),
                             fix: "make \(host) resolve to the policy server's addresses"))
        }
        if o.hostProbes.isEmpty && failures.isEmpty {
            f.append(Finding(.hostNoAddress, recordUsable ? nil : .warning, host.value, "\(host) has no A or AAAA record",
                             fix: "point \(host) at a web server that serves \(policyPath) (a CNAME to a provider is fine)"))
        }
        var bodies: [(IPAddress, [UInt8])] = []
        for p in o.hostProbes {
            let subject = "\(host) \(p.address)"
            var certificateReported = false
            switch p.tls {
            case .failure(let box):
                f.append(connectionFinding(box, subject: subject, smtp: false))
                if case .notPublic = box { continue }
            case .success(let tls):
                f += tlsFindings(tls, host: host, subject: subject, now: o.now, smtp: false, severity: nil)
                certificateReported = !tls.certificate.problems.isEmpty || !tls.versionAcceptable
            }
            switch p.withoutSNI {
            case .success(let t)? where !CertificateIdentity.covers(t.certificate.dnsNames, host: host):
                let names = t.certificate.dnsNames.isEmpty ? "no DNS names" : t.certificate.dnsNames.joined(separator: ", ")
                f.append(Finding(.hostNoSNI, nil, subject, "without SNI this address presents a certificate for \(names); senders always send SNI",
                                 fix: "nothing to do for MTA-STS; clients without SNI do not get the policy host's certificate"))
            case .failure(let why)?:
                f.append(Finding(.hostNoSNI, nil, subject, "without SNI the TLS handshake fails (\(why)); senders always send SNI",
                                 fix: "nothing to do for MTA-STS"))
            default: break
            }
            guard let fetch = p.fetch else { continue }
            switch fetch.outcome {
            case .body(let body):
                bodies.append((p.address, body))
                if let attempt = fetch.attempts.last, attempt.elapsed > slowHost {
                    f.append(Finding(.hostSlow, nil, subject, "the policy took \(Int(attempt.elapsed.milliseconds)) ms to arrive",
                                     fix: "serve the policy within a second; senders give up after their own deadline"))
                }
            case .failure(let failure):
                // Already said by the TLS session's findings (certificate reasons, an old TLS version).
                if certificateReported && failure.code.isTLS { continue }
                if case .failure = p.tls, failure.isConnectFailure || failure.code.isTLS { continue }
                f.append(fetchFinding(failure, subject: subject))
            }
        }
        guard let (firstAddress, body) = bodies.first else { return (nil, nil) }
        let differing = bodies.filter { $0.1 != body }.map(\.0.description)
        if !differing.isEmpty {
            f.append(Finding(.hostInconsistent, nil, host.value,
                             "\(differing.joined(separator: ", ")) serve a different policy than \(firstAddress); senders get either at random",
                             fix: "serve the same policy at every address of \(host)"))
        }
        let parsed = STSPolicy.parse(body, reading: .sender)
        f += parsed.diagnostics.map { Finding($0, subject: "https://\(host)\(policyPath)") }
        return (parsed.policy, body)
    }

    static func fetchFinding(_ failure: FetchFailure, subject: String) -> Finding {
        let code: FindingCode
        var fix: String
        switch failure.code {
        case .httpStatus: code = .hostHTTPStatus; fix = "serve the policy with status 200 at \(policyPath)"
        case .httpRedirect: code = .hostHTTPRedirect; fix = "serve the policy directly at this name; senders never follow redirects"
        case .httpContentType: code = .hostContentType; fix = "serve \(policyPath) as `Content-Type: text/plain`"
        case .httpTooLarge: code = .hostTooLarge; fix = "keep the policy well under 64 KiB"
        case .httpTimeout: code = .hostTimeout; fix = "answer within the senders' deadline (a few seconds)"
        case .connectFailed, .hostNotFound: code = .hostConnectFailed; fix = "listen on port 443 at this address, or remove the address from DNS"
        case .tlsHandshake, .tlsCertificateName, .tlsCertificateExpired, .tlsCertificateNotYetValid, .tlsCertificateUntrusted,
             .tlsCertificateInvalid:
            code = .hostTLSFailed; fix = "offer TLS 1.2 or later with a certificate for the policy host"
        case .httpBody, .httpError: code = .hostHTTPError; fix = "serve the policy over plain HTTP/1.1 with status 200"
        }
        return Finding(code, nil, subject, failure.message, fix: fix)
    }

    static func connectionFinding(_ failure: ConnectionFailure, subject: String, smtp: Bool, severity: Finding.Severity? = nil) -> Finding {
        switch failure {
        case .notPublic:
            return Finding(.addressNotPublic, severity, subject, "the address is private, loopback or link-local; --public-only refused to connect",
                           fix: "publish only public addresses for hosts other networks must reach")
        case .connect(let why):
            return Finding(smtp ? .smtpConnectFailed : .hostConnectFailed, severity, subject, "could not connect: \(why)",
                           fix: smtp ? "accept SMTP connections at this address, or remove it from DNS"
                                     : "listen on port 443 at this address, or remove the address from DNS")
        case .timeout(let stage):
            return Finding(smtp ? .smtpConnectFailed : .hostTimeout, severity, subject, "timed out \(stage)",
                           fix: "answer promptly at this address, or remove it from DNS")
        case .handshake(let why):
            return Finding(smtp ? .smtpTLSFailed : .hostTLSFailed, severity, subject, "the TLS handshake failed: \(why)",
                           fix: "offer TLS 1.2 or later with a certificate for the host name")
        }
    }

    /// Findings about one TLS session: version, then the certificate's problems, then its expiry.
    static func tlsFindings(_ tls: TLSObservation, host: DomainName, subject: String, now: Int64, smtp: Bool,
                            severity: Finding.Severity?) -> [Finding] {
        var out: [Finding] = []
        let c = tls.certificate
        if !tls.versionAcceptable {
            out.append(Finding(smtp ? .smtpTLSVersion : .hostTLSVersion, severity, subject,
                               "the server negotiated \(tls.version); RFC 8461 §7.2 requires TLS 1.2 or later",
                               fix: "enable TLS 1.2 and 1.3 on this server"))
        }
        // The words are the judgement's (CertificateReport.sentence), so the strict fetch says the same.
        let role = smtp ? "MX" : "policy host"
        for problem in c.problems {
            let (code, fix): (FindingCode, String) = switch problem {
            case .expired: (smtp ? .smtpCertExpired : .hostCertExpired, "renew the certificate and reload the server")
            case .notYetValid: (smtp ? .smtpCertNotYetValid : .hostCertNotYetValid, "check the server's clock and the certificate's validity dates")
            case .selfSigned: (smtp ? .smtpCertSelfSigned : .hostCertSelfSigned, "use a certificate from a public CA (e.g. Let's Encrypt)")
            case .untrusted, .unparseable:
                (smtp ? .smtpCertUntrusted : .hostCertUntrusted, "send the full chain (leaf and intermediates) from a public CA")
            case .nameMismatch: (smtp ? .smtpCertName : .hostCertName, "get a certificate whose subjectAltName includes \(host)")
            }
            out.append(Finding(code, severity, subject, c.sentence(problem, host: host, role: role, now: now), fix: fix))
        }
        let days = c.daysLeft(now: now)
        if !c.problems.contains(.expired), days < expiryWarningDays {
            out.append(Finding(smtp ? .smtpCertExpiring : .hostCertExpiring, nil, subject,
                               "the certificate expires in \(days) day(s)", fix: "renew it now (automate renewal)"))
        }
        return out
    }

    // MARK: MX coverage and SMTP (RFC 8461 §4, §5)

    /// The severity of a delivery fault under the policy's mode: an error only where it stops mail (enforce).
    static func modeSeverity(_ base: Finding.Severity, _ policy: STSPolicy?) -> Finding.Severity {
        guard base == .error else { return base }
        switch policy?.mode {
        case .enforce?: return .error
        case .testing?, nil: return .warning
        case .some(.none): return .info
        }
    }

    static func mxFindings(_ o: Observations, policy: STSPolicy?, into f: inout [Finding]) -> [DomainName: MXMatch] {
        let domain = o.domain.value
        switch o.mx.result {
        case .failure(let reason):
            f.append(Finding(.mxDNSFailure, nil, domain, "the MX lookup failed: \(reason)", fix: "make the MX RRset of \(domain) resolve"))
        case .nxdomain, .nodata:
            f.append(Finding(.mxImplicit, nil, domain, "\(domain) has no MX records; senders deliver to \(domain) itself (RFC 5321 §5.1)",
                             fix: "publish MX records, or list `mx: \(domain)` in the policy"))
        case .records:
            if o.mxHosts.isEmpty {
                f.append(Finding(.mxNull, nil, domain, "\(domain) publishes a null MX: it accepts no mail, so MTA-STS has nothing to protect",
                                 fix: "remove the MTA-STS record, or publish real MX hosts"))
            }
        }
        var matches: [DomainName: MXMatch] = [:]
        if let policy {
            for mx in o.mxHosts {
                let match = policy.match(mx.host)
                matches[mx.host] = match
                if case .notMatched(let reason, let suggestion) = match {
                    f.append(Finding(.mxNotCovered, modeSeverity(.error, policy), mx.host.value,
                                     "the MX \(mx.host) is not allowed by the policy: \(reason)",
                                     fix: suggestion.map { "add `mx: \($0)` to the policy (and change the id)" }))
                }
            }
            for pattern in policy.mx where !o.mxHosts.contains(where: { pattern.matches($0.host) }) {
                f.append(Finding(.mxPatternUnused, pattern.isWildcard ? .info : .warning, "mx: \(pattern)",
                                 "the policy's `mx: \(pattern)` matches no MX record of \(domain)",
                                 fix: "remove the line, or check that the MX records are what you meant"))
            }
        }
        for mx in o.mxHosts {
            if mx.addresses.isEmpty {
                let why = mx.addressFailures.isEmpty ? "no A or AAAA record" : mx.addressFailures.joined(separator: "; ")
                f.append(Finding(.mxNoAddress, modeSeverity(.error, policy), mx.host.value, "the MX \(mx.host) has \(why)",
                                 fix: "give \(mx.host) an address, or remove the MX record"))
            }
            for p in mx.probes {
                f += smtpFindings(p, host: mx.host, now: o.now, policy: policy)
            }
        }
        let unprobed = o.mxHosts.filter { !$0.unprobed.isEmpty }
        if !unprobed.isEmpty {
            let skipped = unprobed.reduce(0) { $0 + $1.unprobed.count }
            let total = o.mxHosts.reduce(0) { $0 + $1.addresses.count }
            f.append(Finding(.smtpProbesCapped, nil, o.domain.value,
                             "the MX hosts have \(total) addresses; only the first \(total - skipped) in preference order were probed, "
                                 + "not \(skipped) of " + unprobed.map(\.host.value).joined(separator: ", ")
                                 + ": what is said of these hosts, and the verdict, rests on the probed addresses alone",
                             fix: "publish fewer MX hosts and addresses; senders also try only a limited number (RFC 5321 §5.1)"))
        }
        return matches
    }

    static func smtpFindings(_ p: SMTPProbe, host: DomainName, now: Int64, policy: STSPolicy?) -> [Finding] {
        let subject = "\(host) \(p.address) port \(p.port)"
        let sev = modeSeverity(.error, policy)
        var out: [Finding] = []
        switch p.failure {
        case .connection(let c)?:
            out.append(connectionFinding(c, subject: subject, smtp: true, severity: c == .notPublic ? nil : sev))
        case .protocolError(let why)?:
            out.append(Finding(.smtpProtocol, sev, subject, why, fix: "answer like an SMTP server: 220 greeting, 250 to EHLO"))
        case .starttlsMissing?:
            out.append(Finding(.smtpStartTLSMissing, sev, subject,
                               "EHLO did not offer STARTTLS (keywords: \(p.ehloKeywords.joined(separator: " ")))",
                               fix: "enable STARTTLS (Postfix: `smtpd_tls_security_level = may` and a certificate)"))
        case .starttlsRefused(let reply)?:
            out.append(Finding(.smtpStartTLSRefused, sev, subject, "STARTTLS was answered `\(reply)`",
                               fix: "fix the server's TLS configuration (certificate and key readable, TLS enabled)"))
        case .injection(let bytes)?:
            out.append(Finding(.smtpStartTLSInjection, sev, subject,
                               "the server sent `\(bytes)` after `220` to STARTTLS and before the TLS handshake; a sender aborts",
                               fix: "remove whatever answers for the server before TLS (a broken proxy or filter), update the MTA"))
        case nil:
            break
        }
        if p.tls != nil, case .failure(let why)? = p.withoutSNI {
            out.append(Finding(.smtpSNIRequired, nil, subject, "STARTTLS without SNI fails (\(why)); SMTP servers must not require SNI",
                               fix: "configure a default certificate for clients that send no SNI"))
        }
        if let tls = p.tls {
            out += tlsFindings(tls, host: host, subject: subject, now: now, smtp: true, severity: sev)
            if p.failure == nil && !p.ehloAfterTLS {
                out.append(Finding(.smtpProtocol, sev, subject, "EHLO sent again over TLS was not answered with 250",
                                   fix: "answer EHLO after STARTTLS (RFC 3207 §4.2)"))
            }
        }
        return out
    }

    /// An MX address a strict sender would deliver to: STARTTLS, TLS 1.2+, a valid certificate for the name.
    public static func isUsable(_ p: SMTPProbe) -> Bool {
        guard p.failure == nil, let tls = p.tls else { return false }
        return tls.versionAcceptable && tls.certificate.problems.isEmpty
    }

    // MARK: TLS-RPT (RFC 8460 §3)

    static func tlsrptFindings(_ o: Observations, into f: inout [Finding]) -> ([String], TLSRPTRecord.Selection?, RecordStatus) {
        let name = "_smtp._tls.\(o.domain)"
        let fix = "publish `\(name). IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@\(o.domain)\"`"
        switch o.tlsrpt.result {
        case .failure(let reason):
            f.append(Finding(.tlsrptDNSFailure, nil, name, "the TXT lookup failed: \(reason)", fix: "make \(name) resolve"))
            return ([], nil, .dnsFailure)
        case .nxdomain, .nodata:
            f.append(Finding(.tlsrptMissing, nil, name, "no TLS-RPT record: you will not hear about senders' failures", fix: fix))
            return ([], nil, .missing)
        case .records:
            let texts = txtStrings(o.tlsrpt) ?? []
            let selection = TLSRPTRecord.select(texts)
            switch selection {
            case .none:
                f.append(Finding(.tlsrptMissing, nil, name, "no record at \(name) begins with `v=TLSRPTv1;`", fix: fix))
            case .multiple(let n):
                f.append(Finding(.tlsrptMultiple, nil, name, "\(n) records begin with `v=TLSRPTv1;`; senders then send no reports",
                                 fix: "keep exactly one TLS-RPT record"))
            case .invalid(let why):
                f.append(Finding(.tlsrptInvalid, nil, name, "the TLS-RPT record is invalid: \(why)", fix: fix))
            case .record(let r, let unusable):
                if !unusable.isEmpty {
                    f.append(Finding(.tlsrptRUAInvalid, unusable.count == r.rua.count ? .error : .warning, name,
                                     "unusable rua URI(s): \(unusable.joined(separator: ", ")); only mailto: and https: are used",
                                     fix: "write `rua=mailto:tlsrpt@\(o.domain)` or `rua=https://…`"))
                }
            }
            return (texts, selection, selection.status)
        }
    }

    // MARK: Verdict (RFC 8461 §5)

    static func verdictFor(_ o: Observations, record: STSRecord?, policy: STSPolicy?, matches: [DomainName: MXMatch],
                           into f: inout [Finding]) -> Verdict {
        let domain = o.domain.value
        guard record != nil else {
            return Verdict(mode: nil, action: .noPolicy, deliverTo: [], skipped: [],
                           reason: "no usable _mta-sts record: senders deliver as without MTA-STS")
        }
        guard let policy else {
            f.append(Finding(.verdictNoPolicy, nil, domain,
                             "the record announces MTA-STS but no valid policy can be fetched: senders without a cached policy deliver as without MTA-STS, those with one keep applying it",
                             fix: "fix the policy host findings above"))
            return Verdict(mode: nil, action: .noPolicy, deliverTo: [], skipped: [],
                           reason: "the policy cannot be fetched (RFC 8461 §3.3)")
        }
        var usable: [String] = []
        var skipped: [(host: String, reason: String)] = []
        for mx in o.mxHosts.sorted(by: { $0.preference < $1.preference }) {
            if let m = matches[mx.host], !m.isMatch {
                skipped.append((mx.host.value, "not allowed by the policy"))
            } else if mx.probes.contains(where: isUsable) {
                usable.append(mx.host.value)
            } else if mx.probes.isEmpty && !mx.unprobed.isEmpty {
                skipped.append((mx.host.value, "not probed (over the limit of addresses per domain)"))
            } else {
                skipped.append((mx.host.value, mx.probes.isEmpty ? "no address" : "no address passes STARTTLS and certificate checks"))
            }
        }
        let skippedText = skipped.map { "\($0.host) (\($0.reason))" }.joined(separator: ", ")
        switch policy.mode {
        case .none:
            f.append(Finding(.modeNone, nil, domain, "the policy's mode is none: senders treat \(domain) as having no policy",
                             fix: "switch to `mode: testing`, then `enforce`, once the findings are clean"))
            return Verdict(mode: STSPolicy.Mode.none, action: .noPolicy, deliverTo: [], skipped: skipped, reason: "mode none: no active policy")
        case .testing:
            f.append(Finding(.modeTesting, nil, domain, "the policy's mode is testing: senders deliver as without MTA-STS and report failures",
                             fix: usable.count == o.mxHosts.count && !o.mxHosts.isEmpty
                                 ? "every MX passes: switch to `mode: enforce` (and change the id)" : "fix the MX findings, then switch to enforce"))
            return Verdict(mode: .testing, action: .deliver, deliverTo: o.mxHosts.map(\.host.value), skipped: skipped,
                           reason: skipped.isEmpty ? "testing: every MX would pass under enforce"
                                                   : "testing: delivers anyway; would fail under enforce: \(skippedText)")
        case .enforce:
            if usable.isEmpty {
                f.append(Finding(.verdictDefer, nil, domain,
                                 "under enforce no MX passes: senders defer every message" + (skipped.isEmpty ? "" : " (\(skippedText))"),
                                 fix: "fix the MX findings above, or publish `mode: testing` with a new id while you do"))
                return Verdict(mode: .enforce, action: .defer, deliverTo: [], skipped: skipped,
                               reason: "no MX is allowed by the policy and passes STARTTLS with a valid certificate")
            }
            if !skipped.isEmpty {
                f.append(Finding(.verdictMXSkipped, nil, domain, "senders skip \(skippedText) and deliver to \(usable.joined(separator: ", "))",
                                 fix: "fix the skipped MX hosts so that every MX can take mail"))
            }
            return Verdict(mode: .enforce, action: .deliver, deliverTo: usable, skipped: skipped,
                           reason: skipped.isEmpty ? "every MX passes" : "delivers to \(usable.joined(separator: ", ")); skips \(skippedText)")
        }
    }
}
