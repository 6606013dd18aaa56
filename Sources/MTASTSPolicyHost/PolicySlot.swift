import MTASTSCore
import MTASTSDiscovery
import Synchronization

/// What one policy source serves right now: the rendered response and until when it may be served.
/// Static policies are set once; file sources when the file changes; proxies after each good fetch.
public final class PolicySlot: Sendable {
    public struct Served: Sendable {
        public let policy: STSPolicy
        public let body: [UInt8]
        public let response: CannedResponse
        /// Unix time after which this copy must not be served (a proxied policy's fetch time + max_age); nil: never.
        public let expires: Double?
    }

    private let state = Mutex<Served?>(nil)

    public init() {}

    public init(policy: STSPolicy, body: [UInt8], cacheControl: String) {
        set(policy: policy, body: body, cacheControl: cacheControl, expires: nil)
    }

    public func set(policy: STSPolicy, body: [UInt8], cacheControl: String, expires: Double?) {
        let served = Served(policy: policy, body: body, response: .policy(body, cacheControl: cacheControl), expires: expires)
        state.withLock { $0 = served }
    }

    /// The copy in force, nil when there is none or it has expired. `now` is read only for expiring copies.
    public func current(now: @autoclosure () -> Double) -> Served? {
        guard let served = state.withLock({ $0 }) else { return nil }
        if let expires = served.expires, now() >= expires { return nil }
        return served
    }

    /// The last copy, expired or not.
    public var last: Served? { state.withLock { $0 } }
}

/// The MX guard of a proxied domain: serve only while every MX host of the domain matches the upstream
/// policy, so a domain that moved its mail elsewhere is not held to the provider's policy.
public final class MXGuard: Sendable {
    public enum State: Sendable, Equatable {
        /// Not checked yet, or only DNS failures so far: answer 503 (temporary).
        case unknown
        case matches
        /// Answer 404: this domain's mail does not go to the provider.
        case mismatch(String)
    }

    public let domain: DomainName
    private let state = Mutex<State>(.unknown)

    public init(domain: DomainName) { self.domain = domain }

    public var current: State { state.withLock { $0 } }

    /// Checks the domain's MX hosts against `policy`. A DNS failure keeps the previous state.
    @discardableResult
    public func check(policy: STSPolicy, resolver: any DNSResolver) async -> State {
        let answer = await resolver.query(domain.value, .mx)
        var hosts: [DomainName] = []
        switch answer.result {
        case .records(let rdata):
            for r in rdata {
                guard let mx = DNSRecordData.mx(r) else { continue }
                // A null MX ("." RFC 7505) means no mail at all: nothing to protect, no match.
                guard let host = try? DomainName(mx.host) else { return set(.mismatch("the domain has a null or invalid MX")) }
                hosts.append(host)
            }
        case .nxdomain, .nodata:
            // No MX: mail goes to the domain itself (RFC 5321 §5.1).
            hosts = [domain]
        case .failure:
            return current
        }
        if hosts.isEmpty { return set(.mismatch("no MX hosts")) }
        for host in hosts {
            if case .notMatched(let reason, _) = policy.match(host) { return set(.mismatch(reason)) }
        }
        return set(.matches)
    }

    private func set(_ s: State) -> State {
        state.withLock { $0 = s }
        return s
    }
}
