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
/// decoding, copying or rendering. One memo exists per domain asked for, so it is kept small: the zone by
/// reference, the request bytes inline (``RequestKey``), the frame as an index into the distinct frames (many domains
/// share one provider's reply), the fields ordered to pack.
public final class ResolverResponder: SocketmapResponder {
    private struct Memo {
        let zone: Zone
        /// What the frame was rendered from.
        var renderedFrom: Stamp
        /// The last reply, in ``Memos/frames`` (``Memos/none``: not rendered yet).
        var frame: UInt32 = Memos.none
        let key: PolicyKey
    }

    /// The memos, the distinct frames they point at and the zones they were made for, under one lock (a hit reads
    /// memo and frame at once; a SIGHUP replaces the zones and empties the rest in one step, so no memo of the old
    /// zones can be added after it).
    private struct Memos {
        static let none = UInt32.max
        /// Bound on remembered requests and on distinct frames (a client sending endless distinct keys cannot grow
        /// memory without limit): reaching it empties both.
        let limit: Int
        var zones: (default: Zone, named: [String: Zone])
        var byRequest: [RequestKey: Memo] = [:]
        var frames: [ByteBuffer] = []
        var frameIndex: [String: UInt32] = [:]

        init(limit: Int, defaultZone: ZoneOptions, zones: [String: ZoneOptions]) {
            self.limit = limit
            self.zones = (Zone(defaultZone), zones.mapValues(Zone.init))
        }

        /// Remembers a new request's parsed key with the zone it names now; returns the memo kept (one added
        /// meanwhile by another connection wins).
        mutating func add(_ id: RequestKey, zone name: String, key: PolicyKey) -> (Memo, ByteBuffer?) {
            if let found = lookup(id) { return found }
            if byRequest.count >= limit { removeAll() }
            let memo = Memo(zone: zones.named[name] ?? zones.default, renderedFrom: Stamp(generation: nil, regime: nil), key: key)
            byRequest[id] = memo
            return (memo, nil)
        }

        /// The memo of a request and its frame (nil: not rendered yet).
        func lookup(_ id: RequestKey) -> (Memo, ByteBuffer?)? {
            guard let memo = byRequest[id] else { return nil }
            return (memo, memo.frame == Self.none ? nil : frames[Int(memo.frame)])
        }

        /// The index of `frame` for the reply `payload` (interned: identical replies share one frame).
        mutating func intern(_ payload: String, _ frame: () -> ByteBuffer) -> UInt32 {
            if let index = frameIndex[payload] { return index }
            if frames.count >= limit { removeAll() }  // the memos pointing at frames go with them
            let index = UInt32(frames.count)
            frames.append(frame())
            frameIndex[payload] = index
            return index
        }

        mutating func removeAll() {
            byRequest.removeAll(keepingCapacity: true)
            frames.removeAll()
            frameIndex.removeAll()
        }
    }

    /// A zone's options, shared by every memo of the zone; a SIGHUP makes new ones (memos compare by identity).
    private final class Zone: Sendable {
        let options: ZoneOptions
        init(_ options: ZoneOptions) { self.options = options }
    }

    /// A policy version and DANE regime: a new fetch or regime gives a new stamp, usage bookkeeping does not.
    private struct Stamp: Equatable {
        /// The policy cache's generation of the domain's policy (0: "no policy"; generations start at 1).
        let generation: UInt64
        let regime: DANEStatus.Regime?

        init(generation: UInt64?, regime: DANEStatus.Regime?) {
            self.generation = generation ?? 0
            self.regime = regime
        }
    }

    private let cache: PolicyCache
    /// DANE precedence (RFC 8461 §2); nil when the DNSSEC mode is `off`.
    private let dane: DANEStatusCache?
    /// By request bytes.
    private let memos: Mutex<Memos>
    public let metrics: ResolverMetrics
    /// The least time a first lookup gives the DANE questions (MX, TLSA: one resent datagram), even when policy
    /// discovery used up the zone's timeout.
    private let daneMinimumWait: Duration
    /// The policy cache's clock: `policy_ttl` is the remaining lifetime by it.
    private let clock: any WallClock
    private let logger: Logger?
    private static let notFound = SocketmapReply.notFound.frame

