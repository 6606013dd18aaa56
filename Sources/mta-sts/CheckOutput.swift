import Foundation
import MTASTSChecker
import MTASTSCore
import MTASTSDiscovery

/// `mta-sts check --json` (a documented contract, docs/check.md: keys are only ever added).
struct CheckJSON: Encodable {
    struct FindingJSON: Encodable {
        let code: String
        let severity: String
        let rfc: String
        let subject: String
        let message: String
        @NullWhenAbsent var fix: String?
    }
    struct RecordJSON: Encodable {
        let name: String
        let status: String
        let texts: [String]
        let id: String?
        let canonical_name: String?
        /// Every CNAME hop from the record name, in order (empty without CNAME).
        let cname_chain: [String]
        let dnssec: String
        let ttl: UInt32
    }
    struct CertificateJSON: Encodable {
        let subject: String
        let issuer: String
        let dns_names: [String]
        let not_before: String
        let not_after: String
        let days_left: Int
        let chain_length: Int
        let problems: [String]

        init(_ c: CertificateReport, now: Int64) {
            subject = c.subject
            issuer = c.issuer
            dns_names = c.dnsNames
            not_before = iso8601(c.notBefore)
            not_after = iso8601(c.notAfter)
            days_left = c.daysLeft(now: now)
            chain_length = c.chainLength
            problems = c.problems.map(\.rawValue)
        }
    }
    /// The handshake without SNI: the names presented, or why it failed.
    struct WithoutSNIJSON: Encodable {
        @NullWhenAbsent var dns_names: [String]?
        @NullWhenAbsent var error: String?

        static func from(_ r: Result<TLSObservation, ConnectionFailure>?) -> Self? {
            switch r {
            case .success(let t)?: Self(dns_names: t.certificate.dnsNames, error: nil)
            case .failure(let f)?: Self(dns_names: nil, error: f.description)
            case nil: nil
            }
        }
    }
    struct HostJSON: Encodable {
        let address: String
        let tls_version: String?
        let certificate: CertificateJSON?
        let http: String?
        let error: String?
        let without_sni: WithoutSNIJSON?
        let ms: Double
    }
    struct MXAddressJSON: Encodable {
        let address: String
        let port: Int
        let banner: String?
        let starttls: Bool
        let tls_version: String?
        let certificate: CertificateJSON?
        let injection: Bool
        let error: String?
        let usable: Bool
        let without_sni: WithoutSNIJSON?
        let ms: Double
    }
    struct MXJSON: Encodable {
        let host: String
        let preference: UInt16
        let dnssec: String
        let covered: Bool?
        let pattern: String?
        let suggestion: String?
        let addresses: [MXAddressJSON]
        /// TLSA state and per-address certificate matches (null with --dnssec off).
        let dane: MXDANEJSON?
    }
    struct MXDANEJSON: Encodable {
        struct Match: Encodable {
            let address: String
            let matches: Bool
            let record: String?
        }
        /// usable | unusable | none | failed | not-checked
        let tlsa: String
        let records: [String]
        let detail: String?
        let matches: [Match]
    }
    struct TLSRPTJSON: Encodable {
        let name: String
        let status: String
        let texts: [String]
        let rua: [String]
    }
    struct Skipped: Encodable {
        let host: String
        let reason: String
    }
    struct VerdictJSON: Encodable {
        let mode: String?
        let action: String
        let deliver_to: [String]
        let skipped: [Skipped]
        let reason: String
    }
    struct Summary: Encodable {
        let errors: Int
        let warnings: Int
        let infos: Int
    }

    let domain: String
    let findings: [FindingJSON]
    let record: RecordJSON
    let policy: PolicyJSON?
    let hosts: [HostJSON]
    let mx: [MXJSON]
    let tlsrpt: TLSRPTJSON
    /// DANE precedence: what a DANE-aware sender finds (null with --dnssec off); see docs/dane.md.
    let dane: DANEJSON?
    let verdict: VerdictJSON
    let summary: Summary
    let ms: Double

