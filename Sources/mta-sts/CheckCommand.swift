import ArgumentParser
import Foundation
import MTASTSChecker
import MTASTSCore
import MTASTSDiscovery

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify a whole MTA-STS deployment exactly as a strict sender would: DNS, policy host, MX hosts over SMTP STARTTLS, TLS-RPT.",
        discussion: """
            Checks the _mta-sts TXT record, every address of mta-sts.<domain> (TLS, certificate, strict fetch), \
            the policy, MX coverage both ways, every MX address over SMTP with STARTTLS (SNI, chain, name, expiry, \
            TLS version, STARTTLS injection) and the _smtp._tls record, then says what a strict sender does now. \
            Every finding has a stable code (docs/check.md). Exit 0 when there is no error finding, 1 when there is \
            one (for --from: in any domain), 2 for input/output and internal errors, 64 for usage errors.
            """
    )

    @OptionGroup var output: OutputOptions
    @OptionGroup var network: NetworkOptions

    @Option(name: .customLong("smtp-port"), help: "The MX hosts' SMTP port.")
    var smtpPort: Int = 25

    @Flag(name: .customLong("public-only"), help: "Refuse to connect to private, loopback and link-local addresses (for running as a service).")
    var publicOnly = false

    @Option(name: .customLong("from"), help: "Check every domain listed in FILE (one a line, # comments; - for standard input).")
    var from: String?

    @Option(help: "With --from: how many domains are checked at once.")
    var parallel: Int = 4

    @Argument(help: "The domain to check (the policy domain, e.g. example.com).")
    var domain: String?

    func validate() throws {
        if (domain == nil) == (from == nil) { throw ValidationError("give either a DOMAIN or --from FILE") }
        if !(1...65535).contains(smtpPort) { throw ValidationError("--smtp-port must be between 1 and 65535") }
        if !(1...64).contains(parallel) { throw ValidationError("--parallel must be between 1 and 64") }
        if let domain { do { _ = try DomainName(domain) } catch { throw ValidationError(error.description) } }
    }

    func run() async throws {
        let checker = try Self.makeChecker(network: network, smtpPort: smtpPort, publicOnly: publicOnly)
        if let from {
            try await runBatch(checker, file: from)
            return
        }
        let report = await checker.check(try DomainName(domain!))
        if output.json {
            try JSONOutput.print(CheckJSON(report))
        } else {
            print(CheckText(style: output.style, network: network, smtpPort: smtpPort).render(report).description, terminator: "")
        }
        if report.findings.hasErrors { throw Exit.invalid }
    }

    /// The checker for these flags, through the composition root's stack (also `reports summary --check`); a setup
    /// problem is printed and ends the command with exit 2.
    static func makeChecker(network: NetworkOptions, smtpPort: Int, publicOnly: Bool) throws -> DeploymentChecker {
        let stack = try network.makeStack()
        do {
            let pem = try network.caFile.map { try String(contentsOfFile: $0, encoding: .utf8) }
            let evaluator = try CertificateEvaluator(extraRootsPEM: pem)
            let prober = try NIOConnectionProber(evaluator: evaluator, timeout: .seconds(network.timeout ?? 10))
            return DeploymentChecker(resolver: stack.resolver, fetcher: stack.fetcher, prober: prober, daneResolver: stack.daneResolver,
                                     configuration: .init(smtpPort: smtpPort, publicOnly: publicOnly))
        } catch {
            printError("mta-sts: error: cannot set up the checker: \(error)")
            throw Exit.ioError
        }
    }

    // MARK: Batch

    private func runBatch(_ checker: DeploymentChecker, file: String) async throws {
        let (_, bytes) = try Input.read(file)
        let names = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "" }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let progress = !output.json && isatty(STDERR_FILENO) != 0 ? ProgressBar(total: names.count) : nil
        var rows: [BatchRow] = Array(repeating: BatchRow(domain: "", verdict: "", errors: 0, warnings: 0, failed: false), count: names.count)
        var failed = false
        await withTaskGroup(of: (Int, BatchRow, String?).self) { group in
            var next = 0
            func add() {
                guard next < names.count else { return }
                let (i, name) = (next, names[next])
                next += 1
                let json = output.json
                group.addTask {
                    guard let domain = try? DomainName(name) else {
                        let line = json ? #"{"domain":"\#(name.replacingOccurrences(of: "\"", with: ""))","error":"not a valid domain name"}"# : nil
                        return (i, BatchRow(domain: name, verdict: "invalid name", errors: 1, warnings: 0, failed: true), line)
                    }
                    let report = await checker.check(domain)
                    let line = json ? (try? JSONOutput.line(CheckJSON(report))) : nil
                    let v = report.verdict
                    return (i, BatchRow(domain: domain.value, verdict: v.action.rawValue + (v.mode.map { " (\($0.rawValue))" } ?? ""),
                                        errors: report.findings.count(.error), warnings: report.findings.count(.warning),
                                        failed: report.findings.hasErrors), line)
                }
            }
            for _ in 0..<parallel { add() }
            for await (i, row, line) in group {
                rows[i] = row
                failed = failed || row.failed
                if let line { print(line) }
                progress?.advance(row.domain)
                add()
            }
        }
        progress?.finish()
        if !output.json { print(BatchRow.table(rows, style: output.style), terminator: "") }
        if failed { throw Exit.invalid }
    }
}

struct BatchRow: Sendable {
    let domain: String
    let verdict: String
    let errors: Int
    let warnings: Int
    let failed: Bool

    /// The summary table; a line of the input that is not a domain name is shown escaped.
    static func table(_ rows: [BatchRow], style: Style) -> String {
        let domains = rows.map { TerminalText($0.domain) }
        let width = max(6, domains.map(\.count).max() ?? 0)
        let vwidth = max(7, rows.map(\.verdict.count).max() ?? 0)
        func pad(_ s: TerminalText, _ n: Int) -> TerminalText { s + "\(String(repeating: " ", count: max(0, n - s.count)))" }
        var out: TerminalText = style.bold(pad("domain", width) + "  " + pad("verdict", vwidth) + "  errors  warnings") + "\n"
        for (r, domain) in zip(rows, domains) {
            let errors = pad("\(r.errors)", 6)
            out += pad(domain, width) + "  " + pad("\(r.verdict)", vwidth) + "  " + (r.errors > 0 ? style.red(errors) : style.green(errors))
                + "  \(r.warnings)\n"
        }
        let bad = rows.filter(\.failed).count
        out += "\(rows.count) domain(s), \(bad) with errors\n"
        return out.description
    }
}

/// A one-line progress bar on standard error (used only when it is a terminal).
final class ProgressBar: @unchecked Sendable {
    private let total: Int
    private var done = 0
    init(total: Int) { self.total = total }

    func advance(_ label: String) {
        done += 1
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(done)/\(total) \(TerminalText.escaped(label.prefix(40)))".utf8))
    }

    func finish() { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
}
