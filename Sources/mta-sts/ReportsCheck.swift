import ArgumentParser
import Foundation
import MTASTSChecker
import MTASTSCore
import MTASTSReports

/// `reports summary --check` and the network flags it takes (those of `check`).
struct SummaryCheckOptions: ParsableArguments {
    @Flag(name: .customLong("check"), help: """
        Run `mta-sts check` now on each domain with failures and say, per result type, whether the failure is still \
        present (still failing / not seen now / cannot be re-checked). Does not change the exit status.
        """)
    var enabled = false

    @OptionGroup var network: NetworkOptions

    @Option(name: .customLong("smtp-port"), help: "With --check: the MX hosts' SMTP port (default 25).")
    var smtpPort: Int?

    func validate() throws {
        if let smtpPort, !(1...65535).contains(smtpPort) { throw ValidationError("--smtp-port must be between 1 and 65535") }
        let given = !network.dnsServers.isEmpty || network.caFile != nil || network.timeout != nil || smtpPort != nil
            || network.dnssecFlags.trustAnchor != nil || network.dnssecFlags.dnssec != nil
        if given && !enabled {
            throw ValidationError("--dns-server, --ca-file, --timeout, --dnssec, --dns-trust-anchor and --smtp-port go with --check")
        }
    }
}

/// Runs the checker on the failing domains of a summary and judges each reported result type (ReportRecheck).
enum SummaryCheck {
    /// One domain's re-check: when it ran, and an outcome per result type.
    struct Domain: Sendable {
        let checkedAt: String
        let results: [String: ReportRecheck.Outcome]
    }

    /// Domains checked at once (as `check --from`'s default).
    static let parallel = 4

    /// The re-check of every domain of `summary` with failed sessions, keyed by domain; `rows` give the MX hosts
    /// each result type was reported for.
    static func run(_ summary: ReportSummary, rows: [ReportPolicyRow], options: SummaryCheckOptions) async throws -> [String: Domain] {
        let checker = try CheckCommand.makeChecker(network: options.network, smtpPort: options.smtpPort ?? 25, publicOnly: false)
        let failing = summary.domains.filter { !$0.resultTypes.isEmpty }
        let reported = reportedMX(rows)
        var out: [String: Domain] = [:]
        await withTaskGroup(of: (String, Domain).self) { group in
            var next = 0
            func add() {
                guard next < failing.count else { return }
                let d = failing[next]
                next += 1
                group.addTask { (d.domain, await check(d, mx: reported[d.domain] ?? [:], checker)) }
            }
            for _ in 0..<parallel { add() }
            for await (domain, result) in group {
                out[domain] = result
                add()
            }
        }
        return out
    }

    private static func check(_ d: ReportSummary.Domain, mx: [String: Set<String>], _ checker: DeploymentChecker) async -> Domain {
        let checkedAt = CacheCommand.iso(Date().timeIntervalSince1970)
        guard let name = try? DomainName(d.domain) else {
            let why = d.domain.isEmpty ? "the reports name no policy-domain" : "'\(d.domain)' is not a domain name"
            return Domain(checkedAt: checkedAt, results: d.resultTypes.mapValues { _ in ReportRecheck.Outcome(.notCheckable, why) })
        }
        let evidence = ReportRecheck.Evidence(await checker.check(name))
        return Domain(checkedAt: checkedAt, results: Dictionary(uniqueKeysWithValues: d.resultTypes.keys.map { type in
            (type, ReportRecheck.judge(resultType: type, mx: (mx[type] ?? []).sorted(), evidence: evidence))
        }))
    }

    /// Per domain and result type, the receiving MX hosts the reports named (a failure that names none adds none).
    static func reportedMX(_ rows: [ReportPolicyRow]) -> [String: [String: Set<String>]] {
        var out: [String: [String: Set<String>]] = [:]
        for row in rows {
            for f in row.failures {
                out[row.domain, default: [:]][f.resultType, default: []].formUnion([f.receivingMX].compactMap { $0 })
            }
        }
        return out
    }

    /// The line under a result type in the text output.
    static func line(_ o: ReportRecheck.Outcome) -> String {
        switch o.status {
        case .stillFailing: "still failing now: \(o.detail)"
        case .notSeen: "not seen now (fixed?): \(o.detail)"
        case .notCheckable: "cannot be re-checked: \(o.detail)"
        }
    }

    /// `"check"` in a domain of `summary --check --json`.
    struct JSON: Encodable {
        struct Result: Encodable {
            let status: String
            let detail: String
        }

        let checked_at: String
        let results: [String: Result]

        init(_ d: Domain) {
            checked_at = d.checkedAt
            results = d.results.mapValues { Result(status: $0.status.rawValue, detail: $0.detail) }
        }
    }
}
