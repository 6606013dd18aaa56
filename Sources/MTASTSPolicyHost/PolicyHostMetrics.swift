import MTASTSAdminHTTP
import MTASTSCore
import MTASTSDiscovery
import Synchronization

/// Requests of one host by answer, one atomic each.
final class RequestCounters: Sendable {
    let counters = AtomicCounters(count: PolicyHostMetrics.statuses.count)

    func count(_ status: Int) {
        if let i = PolicyHostMetrics.statuses.firstIndex(of: status) { counters.add(i) }
    }
}

/// The policy host's Prometheus counters: requests by host and status, upstream fetches by outcome, TLS report
/// POSTs by outcome; and the gauge of each served certificate's expiry.
/// Counters live as long as the process; a reload keeps them.
public final class PolicyHostMetrics: Sendable {
    /// Every status the host answers with.
    public static let statuses = [200, 201, 400, 404, 405, 411, 413, 414, 415, 431, 503]
    /// Upstream fetch outcomes (``DiscoveryOutcome`` raw values of a policy fetch).
    public static let fetchOutcomes: [DiscoveryOutcome] = [.valid, .fetchError, .webpkiInvalid, .policyInvalid]

    private let hosts = Mutex<[String: RequestCounters]>([:])
    private let upstreams = Mutex<[String: AtomicCounters]>([:])
    /// Requests for names that are not configured (counted under host="").
    let unknownHost = RequestCounters()
    /// TLS report POSTs by ``ReportPost/Outcome`` (all report hosts together).
    private let reports = AtomicCounters(count: ReportPost.Outcome.allCases.count)
    /// What the certificate expiry gauge reads at each scrape: the host's served certificates (set by ``PolicyHost``).
    let expiries = Mutex<(@Sendable () -> [CertificateExpiry])?>(nil)

    public init() {}

    func counters(host: String) -> RequestCounters {
        hosts.withLock { h in
            if let c = h[host] { return c }
            let c = RequestCounters()
            h[host] = c
            return c
        }
    }

    public func recordFetch(upstream: DomainName, outcome: DiscoveryOutcome) {
        let c = upstreams.withLock { u in
            if let c = u[upstream.value] { return c }
            let c = AtomicCounters(count: Self.fetchOutcomes.count)
            u[upstream.value] = c
            return c
        }
        c.add(Self.fetchOutcomes.firstIndex(of: outcome) ?? Self.fetchOutcomes.firstIndex(of: .fetchError)!)
    }

    public func recordReport(_ outcome: ReportPost.Outcome) {
        reports.add(ReportPost.Outcome.allCases.firstIndex(of: outcome)!)
    }

    /// Report POSTs that ended in `outcome`.
    public func reports(_ outcome: ReportPost.Outcome) -> Int {
        reports.value(ReportPost.Outcome.allCases.firstIndex(of: outcome)!)
    }

    /// Requests answered with `status` for `host` (`""`: unknown hosts).
    public func requests(host: String, status: Int) -> Int {
        guard let i = Self.statuses.firstIndex(of: status) else { return 0 }
        let c: RequestCounters? = host.isEmpty ? unknownHost : hosts.withLock { $0[host] }
        return c?.counters.value(i) ?? 0
    }

    public func exposition() -> String {
        var out = """
            # HELP mtasts_host_requests_total Policy host requests by Host and status (host="" for names not configured).
            # TYPE mtasts_host_requests_total counter

            """
        var all = hosts.withLock { $0 }.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
        all.append(("", unknownHost))
        for (host, c) in all {
            for (i, status) in Self.statuses.enumerated() {
                out += "mtasts_host_requests_total{host=\"\(host)\",status=\"\(status)\"} \(c.counters.value(i))\n"
            }
        }
        out += """
            # HELP mtasts_upstream_fetches_total Proxied policy fetches by upstream and outcome.
            # TYPE mtasts_upstream_fetches_total counter

            """
        for (upstream, c) in upstreams.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            for (i, outcome) in Self.fetchOutcomes.enumerated() {
                out += "mtasts_upstream_fetches_total{upstream=\"\(upstream)\",outcome=\"\(outcome.rawValue)\"} \(c.value(i))\n"
            }
        }
        out += """
            # HELP mtasts_host_reports_total TLS report POSTs (RFC 8460) by outcome.
            # TYPE mtasts_host_reports_total counter

            """
        for (i, outcome) in ReportPost.Outcome.allCases.enumerated() {
            out += "mtasts_host_reports_total{outcome=\"\(outcome.rawValue)\"} \(reports.value(i))\n"
        }
        if let expiries = expiries.withLock({ $0 }) { out += CertificateExpiry.exposition(expiries()) }
        return out
    }
}