    init(_ r: CheckReport) {
        let o = r.observations
        domain = r.domain.value
        findings = r.findings.map {
            FindingJSON(code: $0.code, severity: $0.severity.rawValue, rfc: $0.rfc, subject: $0.subject, message: $0.message, fix: $0.fix)
        }
        record = RecordJSON(name: r.domain.recordName, status: r.recordStatus.rawValue, texts: r.recordTexts, id: r.record?.id,
                            canonical_name: o.txt.canonicalName, cname_chain: o.txtChain, dnssec: o.txt.dnssec.description, ttl: o.txt.ttl)
        policy = r.policy.map(PolicyJSON.init)
        hosts = o.hostProbes.map { p in
            var tls: TLSObservation?
            var error: String?
            switch p.tls {
            case .success(let t): tls = t
            case .failure(let f): error = f.description
            }
            var http: String?
            switch p.fetch?.outcome {
            case .body?: http = p.fetch?.attempts.last?.summary
            case .failure(let f)?: http = "\(f.code): \(f.message)"
            case nil: break
            }
            return HostJSON(address: p.address.description, tls_version: tls?.version,
                            certificate: tls.map { CertificateJSON($0.certificate, now: o.now) }, http: http, error: error,
                            without_sni: .from(p.withoutSNI), ms: rounded(p.elapsed))
        }
        mx = o.mxHosts.map { m in
            let match = r.mxMatches[m.host]
            var pattern: String?, suggestion: String?
            switch match {
            case .matched(let p)?: pattern = p.description
            case .notMatched(_, let s)?: suggestion = s?.description
            case nil: break
            }
            return MXJSON(host: m.host.value, preference: m.preference, dnssec: o.mx.dnssec.description, covered: match.map(\.isMatch),
                          pattern: pattern, suggestion: suggestion,
                          addresses: m.probes.map { p in
                              var injection = false
                              var error: String?
                              switch p.failure {
                              case .injection?: injection = true; error = "starttls-injection"
                              case .some(let f): error = f.description
                              case nil: break
                              }
                              return MXAddressJSON(address: p.address.description, port: p.port, banner: p.banner,
                                                   starttls: p.ehloKeywords.contains("STARTTLS"), tls_version: p.tls?.version,
                                                   certificate: p.tls.map { CertificateJSON($0.certificate, now: o.now) },
                                                   injection: injection, error: error, usable: CheckRules.isUsable(p),
                                                   without_sni: .from(p.withoutSNI), ms: rounded(p.elapsed))
                          }, dane: r.dane[m.host].map { check in
                              let tlsa = DANEJSON.Host(DANEStatus.Host(name: m.host.value, preference: m.preference, tlsa: check.tlsa))
                              return MXDANEJSON(tlsa: tlsa.tlsa, records: tlsa.records, detail: tlsa.detail,
                                                matches: check.matches.map { .init(address: $0.address.description, matches: $0.matched != nil,
                                                                                    record: $0.matched?.description) })
                          })
        }
        dane = o.dane.map(DANEJSON.init)
        tlsrpt = TLSRPTJSON(name: "_smtp._tls.\(r.domain)", status: r.tlsrptStatus.rawValue, texts: r.tlsrptTexts,
                            rua: r.tlsrpt?.record?.rua ?? [])
        verdict = VerdictJSON(mode: r.verdict.mode?.rawValue, action: r.verdict.action.rawValue, deliver_to: r.verdict.deliverTo,
                              skipped: r.verdict.skipped.map { Skipped(host: $0.host, reason: $0.reason) }, reason: r.verdict.reason)
        summary = Summary(errors: r.findings.count(.error), warnings: r.findings.count(.warning), infos: r.findings.count(.info))
        ms = rounded(o.elapsed)
    }
}

