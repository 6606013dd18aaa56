import MTASTSCore
import MTASTSDiscovery
import NIOCore
import PostfixSocketmap
import Synchronization

/// Answers Postfix's TLS policy lookups from the policy cache: a hit is answered on the event loop from
/// memory; a miss waits (at most the zone's timeout) for discovery.
public final class ResolverResponder: SocketmapResponder {
    private let cache: PolicyCache
    private let zones: Mutex<(default: ZoneOptions, named: [String: ZoneOptions])>
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
    }

    private func options(_ name: String) -> ZoneOptions {
        zones.withLock { $0.named[name] ?? $0.default }
    }

    public func immediateReply(to request: SocketmapRequest) -> ByteBuffer? {
        guard case .domain(let domain) = PolicyKey(request.key) else {
            metrics.count(.skipped)
            return Self.notFound
        }
        guard let decision = cache.cached(domain) else { return nil }
        metrics.count(.hit)
        return frame(PostfixPolicyReply.reply(for: decision, options: options(request.name)))
    }

    public func reply(to request: SocketmapRequest) async -> ByteBuffer {
        guard case .domain(let domain) = PolicyKey(request.key) else { return Self.notFound }
        metrics.count(.miss)
        let zone = options(request.name)
        let decision = await cache.resolve(domain, deadline: zone.timeout)
        return frame(PostfixPolicyReply.reply(for: decision, options: zone))
    }

    private func frame(_ reply: SocketmapReply) -> ByteBuffer {
        switch reply {
        case .ok: metrics.count(.replyOK)
        default: metrics.count(.replyNotFound)
        }
        return reply == .notFound ? Self.notFound : reply.frame
    }
}
