import Foundation
import Logging
@testable import MTASTSACME
import MTASTSCertificateStore
import MTASTSCore
import MTASTSDiscovery
@testable import MTASTSPolicyHost
import Synchronization
import Testing

/// The lifecycle with an in-memory store and DNS: the order lock held elsewhere, a corrupt stored certificate, and
/// the backoff after failed orders (a CA that refuses connections), on a manual clock.
struct ACMELifecycleTests {
    final class MemoryStore: CertificateStore {
        let certificates = Mutex<[String: StoredCertificate]>([:])
        let lockedElsewhere: Bool
        init(lockedElsewhere: Bool) { self.lockedElsewhere = lockedElsewhere }
        func loadAccountKey() async throws -> String? { nil }
        func saveAccountKey(_ pem: String) async throws -> String { pem }
        func loadCertificate(name: String) async throws -> StoredCertificate? { certificates.withLock { $0[name] } }
        func saveCertificate(_ certificate: StoredCertificate, name: String) async throws { certificates.withLock { $0[name] = certificate } }
        func names() async throws -> [String] { certificates.withLock { $0.keys.sorted() } }
        func withOrderLock<T: Sendable>(name: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
            lockedElsewhere ? nil : try await body()
        }
        let statuses = Mutex<[String: String?]>([:])
        func saveStatus(name: String, lastError: String?, at: Date) async throws { statuses.withLock { $0[name] = .some(lastError) } }
        func status(name: String) async throws -> CertificateStatus? { nil }
    }

    /// A value shared with the lifecycle's closures.
    final class Box<T: Sendable>: Sendable {
        let value: Mutex<T>
        init(_ v: T) { value = Mutex(v) }
        var get: T { value.withLock { $0 } }
        func set(_ v: T) { value.withLock { $0 = v } }
    }

