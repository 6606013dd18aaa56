import MTASTSDiscovery
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The daemon's counters, exposed in the Prometheus text format (a handful of counters: no package needed).
public final class ResolverMetrics: Sendable {
    public enum Counter: Int, CaseIterable, Sendable {
        case hit, miss, skipped, replyOK, replyNotFound, replyDANE, replyTemp
        case daneApplies, daneNotApplicable, daneDeferred
        case fetchValid, fetchError, fetchWebPKI, fetchPolicyInvalid, refreshFailed, storeError
    }

    // One atomic per counter (no lock on the hot path).
    private let hit = Atomic(0), miss = Atomic(0), skipped = Atomic(0), replyOK = Atomic(0), replyNotFound = Atomic(0)
    private let fetchValid = Atomic(0), fetchError = Atomic(0), fetchWebPKI = Atomic(0), fetchPolicyInvalid = Atomic(0)
    private let refreshFailed = Atomic(0), storeError = Atomic(0)
    private let replyDANE = Atomic(0), replyTemp = Atomic(0), daneApplies = Atomic(0), daneNotApplicable = Atomic(0), daneDeferred = Atomic(0)
    private let cacheSize: @Sendable () -> Int

    public init(cacheSize: @escaping @Sendable () -> Int = { 0 }) { self.cacheSize = cacheSize }

    private func atomic<R>(_ counter: Counter, _ body: (borrowing Atomic<Int>) -> R) -> R {
        switch counter {
        case .hit: body(hit)
        case .miss: body(miss)
        case .skipped: body(skipped)
        case .replyOK: body(replyOK)
        case .replyNotFound: body(replyNotFound)
        case .replyDANE: body(replyDANE)
        case .replyTemp: body(replyTemp)
        case .daneApplies: body(daneApplies)
        case .daneNotApplicable: body(daneNotApplicable)
        case .daneDeferred: body(daneDeferred)
        case .fetchValid: body(fetchValid)
        case .fetchError: body(fetchError)
        case .fetchWebPKI: body(fetchWebPKI)
        case .fetchPolicyInvalid: body(fetchPolicyInvalid)
        case .refreshFailed: body(refreshFailed)
        case .storeError: body(storeError)
        }
    }

    public func count(_ counter: Counter) { atomic(counter) { $0.wrappingAdd(1, ordering: .relaxed) } }
    public func value(_ counter: Counter) -> Int { atomic(counter) { $0.load(ordering: .relaxed) } }

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
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(metrics: self))
                }
            }
            .bind(host: host, port: port).get()
    }
}

private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let metrics: ResolverMetrics
    init(metrics: ResolverMetrics) { self.metrics = metrics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let found = head.method == .GET && head.uri == "/metrics"
        let body = found ? metrics.exposition() : "not found\n"
        var headers = HTTPHeaders([("Content-Type", found ? "text/plain; version=0.0.4" : "text/plain"),
                                   ("Content-Length", String(body.utf8.count))])
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in if !keepAlive { context.close(promise: nil) } }
    }
}
