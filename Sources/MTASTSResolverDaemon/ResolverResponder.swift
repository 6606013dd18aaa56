import MTASTSCore
import MTASTSDiscovery
import NIOCore
import PostfixSocketmap
import Synchronization

/// Answers Postfix's TLS policy lookups from the policy cache: a hit is answered on the event loop from
/// memory; a miss waits (at most the zone's timeout) for discovery.
///
/// The hot path keeps, per raw request (`name key`), the parsed key and the last reply frame together with
/// the policy it was rendered from; a hit whose policy is unchanged writes that frame again, so a cached
/// domain costs two dictionary lookups and no parsing or rendering.
public final class ResolverResponder: SocketmapResponder {
    private struct Memo {
        let key: PolicyKey
        let zone: ZoneOptions
        /// Which policy version the frame was rendered from (nil: rendered for "no policy").
        var renderedFrom: Stamp?
        var frame: ByteBuffer?
    }

    /// A policy version and DANE regime: a new fetch or regime gives a new stamp, usage bookkeeping does not.
    private struct Stamp: Equatable {
        let id: String
        let fetchedAt: Double
        let regime: DANEStatus.Regime?
    }

    private let cache: PolicyCache
    /// DANE precedence (RFC 8461 §2); nil when the DNSSEC mode is `off`.
    private let dane: DANEStatusCache?
    private let zones: Mutex<(default: ZoneOptions, named: [String: ZoneOptions])>
    private let memos = Mutex<[String: Memo]>([:])
    /// Identical replies share one frame (many domains point at one provider's policy).
    private let frames = Mutex<[String: ByteBuffer]>([:])
    /// Bound on remembered requests (a client sending endless distinct keys cannot grow memory without limit).
    private let maxMemos = 100_000
    public let metrics: ResolverMetrics
    private static let notFound = SocketmapReply.notFound.frame

    public init(cache: PolicyCache, dane: DANEStatusCache? = nil, defaultZone: ZoneOptions, zones: [String: ZoneOptions],
                metrics: ResolverMetrics) {
        self.cache = cache
        self.dane = dane
        self.zones = Mutex((defaultZone, zones))
        self.metrics = metrics
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
    private func memo(for request: SocketmapRequest, id: String) -> Memo {
        if let memo = memos.withLock({ $0[id] }) { return memo }
        let memo = Memo(key: PolicyKey(request.key), zone: options(request.name), renderedFrom: nil, frame: nil)
        memos.withLock { m in
            if m.count >= maxMemos { m.removeAll(keepingCapacity: true) }
            m[id] = memo
        }
        return memo
    }

    public func immediateReply(to request: SocketmapRequest) -> ByteBuffer? {
        let id = request.name + " " + request.key
        let memo = memo(for: request, id: id)
        guard case .domain(let domain) = memo.key else {
            metrics.count(.skipped)
            metrics.count(.replyNotFound)
            return Self.notFound
        }
        guard let decision = cache.cached(domain) else { return nil }
        var status: DANEStatus? = nil
        if let dane, needsDANE(decision, memo.zone) {
            guard let known = dane.cached(domain) else { return nil }  // the DANE status needs DNS: not here
            status = known
        }
        metrics.count(.hit)
        let source: Stamp? = if case .policy(let p) = decision { Stamp(id: p.id, fetchedAt: p.fetchedAt, regime: status?.regime) } else { nil }
        if let frame = memo.frame, memo.renderedFrom == source, status?.regime != .deferred {
            metrics.count(frame == Self.notFound ? .replyNotFound : status?.regime == .dane ? .replyDANE : .replyOK)
            return frame
        }
        let frame = self.frame(PostfixPolicyReply.reply(for: decision, dane: status, options: memo.zone))
        memos.withLock { m in
            m[id]?.renderedFrom = source
            m[id]?.frame = frame
        }
        return frame
    }

    public func reply(to request: SocketmapRequest) async -> ByteBuffer {
        let memo = memo(for: request, id: request.name + " " + request.key)
        guard case .domain(let domain) = memo.key else { return Self.notFound }
        metrics.count(.miss)
        let started = ContinuousClock.now
        let decision = await cache.resolve(domain, deadline: memo.zone.timeout)
        guard let dane, needsDANE(decision, memo.zone) else {
            return frame(PostfixPolicyReply.reply(for: decision, options: memo.zone))
        }
        let left = memo.zone.timeout - (ContinuousClock.now - started)
        // At least 2.5 s for the MX and TLSA questions (one resent datagram), even when discovery used the zone's time.
        guard let status = await dane.resolve(domain, deadline: max(left, .milliseconds(2500))) else {
            // An enforced policy but DANE not yet known: answering `secure` could override DANE, so the mail waits
            // for the lookup that goes on in the background.
            return frame(.temp("the DANE status of \(domain) is not known yet (slow DNS); try again"))
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
