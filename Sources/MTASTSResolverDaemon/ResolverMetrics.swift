import MTASTSAdminHTTP
import MTASTSDiscovery
import NIOCore
import NIOPosix

/// The daemon's counters, exposed in the Prometheus text format (a handful of counters: no package needed).
public final class ResolverMetrics: Sendable {
    public enum Counter: Int, CaseIterable, Sendable {
        case hit, miss, skipped, replyOK, replyNotFound, replyDANE, replyTemp
        case daneApplies, daneNotApplicable, daneDeferred
        case fetchValid, fetchError, fetchWebPKI, fetchPolicyInvalid, refreshFailed, storeError, revalidation
        case discoveryCapped
        case line
    }

    // One atomic per counter (no lock on the hot path).
    private let counters = AtomicCounters(count: Counter.allCases.count)
    private let cacheSize: @Sendable () -> Int

    public init(cacheSize: @escaping @Sendable () -> Int = { 0 }) { self.cacheSize = cacheSize }

    public func count(_ counter: Counter) { counters.add(counter.rawValue) }
    public func value(_ counter: Counter) -> Int { counters.value(counter.rawValue) }

    /// Counts a cache event.
    public func record(_ event: PolicyCache.Event) {
        switch event {
        case .fetched: count(.fetchValid)
        case .fetchFailed(_, _, let outcome, _):
            switch outcome {
            case .webpkiInvalid: count(.fetchWebPKI)
            case .policyInvalid: count(.fetchPolicyInvalid)
            default: count(.fetchError)
            }
        case .refreshFailed: count(.refreshFailed)
        case .storeError: count(.storeError)
        case .revalidated: count(.revalidation)
        case .discoveryCapped: count(.discoveryCapped)
        case .noPolicy: break
        }
    }

    /// Counts a DANE status lookup by the regime it found.
    public func record(_ status: DANEStatus) {
        switch status.regime {
        case .dane: count(.daneApplies)
        case .mtaSTS: count(.daneNotApplicable)
        case .deferred: count(.daneDeferred)
        }
    }

    /// The Prometheus text exposition.
    public func exposition() -> String {
        func v(_ c: Counter) -> Int { value(c) }
        return """
            # HELP mtasts_lookups_total Socketmap lookups by how they were answered.
            # TYPE mtasts_lookups_total counter
            mtasts_lookups_total{path="hit"} \(v(.hit))
            mtasts_lookups_total{path="miss"} \(v(.miss))
            mtasts_lookups_total{path="skipped"} \(v(.skipped))
            mtasts_lookups_total{path="line"} \(v(.line))
            # HELP mtasts_replies_total Socketmap replies by kind.
            # TYPE mtasts_replies_total counter
            mtasts_replies_total{reply="ok"} \(v(.replyOK))
            mtasts_replies_total{reply="notfound"} \(v(.replyNotFound))
            mtasts_replies_total{reply="dane"} \(v(.replyDANE))
            mtasts_replies_total{reply="temp"} \(v(.replyTemp))
            # HELP mtasts_dane_lookups_total DANE status lookups (MX and TLSA) of enforced domains by the regime found.
            # TYPE mtasts_dane_lookups_total counter
            mtasts_dane_lookups_total{regime="dane"} \(v(.daneApplies))
            mtasts_dane_lookups_total{regime="mta-sts"} \(v(.daneNotApplicable))
            mtasts_dane_lookups_total{regime="deferred"} \(v(.daneDeferred))
            # HELP mtasts_policy_fetches_total Policy fetches by outcome.
            # TYPE mtasts_policy_fetches_total counter
            mtasts_policy_fetches_total{outcome="valid"} \(v(.fetchValid))
            mtasts_policy_fetches_total{outcome="fetch-error"} \(v(.fetchError))
            mtasts_policy_fetches_total{outcome="webpki-invalid"} \(v(.fetchWebPKI))
            mtasts_policy_fetches_total{outcome="policy-invalid"} \(v(.fetchPolicyInvalid))
            # HELP mtasts_refresh_failures_total Failed refreshes of cached policies other than mode none.
            # TYPE mtasts_refresh_failures_total counter
            mtasts_refresh_failures_total \(v(.refreshFailed))
            # HELP mtasts_revalidations_total Background TXT id checks of cached policies (started by lookups when due).
            # TYPE mtasts_revalidations_total counter
            mtasts_revalidations_total \(v(.revalidation))
            # HELP mtasts_discoveries_capped_total First lookups answered "no policy" without a discovery: max_discoveries were in flight.
            # TYPE mtasts_discoveries_capped_total counter
            mtasts_discoveries_capped_total \(v(.discoveryCapped))
            # HELP mtasts_store_errors_total Errors writing or reading the persistent store.
            # TYPE mtasts_store_errors_total counter
            mtasts_store_errors_total \(v(.storeError))
            # HELP mtasts_cached_policies Domains with a cached policy.
            # TYPE mtasts_cached_policies gauge
            mtasts_cached_policies \(cacheSize())

            """
    }

    /// Serves `GET /metrics` on an HTTP/1.1 listener (loopback in the default configuration).
    public func serve(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> any Channel {
        try await AdminListener(routes: ["/metrics": { [self] in .prometheus(exposition()) }]).serve(host: host, port: port, group: group)
    }
}
