import ArgumentParser
import Foundation
import MTASTSCore
import MTASTSDiscovery

struct LookupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Discover a domain's MTA-STS policy as a sender does (RFC 8461 §3), and show every step.",
        discussion: """
            Looks up the _mta-sts TXT record (following CNAMEs), resolves mta-sts.<domain>, fetches the policy \
            over HTTPS with the sender's rules (no redirects, 200 only, text/plain, 64 KiB, deadline) and \
            parses it. Then, as a DANE-aware sender does first (RFC 8461 §2), asks whether DANE governs the \
            domain: its MX RRset's DNSSEC status and each MX host's TLSA records (see docs/dane.md). Exit 0 \
            when a valid policy was found, 1 when the domain has no usable policy.
            """
    )

    @OptionGroup var output: OutputOptions
    @OptionGroup var network: NetworkOptions

    @Argument(help: "The policy domain (the recipient domain), e.g. example.com.")
    var domain: String

    func run() async throws {
        let name: DomainName
        do { name = try DomainName(domain) } catch { throw ValidationError(error.description) }
        let stack = try network.makeStack()
        let (discovery, daneResolver) = (stack.discovery, stack.daneResolver)
        async let lookedUp = discovery.discover(name)
        async let daneStatus: DANEStatus? = if let daneResolver { await DANEStatus.lookup(name, resolver: daneResolver) } else { nil }
        let (result, dane) = await (lookedUp, daneStatus)
        if output.json {
            try JSONOutput.print(LookupJSON(result, dane: dane))
        } else {
            print((render(result) + (dane.map(render) ?? "")).description, terminator: "")
        }
        if result.outcome != .valid { throw Exit.invalid }
    }

    /// Every step, the diagnostics, the outcome: ``TerminalText``, so that what the domain sent is escaped.
    private func render(_ r: DiscoveryResult) -> TerminalText {
        let style = output.style
        var out: TerminalText = ""
        for step in r.steps {
            let dnssec: TerminalText = step.dnssec.map { ", \($0)" } ?? ""
            out += style.bold("\(step.question)") + "\n    → \(step.answer) " + style.dim("(\(milliseconds(step.elapsed)) ms\(dnssec))") + "\n"
        }
        // The printer escapes what it quotes from the input.
        if let body = r.policyBody, let host = r.domain.policyHost {
            out += TerminalText(verbatim: DiagnosticPrinter(style: style, source: "https://\(host)\(policyPath)", input: body)
                .render(r.diagnostics.filter { $0.location?.line != nil }))
        } else if !r.diagnostics.isEmpty {
            out += TerminalText(verbatim: DiagnosticPrinter(style: style, source: r.domain.recordName, input: []).render(r.diagnostics))
        }
        let verdict: TerminalText = r.outcome == .valid ? style.green("\(r.outcome.rawValue)") : style.red("\(r.outcome.rawValue)")
        out += style.bold("outcome:") + " \(verdict)"
        if let type = r.outcome.tlsrptResultType { out += " (TLS-RPT \(type))" }
        out += "\n"
        if let e = r.error { out += style.bold("reason:") + " [\(e.code)] \(e.message)\n" }
        if let record = r.record { out += style.bold("record:") + " id \(record.id)\n" }
        if let p = r.policy {
            let mx = p.mx.isEmpty ? "(none)" : p.mx.map(\.description).joined(separator: " ")
            out += style.bold("policy:") + " mode \(p.mode.rawValue), max_age \(p.maxAge), mx \(mx)\n"
        }
        return out
    }
}

extension LookupCommand {
    /// The DANE section: which regime a DANE-aware sender applies, and each MX host's TLSA state.
    private func render(_ d: DANEStatus) -> TerminalText {
        let style = output.style
        let regime: TerminalText = switch d.regime {
        case .dane: style.green("DANE applies") + " (a DANE-aware sender authenticates by TLSA; MTA-STS does not override it)"
        case .mtaSTS: "DANE does not apply (MTA-STS governs)"
        case .deferred: style.red("DANE cannot be evaluated") + " (a DANE-aware sender defers)"
        }
        var out: TerminalText = style.bold("dane:") + " \(regime)\n    " + style.dim("\(d.reason)") + "\n"
        for host in d.hosts {
            out += "    MX \(host.preference) \(host.name): \(DANEJSON.Host(host).summary)\n"
        }
        return out
    }
}

func milliseconds(_ d: Duration) -> String { String(format: "%.1f", d.milliseconds) }

/// `mta-sts lookup --json` (a documented contract: keys are only ever added).
struct LookupJSON: Encodable {
    struct Record: Encodable { let id: String }
    struct Failure: Encodable {
        let code: String
        let message: String
    }
    struct Step: Encodable {
        let question: String
        let answer: String
        let dnssec: String?
        let ms: Double
    }

    let domain: String
    let outcome: String
    let tlsrpt_result_type: String?
    let record: Record?
    let record_dnssec: String?
    let policy: PolicyJSON?
    let error: Failure?
    let diagnostics: [DiagnosticJSON]
    let steps: [Step]
    /// DANE precedence (absent with `--dnssec off`).
    let dane: DANEJSON?

    init(_ r: DiscoveryResult, dane: DANEStatus? = nil) {
        self.dane = dane.map(DANEJSON.init)
        domain = r.domain.value
        outcome = r.outcome.rawValue
        tlsrpt_result_type = r.outcome.tlsrptResultType
        record = r.record.map { Record(id: $0.id) }
        record_dnssec = r.recordDNSSEC?.description
        policy = r.policy.map(PolicyJSON.init)
        error = r.error.map { Failure(code: $0.code.description, message: $0.message) }
        diagnostics = r.diagnostics.map(DiagnosticJSON.init)
        steps = r.steps.map {
            Step(question: $0.question, answer: $0.answer, dnssec: $0.dnssec?.description,
                 ms: ($0.elapsed.milliseconds * 10).rounded() / 10)
        }
    }
}
