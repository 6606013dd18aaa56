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

    /// A policy version: a new fetch gives a new stamp, usage bookkeeping does not.
    private struct Stamp: Equatable {
        let id: String
        let fetchedAt: Double
    }

    private let cache: PolicyCache
    private let zones: Mutex<(default: ZoneOptions, named: [String: ZoneOptions])>
    private let memos = Mutex<[String: Memo]>([:])
    /// Identical replies share one frame (many domains point at one provider's policy).
    private let frames = Mutex<[String: ByteBuffer]>([:])
    /// Bound on remembered requests (a client sending endless distinct keys cannot grow memory without limit).
    private let maxMemos = 100_000
    public let metrics: ResolverMetrics
    private static let notFound = SocketmapReply.notFound.frame

    public init(cache: PolicyCache, defaultZone: ZoneOptions, zones: [String: ZoneOptions], metrics: ResolverMetrics) {
        self.cache = cache
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
        metrics.count(.hit)
        let source: Stamp? = if case .policy(let p) = decision { Stamp(id: p.id, fetchedAt: p.fetchedAt) } else { nil }
        if let frame = memo.frame, memo.renderedFrom == source {
            metrics.count(frame == Self.notFound ? .replyNotFound : .replyOK)
            return frame
        }
        let frame = self.frame(PostfixPolicyReply.reply(for: decision, options: memo.zone))
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
        let decision = await cache.resolve(domain, deadline: memo.zone.timeout)
        return frame(PostfixPolicyReply.reply(for: decision, options: memo.zone))
    }

    private func frame(_ reply: SocketmapReply) -> ByteBuffer {
        switch reply {
        case .ok: metrics.count(.replyOK)
        default: metrics.count(.replyNotFound)
        }
        if reply == .notFound { return Self.notFound }
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