private func rounded(_ d: Duration) -> Double { (d.milliseconds * 10).rounded() / 10 }

private func iso8601(_ seconds: Int64) -> String {
    ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}

/// The human-readable report: one group per part of the deployment, each with the command that shows the
/// same thing by hand, then the findings and the verdict. Built as ``TerminalText``: every value from the
/// domain (records, names, replies, certificate names) is escaped where it is interpolated.
struct CheckText {
    let style: Style
    let network: NetworkOptions
    let smtpPort: Int

    private var digServer: TerminalText {
        guard let s = network.dnsServers.first else { return "" }
        let parts = s.split(separator: ":")
        return parts.count == 2 ? " @\(parts[0]) -p \(parts[1])" : " @\(s)"
    }

    private func command(_ c: TerminalText) -> TerminalText { "    " + style.dim("$ " + c) + "\n" }
    private func heading(_ title: TerminalText, _ detail: TerminalText) -> TerminalText { style.bold(title) + "  " + detail + "\n" }
    private func milliseconds(_ d: Duration, _ format: String = "%.1f ms") -> TerminalText { style.dim("\(String(format: format, d.milliseconds))") }

    private func certificateLine(_ c: CertificateReport, now: Int64) -> TerminalText {
        let names: TerminalText = c.dnsNames.isEmpty ? "(no DNS names)" : "\(c.dnsNames.joined(separator: ","))"
        let problems: TerminalText = c.problems.isEmpty ? style.green("valid") : style.red("\(c.problems.map(\.rawValue).joined(separator: ","))")
        return "cert \(names), \(c.daysLeft(now: now)) days left, \(problems)"
    }

    func render(_ r: CheckReport) -> TerminalText {
        let o = r.observations
        let d = r.domain
        var out: TerminalText = style.bold("mta-sts check \(d)") + "\n\n"

        let via = o.txtChain.isEmpty ? o.txt.canonicalName.map { [$0] } ?? [] : o.txtChain
        let cname: TerminalText = via.isEmpty ? "" : ", via CNAME \(via.joined(separator: " → "))"
        out += heading("TXT record", "\(d.recordName) (\(o.txt.dnssec)\(cname))")
        if r.recordTexts.isEmpty { out += "    (\(r.recordStatus))\n" }
        for t in r.recordTexts { out += "    \"\(t)\"\n" }
        out += command("dig +short TXT \(d.recordName)\(digServer)")

        if let host = d.policyHost {
            out += heading("Policy host", "\(host)")
            if o.hostProbes.isEmpty { out += "    (no address)\n" }
            let ca: TerminalText = network.caFile.map { " --cacert \($0)" } ?? ""
            for p in o.hostProbes {
                var line: TerminalText = "    \(p.address)  "
                switch p.tls {
                case .success(let t): line += "\(t.version)  " + certificateLine(t.certificate, now: o.now)
                case .failure(let f): line += style.red("\(f)")
                }
                if let a = p.fetch?.attempts.last { line += "  \(a.summary)" }
                out += line + "  " + milliseconds(p.elapsed) + "\n"
                out += command("curl -sS -D -\(ca) --resolve \(host):443:\(p.address) https://\(host)\(policyPath)")
            }
        }
        if let p = r.policy {
            let mx = p.mx.isEmpty ? "(none)" : p.mx.map(\.description).joined(separator: " ")
            out += heading("Policy", "mode \(p.mode.rawValue), max_age \(p.maxAge), mx \(mx)")
        }

        out += heading("MX", "\(d) (\(o.mx.dnssec))")
        if o.mxHosts.isEmpty { out += "    (none)\n" }
        for m in o.mxHosts { out += mxLines(m, r) }
        out += command("dig +short MX \(d)\(digServer)")
        if let dane = o.dane {
            let regime: TerminalText = switch dane.regime {
            case .dane: style.green("DANE applies")
            case .mtaSTS: "DANE does not apply"
            case .deferred: style.red("DANE cannot be evaluated")
            }
            out += heading("DANE", regime) + "    " + style.dim("\(dane.reason)") + "\n"
            out += command("dig +dnssec MX \(d)\(digServer)   # the ad flag: DNSSEC-secure")
        }

        out += heading("TLS-RPT", "_smtp._tls.\(d)")
        if r.tlsrptTexts.isEmpty { out += "    (none)\n" }
        for t in r.tlsrptTexts { out += "    \"\(t)\"\n" }
        out += command("dig +short TXT _smtp._tls.\(d)\(digServer)")

        if !r.findings.isEmpty {
            out += "\n" + style.bold("Findings") + "\n"
            for f in r.findings.sorted(by: { $0.severity < $1.severity }) {
                out += "  " + style.severity(f.severity) + style.bold("[\(f.code)]") + " \(f.subject): \(f.message)\n"
                if let fix = f.fix { out += "      " + style.green("= fix:") + " \(fix)\n" }
                out += "      " + style.dim("= rule: \(f.rfc)") + "\n"
            }
        }

        let v = r.verdict
        let action: TerminalText
        switch v.action {
        case .deliver: action = style.green("deliver") + (v.deliverTo.isEmpty ? "" : " to \(v.deliverTo.joined(separator: ", "))")
        case .defer: action = style.red("defer")
        case .noPolicy: action = style.yellow("no policy")
        }
        let mode: TerminalText = v.mode.map { " (mode \($0.rawValue))" } ?? ""
        out += "\n" + style.bold("Verdict:") + " \(action)\(mode): \(v.reason)\n"
        out += "\(r.findings.count(.error)) error(s), \(r.findings.count(.warning)) warning(s), \(r.findings.count(.info)) note(s) "
            + milliseconds(o.elapsed, "in %.0f ms") + "\n"
        return out
    }