    struct Here: DNSResolver {
        func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
            type == .a ? DNSAnswer(.records([[127, 0, 0, 1]])) : DNSAnswer(.nodata)
        }
    }

    func lifecycle(_ store: MemoryStore, clock: Box<Date>, installed: Box<Int>, metrics: ACMEMetrics) -> ACMELifecycle {
        // Port 1 on loopback refuses connections: every order fails at once.
        ACMELifecycle(settings: .init(directory: "https://127.0.0.1:1/dir"), store: store, resolver: Here(),
                      challenges: ChallengeCertificates(), tokens: ChallengeTokens(), metrics: metrics, logger: Logger(label: "test"),
                      now: { clock.get }) { _, _ in installed.set(installed.get + 1) }
    }

    var zone: PolicyHostConfiguration.ZoneSettings {
        var z = PolicyHostConfiguration.ZoneSettings()
        z.addresses = ["127.0.0.1"]
        return z
    }

    @Test func lockHeldElsewhereSkipsAndACorruptStoredCertificateIsNeverInstalled() async throws {
        let store = MemoryStore(lockedElsewhere: true)
        store.certificates.withLock { $0["mta-sts.example.com"] = StoredCertificate(chainPEM: "garbage", keyPEM: "garbage") }
        let (clock, installed, metrics) = (Box(Date(timeIntervalSince1970: 1_800_000_000)), Box(0), ACMEMetrics())
        let l = lifecycle(store, clock: clock, installed: installed, metrics: metrics)
        await l.tick(domains: [try DomainName("example.com")], zone: zone)
        #expect(installed.get == 0)
        #expect(metrics.count(.skippedLocked) == 1 && metrics.count(.failed) == 0 && metrics.count(.issued) == 0)
    }

    /// RFC 8555 §6.6: a refusal's Retry-After reaches the lifecycle with the problem, and outlasts the backoff.
    @Test func aProblemCarriesRetryAfterForTheBackoff() throws {
        let body = Array(#"{"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many"}"#.utf8)
        let problem = ACMEProblem.from(ACMEResponse(status: 429, headers: [("Retry-After", "7200")], body: body))
        #expect(problem.isACME("rateLimited") && problem.retryAfter == .seconds(7200))
        let retryAfter = try #require(problem.retryAfter).components.seconds
        #expect(ACMESchedule.backoff(failures: 1, retryAfter: Double(retryAfter)) == 7200)
        #expect(ACMEProblem.from(ACMEResponse(status: 503, headers: [("Retry-After", "30")])).retryAfter == .seconds(30))
        #expect(ACMEProblem.from(ACMEResponse(status: 400, body: body)).retryAfter == nil)
    }

    @Test func failedOrdersBackOffPerName() async throws {
        let store = MemoryStore(lockedElsewhere: false)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let (clock, installed, metrics) = (Box(start), Box(0), ACMEMetrics())
        let l = lifecycle(store, clock: clock, installed: installed, metrics: metrics)
        let domains = [try DomainName("example.com")]
        await l.tick(domains: domains, zone: zone)
        #expect(metrics.count(.failed) == 1)
        #expect(await l.status(name: "mta-sts.example.com").nextAttempt == start + 60)
        await l.tick(domains: domains, zone: zone)  // still within the minute: no new order
        #expect(metrics.count(.failed) == 1)
        clock.set(start + 61)
        await l.tick(domains: domains, zone: zone)
        #expect(metrics.count(.failed) == 2)
        #expect(await l.status(name: "mta-sts.example.com").nextAttempt == start + 61 + 120)
        #expect(await l.status(name: "mta-sts.example.com").lastError != nil)
        #expect(installed.get == 0)
        #expect(store.statuses.withLock { $0["mta-sts.example.com"] } != nil)  // the last error, for `certs list`
    }

    /// A fleet answers only challenges for policy host names of the two types, whoever wrote the shared row.
    @Test func sharedChallengesAreAnsweredOnlyForPolicyHostNames() {
        let ok = PendingChallenge(type: "tls-alpn-01", name: "mta-sts.example.com", token: "t", keyAuthorization: "k")
        #expect(ChallengeSync.answerable(ok))
        #expect(ChallengeSync.answerable(PendingChallenge(type: "http-01", name: "mta-sts.example.com", token: "t", keyAuthorization: "k")))
        for (type, name) in [("tls-alpn-01", "example.com"), ("tls-alpn-01", "www.example.com"), ("dns-01", "mta-sts.example.com"),
                             ("tls-alpn-01", "mta-sts.Example.com"), ("http-01", "mta-sts.example.com/../x"), ("tls-alpn-01", "mta-sts.")] {
            #expect(!ChallengeSync.answerable(PendingChallenge(type: type, name: name, token: "t", keyAuthorization: "k")), "\(type) \(name)")
        }
    }

    /// RFC 8555 §6.6: a `certs renew` request skips the schedule and the backoff, but never the CA's Retry-After.
    @Test func aRenewalRequestWaitsForTheCAsRetryAfter() async throws {
        let server = FakeACMEServer { request, server in
            switch request.url {
            case FakeACMEServer.base + "/account":
                return .json(201, ["status": "valid"], headers: [("Location", FakeACMEServer.base + "/acct/1")], nonce: server.freshNonce())
            case FakeACMEServer.base + "/order":
                return ACMEResponse(status: 429, headers: [("Replay-Nonce", server.freshNonce()), ("Retry-After", "7200")],
                                    body: Array(#"{"type": "urn:ietf:params:acme:error:rateLimited", "detail": "too many orders"}"#.utf8))
            default: return nil
            }
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("acme-retry-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = PolicyHostConfiguration.ACME(directory: FakeACMEServer.base + "/dir")
        settings.storage = .directory(directory)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let (clock, metrics) = (Box(start), ACMEMetrics())
        let l = ACMELifecycle(settings: settings, store: MemoryStore(lockedElsewhere: false), resolver: Here(), challenges: ChallengeCertificates(),
                              tokens: ChallengeTokens(), metrics: metrics, logger: Logger(label: "test"), now: { clock.get },
                              transport: server) { _, _ in }
        let domains = [try DomainName("example.com")]
        let orders = { server.requests.filter { $0.url == FakeACMEServer.base + "/order" }.count }
        await l.tick(domains: domains, zone: zone)
        #expect(metrics.count(.failed) == 1 && orders() == 1)
        // Requested a minute later (past the first backoff, inside the CA's two hours): no order.
        try await RenewalQueue(settings.storage, store: nil)!.request("mta-sts.example.com")
        clock.set(start + 61)
        await l.tick(domains: domains, zone: zone)
        #expect(metrics.count(.failed) == 1 && orders() == 1)
        // Once the CA's time has passed, the request is served (and refused again here).
        clock.set(start + 7201)
        await l.tick(domains: domains, zone: zone)
        #expect(metrics.count(.failed) == 2 && orders() == 2)
    }
}
