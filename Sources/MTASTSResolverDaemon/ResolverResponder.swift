import Logging
import MTASTSCore
import MTASTSDiscovery
import NIOCore
import PostfixSocketmap
import Synchronization

/// Answers Postfix's TLS policy lookups from the policy cache: a hit is answered on the event loop from
/// memory; a miss waits (at most the zone's timeout) for discovery.
///
/// The hot path keeps, per raw request (the `name key` bytes), the parsed key and the last reply frame
/// together with the policy generation and DANE regime it was rendered from; a hit whose policy and regime
/// are unchanged writes that frame again, so a cached domain costs three dictionary lookups and no
/// decoding, copying or rendering.
public final class ResolverResponder: SocketmapResponder {
    private struct Memo {
        let key: PolicyKey
        let zone: ZoneOptions
        /// What the frame was rendered from (nil: not rendered yet).
        var renderedFrom: Stamp?
        var frame: ByteBuffer?
    }

    /// A policy version and DANE regime: a new fetch or regime gives a new stamp, usage bookkeeping does not.
    private struct Stamp: Equatable {
        /// The policy cache's generation of the domain's policy (nil: "no policy").
        let generation: UInt64?
        let regime: DANEStatus.Regime?
    }

    private let cache: PolicyCache
    /// DANE precedence (RFC 8461 §2); nil when the DNSSEC mode is `off`.
    private let dane: DANEStatusCache?
    private let zones: Mutex<(default: ZoneOptions, named: [String: ZoneOptions])>
    /// By request bytes (a compact copy of the first request's payload).
    private let memos = Mutex<[ByteBuffer: Memo]>([:])
    /// Identical replies share one frame (many domains point at one provider's policy).
    private let frames = Mutex<[String: ByteBuffer]>([:])
    /// Bound on remembered requests (a client sending endless distinct keys cannot grow memory without limit).
    private let maxMemos = 200_000
    public let metrics: ResolverMetrics
    /// The least time a first lookup gives the DANE questions (MX, TLSA: one resent datagram), even when policy
    /// discovery used up the zone's timeout.
    private let daneMinimumWait: Duration
    private let logger: Logger?
    private static let notFound = SocketmapReply.notFound.frame

    public init(cache: PolicyCache, dane: DANEStatusCache? = nil, defaultZone: ZoneOptions, zones: [String: ZoneOptions],
                metrics: ResolverMetrics, daneMinimumWait: Duration = .milliseconds(2500), logger: Logger? = nil) {
        self.cache = cache
        self.dane = dane
        self.zones = Mutex((defaultZone, zones))
        self.metrics = metrics
        self.daneMinimumWait = daneMinimumWait
        self.logger = logger
    }

    /// Replaces the zones (SIGHUP).
    public func reconfigure(defaultZone: ZoneOptions, zones: [String: ZoneOptions]) {
        self.zones.withLock { $0 = (defaultZone, zones) }
        memos.withLock { $0.removeAll() }
        frames.withLock { $0.removeAll() }
    }

    private func options(_ name: String) -> ZoneOptions {
        zones.withLock { $0.named[name] ?? $0.default }
    }

    /// The parsed key and zone of a request, remembered.
    private func memo(for request: SocketmapRequest) -> Memo {
        if let memo = memos.withLock({ $0[request.payload] }) { return memo }
        let memo = Memo(key: PolicyKey(request.key), zone: options(request.name), renderedFrom: nil, frame: nil)
        // A copy of just these bytes: the request's buffer is a slice of the connection's read buffer.
        let id = ByteBuffer(bytes: request.payload.readableBytesView)
        memos.withLock { m in
            if m.count >= maxMemos { m.removeAll(keepingCapacity: true) }
            m[id] = memo
        }
        return memo
    }

