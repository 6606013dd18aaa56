#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MTASTSAdminHTTP
import MTASTSCertificateStore

/// `mta-sts certs renew` while `serve` runs: the CLI cannot answer challenges (serve holds the ports), so it leaves a
/// request and the daemon orders that name at its next tick (within a minute) whatever its schedule and backoff say,
/// then removes the request. In a directory store a request is `<storage>/renew/<name>` (``RenewalRequests``); in a
/// fleet's PostgreSQL store, a row any host acts on (``SharedCertificateStore``).
public enum RenewalQueue: Sendable {
    case files(RenewalRequests)
    case shared(any SharedCertificateStore)

    /// The queue of `storage`: files under a directory storage; the store's own for a shared `store` (the opened
    /// PostgreSQL `acme.storage`). Nil for PostgreSQL storage without its opened store.
    public init?(_ storage: PolicyHostConfiguration.ACME.Storage, store: (any CertificateStore)?) {
        if let shared = store as? any SharedCertificateStore { self = .shared(shared); return }
        guard case .directory(let path) = storage else { return nil }
        self = .files(RenewalRequests(directory: path + "/renew"))
    }

    public func request(_ name: String) async throws {
        switch self {
        case .files(let r): try r.request(name)
        case .shared(let s): try await s.requestRenewal(name: name)
        }
    }

    /// The names with a pending request (none while the store cannot be read: the next tick asks again).
    func pending() async -> Set<String> {
        switch self {
        case .files(let r): r.pending()
        case .shared(let s): (try? await s.renewalRequests()) ?? []
        }
    }

    func clear(_ name: String) async {
        switch self {
        case .files(let r): r.clear(name)
        case .shared(let s): try? await s.clearRenewalRequest(name: name)
        }
    }
}

/// A directory store's renewal requests: `<storage>/renew/<name>`, empty 0600 files.
public struct RenewalRequests: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// Creates the request directory (0700) when missing. `serve` does so when its lifecycle starts, so the directory
    /// is its user's even when `certs renew` runs as another one.
    public func prepare() throws {
        // The storage directory itself too, when `certs renew` runs before `serve` ever did.
        for d in [String(directory.dropLast("/renew".count)), directory] where mkdir(d, 0o700) != 0 && errno != EEXIST {
            throw CertificateStoreError("cannot create \(d): \(String(cString: strerror(errno)))")
        }
    }

    public func request(_ name: String) throws {
        let name = try CertificateStoreName.checked(name)
        try prepare()
        let fd = open(directory + "/" + name, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CertificateStoreError("cannot write \(directory)/\(name): \(String(cString: strerror(errno)))") }
        close(fd)
    }

    /// The names with a pending request.
    public func pending() -> Set<String> {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: Set<String> = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let checked = try? CertificateStoreName.checked(name) { names.insert(checked) }
        }
        return names
    }

    public func clear(_ name: String) {
        guard let name = try? CertificateStoreName.checked(name) else { return }
        unlink(directory + "/" + name)
    }
}

/// `mtasts_acme_orders_total{outcome}`: every order decision of the lifecycle.
public final class ACMEMetrics: Sendable {
    public enum Outcome: String, CaseIterable, Sendable {
        case issued, failed
        case skippedDNS = "skipped-dns"
        case skippedLocked = "skipped-locked"
    }

    private let counters = AtomicCounters(count: Outcome.allCases.count)

    public init() {}

    func record(_ outcome: Outcome) {
        if let i = Outcome.allCases.firstIndex(of: outcome) { counters.add(i) }
    }

    public func count(_ outcome: Outcome) -> Int {
        Outcome.allCases.firstIndex(of: outcome).map { counters.value($0) } ?? 0
    }

    public func exposition() -> String {
        "# HELP mtasts_acme_orders_total ACME certificate orders by outcome.\n# TYPE mtasts_acme_orders_total counter\n"
            + Outcome.allCases.map { "mtasts_acme_orders_total{outcome=\"\($0.rawValue)\"} \(count($0))\n" }.joined()
    }
}