    /// One MX host: coverage, DANE, and each probed address with the openssl command that repeats it.
    private func mxLines(_ m: MXObservation, _ r: CheckReport) -> TerminalText {
        var coverage: TerminalText = ""
        switch r.mxMatches[m.host] {
        case .matched(let p)?: coverage = style.green("covered by \(p)")
        case .notMatched(_, let s)?: coverage = style.red("not covered") + (s.map { ", add `mx: \($0)`" } ?? "")
        case nil: break
        }
        var out: TerminalText = "    \(m.preference) \(m.host)  \(coverage)\n"
        if let check = r.dane[m.host] {
            let tlsa = DANEJSON.Host(DANEStatus.Host(name: m.host.value, preference: m.preference, tlsa: check.tlsa))
            let matches = check.matches.map { match -> TerminalText in
                "\(match.address) " + (match.matched != nil ? style.green("matches") : style.red("does not match"))
            }
            let certificates: TerminalText = matches.isEmpty ? "" : "; certificate " + matches.joined(separator: ", ")
            out += "        DANE: \(tlsa.summary)\(certificates)\n"
        }
        if m.addresses.isEmpty { out += "        (no address)\n" }
        let caFile: TerminalText = network.caFile.map { " -CAfile \($0)" } ?? ""
        for p in m.probes {
            var line: TerminalText = "        \(p.address):\(p.port)  "
            if let t = p.tls { line += "STARTTLS \(t.version)  " + certificateLine(t.certificate, now: r.observations.now) }
            if let f = p.failure { line += style.red("\(f)") }
            out += line + "  " + milliseconds(p.elapsed) + "\n"
            out += "    " + command("openssl s_client -starttls smtp -connect \(p.address):\(p.port) -servername \(m.host) -verify_hostname \(m.host)\(caFile) </dev/null")
        }
        if !m.unprobed.isEmpty { out += "        " + style.dim("\(m.unprobed.count) more address(es) not probed (smtp-probes-capped)") + "\n" }
        return out
    }
}