    /// - Parameter memoLimit: how many distinct requests (and distinct replies) are remembered before the memory of
    ///   them is emptied and rebuilt.
    public init(cache: PolicyCache, dane: DANEStatusCache? = nil, defaultZone: ZoneOptions, zones: [String: ZoneOptions],
                metrics: ResolverMetrics, daneMinimumWait: Duration = .milliseconds(2500), logger: Logger? = nil,
                memoLimit: Int = 200_000, clock: any WallClock = SystemClock()) {
        self.cache = cache
        self.dane = dane
        self.memos = Mutex(Memos(limit: memoLimit, defaultZone: defaultZone, zones: zones))
        self.metrics = metrics
        self.daneMinimumWait = daneMinimumWait
        self.clock = clock
        self.logger = logger
    }

    /// Replaces the zones (SIGHUP).
    public func reconfigure(defaultZone: ZoneOptions, zones: [String: ZoneOptions]) {
        memos.withLock { $0 = Memos(limit: $0.limit, defaultZone: defaultZone, zones: zones) }
    }

    /// The parsed key and zone of a request, remembered, and its last frame.
    private func memo(for request: SocketmapRequest, id: RequestKey) -> (Memo, ByteBuffer?) {
        if let found = memos.withLock({ $0.lookup(id) }) { return found }
        var key = PolicyKey(request.key)
        // The cache's copy of the name, when it has one (after a restart): one copy of each name in memory.
        if case .domain(let name) = key, let kept = cache.canonicalName(name) { key = .domain(kept) }
        let name = request.name
        return memos.withLock { $0.add(id, zone: name, key: key) }
    }

    public func immediateReply(to request: SocketmapRequest) -> ByteBuffer? {
        let id = RequestKey(request.payload)
        let (memo, rendered) = memo(for: request, id: id)
        let zone = memo.zone.options
        guard case .domain(let domain) = memo.key else {
            metrics.count(.skipped)
            metrics.count(.replyNotFound)
            return Self.notFound
        }
        guard let glance = cache.glance(domain) else { return nil }
        var source = Stamp(generation: nil, regime: nil)
        if case .policy(let generation, let mode, let hasMX) = glance {
            source = Stamp(generation: generation, regime: nil)
            if let dane, PostfixPolicyReply.isEnforced(mode: mode, hasMX: hasMX, options: zone) {
                guard let regime = dane.regime(domain) else { return nil }  // the DANE status needs DNS: not here
                source = Stamp(generation: generation, regime: regime)
            }
        }
        if let frame = rendered, memo.renderedFrom == source, source.regime != .deferred {
            metrics.count(.hit)
            metrics.count(frame == Self.notFound ? .replyNotFound : source.regime == .dane ? .replyDANE : .replyOK)
            return frame
        }
        // Changed (or first, or deferred with its reason): render from the policy and status read now, and stamp the
        // frame with exactly what it was rendered from.
        guard let (decision, generation) = cache.current(domain) else { return nil }
        var status: DANEStatus? = nil
        if let dane, needsDANE(decision, zone) {
            guard let known = dane.cached(domain) else { return nil }
            status = known
        }
        metrics.count(.hit)
        let reply = PostfixPolicyReply.reply(for: decision, dane: status, options: zone, now: clock.now())
        count(reply)
        if PostfixPolicyReply.changesOverTime(reply) { return reply.frame }  // a TEMP reason, a policy_ttl: neither shared nor remembered
        let payload = reply.payload
        return memos.withLock { m in
            let frame = m.intern(payload) { reply == .notFound ? Self.notFound : reply.frame }
            // Not when SIGHUP changed the zones meanwhile: that frame would be for the old zone.
            if let index = m.byRequest.index(forKey: id), m.byRequest.values[index].zone === memo.zone {
                m.byRequest.values[index].renderedFrom = Stamp(generation: generation, regime: status?.regime)
                m.byRequest.values[index].frame = frame
            }
            return m.frames[Int(frame)]
        }
    }

