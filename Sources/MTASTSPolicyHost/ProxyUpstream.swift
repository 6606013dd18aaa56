import Foundation
import MTASTSCore
import MTASTSDiscovery
import Synchronization

/// One upstream policy host (`https://mta-sts.<domain>/.well-known/mta-sts.txt`) proxied for any number of
/// customer domains: fetched with the strict discovery fetcher over our one DNS path, validated by the core
/// parser as a sender reads it, and served **unchanged** while within its max_age. Refreshed before it
/// expires (at half its max_age, at most every `refresh` seconds); a failed or invalid fetch keeps the last
/// good copy; with nothing valid in force the slot is empty and the host answers 503. Never invents a policy.
public final class ProxyUpstream: Sendable {
    public struct Timing: Sendable {
        /// Longest time between two fetches.
        public var refresh: Double
        /// Wait after a failed fetch (shortened so that a few retries happen before the last good copy expires).
        public var retry: Double
        public init(refresh: Double = 3600, retry: Double = 60) {
            self.refresh = refresh
            self.retry = retry
        }
    }

    public let domain: DomainName
    public let slot = PolicySlot()
    private let timing: Timing
    private let cacheControl: String
    /// Unix time of the next fetch.
    private let nextFetch = Mutex<Double>(0)

    public init(domain: DomainName, timing: Timing, cacheControl: String) {
        self.domain = domain
        self.timing = timing
        self.cacheControl = cacheControl
    }

    /// When the next fetch is due.
    public var due: Double { nextFetch.withLock { $0 } }

    /// One fetch; updates the slot only with a valid policy. Returns the fetch's outcome and why it failed.
    @discardableResult
    public func refresh(discovery: PolicyDiscovery, clock: any WallClock) async -> (DiscoveryOutcome, String?) {
        let fetch = await discovery.fetchPolicy(domain)
        let now = clock.now()
        if fetch.outcome == .valid, let policy = fetch.policy, let body = fetch.body {
            let maxAge = Double(policy.maxAge)
            slot.set(policy: policy, body: body, cacheControl: cacheControl, expires: now + maxAge)
            nextFetch.withLock { $0 = now + max(1, min(timing.refresh, maxAge / 2)) }
            return (.valid, nil)
        }
        let remaining = slot.current(now: now)?.expires.map { $0 - now }
        nextFetch.withLock { $0 = now + max(1, min(timing.retry, remaining.map { $0 / 2 } ?? timing.retry)) }
        return (fetch.outcome, fetch.error?.message ?? "fetch failed")
    }
}

/// A policy file: validated by the core parser (strict, as written by an operator) and served in canonical
/// form; re-read when its content changes. A bad new version keeps the running one, and so does a reload of
/// the configuration (one customer's broken file must not hold back every other domain's change).
public final class FileSource: Sendable {
    public let path: String
    public let slot = PolicySlot()
    /// The content last read (nil before the first read, or while the file cannot be read).
    private let lastBytes = Mutex<[UInt8]?>(nil)
    private let cacheControl: String
    /// Why the file's content is not what is served (unreadable or invalid); nil when it is.
    private let failure = Mutex<String?>(nil)

    /// A source with nothing served yet: ``reload()`` reads the file.
    public init(path: String, cacheControl: String) {
        self.path = path
        self.cacheControl = cacheControl
    }

    /// Reads and validates the file; throws with the core's diagnostics when it is not a valid policy.
    public static func load(path: String, cacheControl: String) throws(PolicyHostConfiguration.Invalid) -> FileSource {
        let source = FileSource(path: path, cacheControl: cacheControl)
        try source.reload()
        return source
    }

    /// Why the file is not served as it is now, e.g. "…: the policy is invalid: policy-version-missing: …".
    public var problem: String? { failure.withLock { $0 } }

    /// Serves `served` (the last good policy of the source this one replaces) until the file is valid.
    func keep(_ served: PolicySlot.Served) {
        slot.set(policy: served.policy, body: served.body, cacheControl: cacheControl, expires: nil)
    }

    static func read(_ path: String) throws(PolicyHostConfiguration.Invalid) -> [UInt8] {
        guard let fd = fopen(path, "rb") else {
            throw .init("cannot read policy file \(path): \(String(cString: strerror(errno)))", isIOError: true)
        }
        defer { fclose(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, fd)
            if n > 0 { out += buf[0..<n] }
            // Counted after every read, the last short one too: the cap is exact.
            if out.count > STSLimits.policyBodyCap { throw .init("policy file \(path) is larger than \(STSLimits.policyBodyCap) bytes") }
            if n < buf.count { break }
        }
        return out
    }

    static func validate(_ bytes: [UInt8], path: String) throws(PolicyHostConfiguration.Invalid) -> STSPolicy {
        let parsed = STSPolicy.parse(bytes)
        guard let policy = parsed.policy else {
            let reasons = parsed.diagnostics.errors.map { "\($0.code): \($0.message)" }.joined(separator: "; ")
            throw .init("\(path): the policy is invalid: \(reasons)", diagnostics: parsed.diagnostics)
        }
        return policy
    }

    /// Re-reads the file. Returns nil when unchanged, the new policy when it changed and is valid; throws
    /// (keeping the served policy, and remembering why in ``problem``) when it changed and is invalid or
    /// unreadable.
    @discardableResult
    public func reload() throws(PolicyHostConfiguration.Invalid) -> STSPolicy? {
        do throws(PolicyHostConfiguration.Invalid) {
            let bytes: [UInt8]
            do { bytes = try Self.read(path) } catch {
                lastBytes.withLock { $0 = nil }
                throw error
            }
            if lastBytes.withLock({ $0 == bytes }) { return nil }
            lastBytes.withLock { $0 = bytes }
            let policy = try Self.validate(bytes, path: path)
            slot.set(policy: policy, body: Array(policy.text.utf8), cacheControl: cacheControl, expires: nil)
            failure.withLock { $0 = nil }
            return policy
        } catch {
            failure.withLock { $0 = error.description }
            throw error
        }
    }
}
