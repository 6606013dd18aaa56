import ArgumentParser
import Foundation
import Logging
import MTASTSChecker
import MTASTSCore
import MTASTSPolicyHost
import MTASTSRuntime

/// `--config FILE` for the policy host's commands (`serve`, `zone`, `record new --for`).
struct PolicyHostSource: ParsableArguments {
    @Option(help: "The policy host's YAML configuration (docs/policy-host.md).")
    var config: String

    /// The configuration, or the reason printed and exit 1 (bad content) / 2 (unreadable).
    func load() throws -> PolicyHostConfiguration { try Self.load(config) }

    static func load(_ path: String) throws -> PolicyHostConfiguration {
        do { return try PolicyHostConfiguration.load(path: path) } catch { throw fail(error) }
    }

    /// Prints the reason; exit 1 for bad content, 2 for anything unreadable.
    static func fail(_ error: any Error) -> ExitCode {
        printError("mta-sts: error: \(error)")
        return (error as? PolicyHostConfiguration.Invalid)?.isIOError == false ? Exit.invalid : Exit.ioError
    }
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTPS policy host: https://mta-sts.<domain>/.well-known/mta-sts.txt for many domains.",
        discussion: """
            Policies are static, files, or proxied from a provider's policy host; certificates are chosen by SNI. \
            Flags override the configuration file. SIGTERM drains and stops; SIGHUP reloads configuration, policies \
            and certificates without dropping connections (a bad new configuration is logged and the running one \
            stays). A policy file that is invalid or unreadable holds back only its own domains: they keep their last \
            good policy (503 when there is none), the rest is applied, and /healthz names the file. Exit 1 when the \
            configuration or a policy (with --check, a policy file too) is invalid or a certificate does not match \
            its key, 2 when a file or certificate cannot be read or a listener cannot be bound. See docs/policy-host.md.
            """
    )

    @OptionGroup var source: PolicyHostSource

    @OptionGroup var network: NetworkFlags

    @Flag(help: "Only check the configuration, policies and certificates, then exit (0 when all are valid).")
    var check = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        bootstrapLogging(logLevel)
        let (path, network) = (source.config, self.network)
        let load: @Sendable () throws(PolicyHostConfiguration.Invalid) -> PolicyHostConfiguration = {
            var c = try PolicyHostConfiguration.load(path: path)
            network.apply(to: &c.network)
            return c
        }
        // The composition: configuration → network stack → the host (which re-reads `load` on SIGHUP).
        let host: PolicyHost
        do {
            let configuration = try load()
            let stack = try configuration.network.makeStack(dane: false)
            host = try PolicyHost(configuration: configuration, discovery: stack.discovery, load: load, logger: Logger(label: "mta-sts.serve"),
                                  strictFiles: check)
        } catch { throw PolicyHostSource.fail(error) }
        if check {
            await Self.warnAboutCertificates(host.state)
            print("valid: \(host.state.configuration.domains.count) domains")
            return
        }
        do { try await host.run() } catch {
            printError("mta-sts: error: \(error)")
            throw Exit.ioError
        }
    }
}

extension ServeCommand {
    /// `--check`: each served certificate as a sender will judge it (the one judgement of `lookup` and `check`; the
    /// configuration's `ca_file` trusted beside the system's roots). Problems and an expiry within
    /// `DeploymentChecker`'s warning window are warnings on standard error; they do not change the exit status,
    /// which says whether `serve` can start with this configuration.
    static func warnAboutCertificates(_ state: HostState) async {
        let caFile = state.configuration.network.caFile
        guard let evaluator = try? CertificateEvaluator(extraRootsPEM: caFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) })
        else { return }
        let now = Date()
        let seconds = Int64(now.timeIntervalSince1970)
        for served in state.served {
            let report = await served.judge(evaluator, now: now)
            let host = served.host
            let subject = "warning: \(host) (certificate \(served.file))"
            for problem in report.problems {
                let role = served.reportHost == nil ? "policy host" : "TLS report host"
                printError("\(subject): \(report.sentence(problem, host: host, role: role, now: seconds))")
            }
            let days = report.daysLeft(now: seconds)
            if !report.problems.contains(.expired), days < CheckRules.expiryWarningDays {
                printError("\(subject): the certificate expires in \(days) day(s)")
            }
        }
    }
}

struct ZoneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zone",
        abstract: "Print the DNS records for hosted domains: _mta-sts, the mta-sts host, _smtp._tls.",
        discussion: """
            The _mta-sts TXT id is a hash of the served policy (it changes exactly when the policy changes); a \
            proxied domain gets a CNAME to the provider's _mta-sts instead. Safe order: serve the new policy \
            first (reload `mta-sts serve`), then publish the new id.
            """
    )

    @OptionGroup var source: PolicyHostSource

    @Argument(help: "Configured domains (all of them when none is given).")
    var domains: [String] = []

    func run() throws {
        let c = try source.load()
        let selected = try Self.select(domains, from: c)
        do {
            print(try selected.map { d throws(PolicyHostConfiguration.Invalid) in try ZoneSnippet.render(d, zone: c.zone) }
                .joined(separator: "\n"), terminator: "")
        } catch { throw PolicyHostSource.fail(error) }
    }

    /// The named domains' entries; an unknown name is a usage error.
    static func select(_ names: [String], from c: PolicyHostConfiguration) throws -> [PolicyHostConfiguration.Domain] {
        if names.isEmpty { return c.domains }
        return try names.map { name in
            guard let d = (try? DomainName(name)).flatMap(c.domain) else {
                throw ValidationError("\(name) is not configured in \(c.domains.isEmpty ? "the configuration" : "the configuration's domains")")
            }
            return d
        }
    }
}