    public func immediateReply(to request: SocketmapRequest) -> ByteBuffer? {
        let memo = memo(for: request)
        guard case .domain(let domain) = memo.key else {
            metrics.count(.skipped)
            metrics.count(.replyNotFound)
            return Self.notFound
        }
        guard let glance = cache.glance(domain) else { return nil }
        var source = Stamp(generation: nil, regime: nil)
        if case .policy(let generation, let mode, let hasMX) = glance {
            source = Stamp(generation: generation, regime: nil)
            if let dane, PostfixPolicyReply.isEnforced(mode: mode, hasMX: hasMX, options: memo.zone) {
                guard let regime = dane.regime(domain) else { return nil }  // the DANE status needs DNS: not here
                source = Stamp(generation: generation, regime: regime)
            }
        }
        if let frame = memo.frame, memo.renderedFrom == source, source.regime != .deferred {
            metrics.count(.hit)
            metrics.count(frame == Self.notFound ? .replyNotFound : source.regime == .dane ? .replyDANE : .replyOK)
            return frame
        }
        // Changed (or first, or deferred with its reason): render from the policy and status read now, and stamp the
        // frame with exactly what it was rendered from.
        guard let (decision, generation) = cache.current(domain) else { return nil }
        var status: DANEStatus? = nil
        if let dane, needsDANE(decision, memo.zone) {
            guard let known = dane.cached(domain) else { return nil }
            status = known
        }
        metrics.count(.hit)
        let frame = self.frame(PostfixPolicyReply.reply(for: decision, dane: status, options: memo.zone))
        memos.withLock { m in
            // Not when SIGHUP changed the zones meanwhile: that frame would be for the old zone.
            guard m[request.payload]?.zone == memo.zone else { return }
            m[request.payload]?.renderedFrom = Stamp(generation: generation, regime: status?.regime)
            m[request.payload]?.frame = frame
        }
        return frame
    }

    public func reply(to request: SocketmapRequest) async -> ByteBuffer {
        let memo = memo(for: request)
        guard case .domain(let domain) = memo.key else { return Self.notFound }
        metrics.count(.miss)
        let started = ContinuousClock.now
        let policyKnown = if case .policy = cache.glance(domain) { true } else { false }
        let decision = await cache.resolve(domain, deadline: memo.zone.timeout)
        guard let dane, needsDANE(decision, memo.zone) else {
            return frame(PostfixPolicyReply.reply(for: decision, options: memo.zone))
        }
        let left = memo.zone.timeout - (ContinuousClock.now - started)
        guard let status = await dane.resolve(domain, deadline: max(left, daneMinimumWait)) else {
            // An enforced policy, but whether DANE applies is not known yet: `secure` could override DANE (RFC 8461 §2).
            if policyKnown {
                // The policy was known before this lookup (its DANE status expired past the stale limit, or was dropped):
                // the mail waits rather than lose the enforcement to a DNS delay.
                logger?.warning("DANE status not known in time for a domain with a cached enforce policy: TEMP",
                                metadata: ["domain": "\(domain)"])
                return frame(.temp("the DANE status of \(domain) is not known yet (slow DNS); try again"))
            }
            // A first lookup: what any first lookup gets when discovery is slow, NOTFOUND (Postfix's own level for this
            // message, its DANE when configured), while the lookup finishes in the background for the next one.
            logger?.warning("DANE status not known in time for a first lookup: NOTFOUND (Postfix's own TLS level applies)",
                            metadata: ["domain": "\(domain)"])
            return frame(.notFound)
        }
        return frame(PostfixPolicyReply.reply(for: decision, dane: status, options: memo.zone))
    }

    /// DANE precedence matters only where our reply would change delivery (an enforced policy).
    private func needsDANE(_ decision: PolicyCache.Decision, _ zone: ZoneOptions) -> Bool {
        guard case .policy(let cached) = decision else { return false }
        return PostfixPolicyReply.isEnforced(cached.policy, options: zone)
    }

    private func frame(_ reply: SocketmapReply) -> ByteBuffer {
        switch reply {
        case .ok(let data): metrics.count(data.hasPrefix("dane") ? .replyDANE : .replyOK)
        case .temp, .perm: metrics.count(.replyTemp)
        case .notFound: metrics.count(.replyNotFound)
        }
        if reply == .notFound { return Self.notFound }
        if case .temp = reply { return reply.frame }  // carries a changing reason: not shared
        let payload = reply.payload
        return frames.withLock { f in
            if let shared = f[payload] { return shared }
            if f.count >= maxMemos { f.removeAll(keepingCapacity: true) }
            let frame = reply.frame
            f[payload] = frame
            return frame
        }
    }
}