    public func reply(to request: SocketmapRequest) async -> ByteBuffer {
        let (memo, _) = memo(for: request, id: RequestKey(request.payload))
        let zone = memo.zone.options
        guard case .domain(let domain) = memo.key else { return Self.notFound }
        metrics.count(.miss)
        switch await resolve(domain, zone: zone) {
        case .decided(let decision, let status):
            return frame(PostfixPolicyReply.reply(for: decision, dane: status, options: zone, now: clock.now()))
        case .temp(let reason): return frame(.temp(reason))
        case .notFound: return frame(.notFound)
        }
    }

    /// The line query mode (Exim's `${readsocket}`): the same key canonicalisation, zones, cache, DANE precedence and
    /// first-lookup timeout as the socketmap, answered as one line of ``LineReply`` fields.
    public func lineReply(to request: SocketmapRequest) async -> ByteBuffer? {
        let (memo, _) = memo(for: request, id: RequestKey(request.payload))
        let zone = memo.zone.options
        metrics.count(.line)
        var line = LineReply.none
        if case .domain(let domain) = memo.key {
            switch await resolve(domain, zone: zone) {
            case .decided(let decision, let status): line = LineReply.render(decision, dane: status, options: zone, now: clock.now())
            case .temp(let reason): line = LineReply.temp(reason)
            case .notFound: break
            }
        }
        return ByteBuffer(string: line + "\n")
    }

    /// What a lookup that may wait for discovery decides: the cache's decision with the DANE status where it matters,
    /// or, when that status is not known in time, the answer that stands for it.
    private enum Resolution {
        case decided(PolicyCache.Decision, DANEStatus?)
        case temp(String)
        case notFound
    }

    private func resolve(_ domain: DomainName, zone: ZoneOptions) async -> Resolution {
        let started = ContinuousClock.now
        let policyKnown = if case .policy = cache.glance(domain) { true } else { false }
        let decision = await cache.resolve(domain, deadline: zone.timeout)
        guard let dane, needsDANE(decision, zone) else { return .decided(decision, nil) }
        let left = zone.timeout - (ContinuousClock.now - started)
        guard let status = await dane.resolve(domain, deadline: max(left, daneMinimumWait)) else {
            // An enforced policy, but whether DANE applies is not known yet: `secure` could override DANE (RFC 8461 §2).
            if policyKnown {
                // The policy was known before this lookup (its DANE status expired past the stale limit, or was dropped):
                // the mail waits rather than lose the enforcement to a DNS delay.
                logger?.warning("DANE status not known in time for a domain with a cached enforce policy: TEMP",
                                metadata: ["domain": "\(domain)"])
                return .temp("the DANE status of \(domain) is not known yet (slow DNS); try again")
            }
            // A first lookup: what any first lookup gets when discovery is slow, NOTFOUND (Postfix's own level for this
            // message, its DANE when configured), while the lookup finishes in the background for the next one.
            logger?.warning("DANE status not known in time for a first lookup: NOTFOUND (Postfix's own TLS level applies)",
                            metadata: ["domain": "\(domain)"])
            return .notFound
        }
        return .decided(decision, status)
    }

    /// DANE precedence matters only where our reply would change delivery (an enforced policy).
    private func needsDANE(_ decision: PolicyCache.Decision, _ zone: ZoneOptions) -> Bool {
        guard case .policy(let cached) = decision else { return false }
        return PostfixPolicyReply.isEnforced(cached.policy, options: zone)
    }

    /// The frame of a reply computed off the hot path (identical replies share one frame).
    private func frame(_ reply: SocketmapReply) -> ByteBuffer {
        count(reply)
        if reply == .notFound { return Self.notFound }
        if PostfixPolicyReply.changesOverTime(reply) { return reply.frame }  // a TEMP reason, a policy_ttl: not shared
        let payload = reply.payload
        return memos.withLock { m in m.frames[Int(m.intern(payload) { reply.frame })] }
    }

    private func count(_ reply: SocketmapReply) {
        switch reply {
        case .ok(let data): metrics.count(data.hasPrefix("dane") ? .replyDANE : .replyOK)
        case .temp, .perm: metrics.count(.replyTemp)
        case .notFound: metrics.count(.replyNotFound)
        }
    }
}
