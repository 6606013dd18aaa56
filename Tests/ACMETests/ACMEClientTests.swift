import Crypto
import Foundation
@testable import MTASTSACME
import Testing

/// The client's protocol logic against the in-memory server: JWS shape, nonces, badNonce, problems, polling.
@Suite struct ACMEClientTests {
    let key = AccountKey()

    func client(_ server: FakeACMEServer, sleeps: SleepLog = SleepLog(), settings: ACMEClient.Settings = .init(),
                account: String? = nil) -> ACMEClient {
        ACMEClient(directoryURL: FakeACMEServer.base + "/dir", accountKey: key, transport: server, accountURL: account,
                   settings: settings, sleep: { sleeps.sleep($0) }, now: { Date(timeIntervalSince1970: 1_800_000_000) })
    }

    @Test func newAccountIsSignedWithTheJWKAndLaterRequestsWithTheAccountURL() async throws {
        let server = FakeACMEServer { request, server in
            switch request.url {
            case FakeACMEServer.base + "/account":
                return .json(201, ["status": "valid", "contact": ["mailto:hostmaster@example.net"]],
                             headers: [("Location", FakeACMEServer.base + "/acct/1")], nonce: server.freshNonce())
            case FakeACMEServer.base + "/order":
                return .json(201, ["status": "pending", "identifiers": [["type": "dns", "value": "mta-sts.example.net"]],
                                   "authorizations": [FakeACMEServer.base + "/authz/1"], "finalize": FakeACMEServer.base + "/fin/1"],
                             headers: [("Location", FakeACMEServer.base + "/order/1")], nonce: server.freshNonce())
            default: return nil
            }
        }
        let acme = client(server)
        let account = try await acme.createAccount(contact: ["mailto:hostmaster@example.net"])
        #expect(account.url == FakeACMEServer.base + "/acct/1")
        #expect(account.status == .valid)
        let order = try await acme.newOrder(dnsNames: ["mta-sts.example.net"])
        #expect(order.url == FakeACMEServer.base + "/order/1")
        #expect(order.authorizations == [FakeACMEServer.base + "/authz/1"])

        let posts = server.requests.filter { $0.method == .post }
        try #require(posts.count == 2)
        let first = try FakeACMEServer.signed(posts[0], key: key), second = try FakeACMEServer.signed(posts[1], key: key)
        // RFC 8555 §6.2: ES256, the nonce, the exact URL; jwk for newAccount (§7.3), kid afterwards (§6.2).
        #expect(first.signatureValid && second.signatureValid)
        #expect(first.protected["alg"] as? String == "ES256")
        #expect(first.protected["url"] as? String == FakeACMEServer.base + "/account")
        #expect(first.protected["jwk"] as? [String: String] == key.jwk)
        #expect(first.protected["kid"] == nil)
        #expect(first.payload?["termsOfServiceAgreed"] as? Bool == true)
        #expect(first.payload?["contact"] as? [String] == ["mailto:hostmaster@example.net"])
        #expect(second.protected["kid"] as? String == FakeACMEServer.base + "/acct/1")
        #expect(second.protected["jwk"] == nil)
        // The first nonce came from HEAD newNonce; the second is the one the newAccount response carried.
        #expect(server.requests.filter { $0.method == .head }.count == 1)
        #expect(first.protected["nonce"] as? String == "nonce-1")
        #expect(second.protected["nonce"] as? String == "nonce-2")
        #expect(posts.allSatisfy { $0.headers.contains { $0.name == "Content-Type" && $0.value == "application/jose+json" } })
    }

    @Test func badNonceIsRetriedWithTheRefusalsFreshNonceAndGivenUpAfterTheLimit() async throws {
        // The first two newOrder attempts are refused with badNonce; the third succeeds.
        let refusals = Counter()
        let server = FakeACMEServer { request, server in
            guard request.url == FakeACMEServer.base + "/order" else { return nil }
            if refusals.next() <= 2 { return .problem(400, "badNonce", "JWS has an invalid anti-replay nonce", nonce: server.freshNonce()) }
            return .json(201, ["status": "pending", "identifiers": [], "authorizations": [], "finalize": FakeACMEServer.base + "/fin"],
                         headers: [("Location", FakeACMEServer.base + "/order/9")], nonce: server.freshNonce())
        }
        let order = try await client(server, account: FakeACMEServer.base + "/acct/1").newOrder(dnsNames: ["a.example"])
        #expect(order.url == FakeACMEServer.base + "/order/9")
        let nonces = try server.requests.filter { $0.method == .post }.map { try FakeACMEServer.signed($0, key: key).protected["nonce"] as? String }
        #expect(nonces == ["nonce-1", "nonce-2", "nonce-3"])  // each retry uses the nonce of the refusal before it

        let always = FakeACMEServer { request, server in
            request.url == FakeACMEServer.base + "/order" ? .problem(400, "badNonce", "stale", nonce: server.freshNonce()) : nil
        }
        let limited = client(always, settings: .init(badNonceRetries: 2), account: FakeACMEServer.base + "/acct/1")
        let problem = await #expect(throws: ACMEProblem.self) { try await limited.newOrder(dnsNames: ["a.example"]) }
        #expect(problem?.isACME("badNonce") == true)
        #expect(always.requests.filter { $0.method == .post }.count == 3)
    }

    @Test func problemDocumentsAreThrownWithTypeDetailStatusAndSubproblems() async throws {
        let server = FakeACMEServer { request, server in
            guard request.url == FakeACMEServer.base + "/order" else { return nil }
            return .problem(400, "rejectedIdentifier", "Error creating new order", nonce: server.freshNonce(), extra: [
                "subproblems": [["type": ACMEProblem.namespace + "rejectedIdentifier", "detail": "not a public name",
                                 "identifier": ["type": "dns", "value": "mail.internal"]]],
            ])
        }
        let acme = client(server, account: FakeACMEServer.base + "/acct/1")
        let problem = await #expect(throws: ACMEProblem.self) { try await acme.newOrder(dnsNames: ["mail.internal"]) }
        #expect(problem?.type == "urn:ietf:params:acme:error:rejectedIdentifier")
        #expect(problem?.detail == "Error creating new order")
        #expect(problem?.status == 400)
        #expect(problem?.subproblems.first?.identifier == .dns("mail.internal"))
        #expect(problem?.description.contains("mail.internal: urn:ietf:params:acme:error:rejectedIdentifier not a public name") == true)

        // A body that is no problem document still surfaces with its status.
        let proxy = FakeACMEServer { request, _ in
            request.url == FakeACMEServer.base + "/dir" ? ACMEResponse(status: 502, body: Array("<html>Bad Gateway</html>".utf8)) : nil
        }
        let bad = await #expect(throws: ACMEProblem.self) { try await client(proxy).directory() }
        #expect(bad?.status == 502)
        #expect(bad?.type == "about:blank")
    }

    @Test func aProblemWithAnEmptyTypeIsAboutBlank() {
        // Fuzz/regressions/acme/problem-empty-type: RFC 7807 §4.2's default, as for a missing type.
        let problem = ACMEProblem.from(ACMEResponse(status: 403, body: Array(#"{"type":"","detail":"no"}"#.utf8)))
        #expect(problem.type == "about:blank")
        #expect(problem.description == "about:blank (HTTP 403): no")
    }

    @Test func aSubproblemWithAnEmptyOrMissingTypeIsAboutBlank() {
        // Fuzz/regressions/acme/subproblem-empty-type: a subproblem is a problem document too (RFC 8555 §6.7.1), so
        // RFC 7807 §4.2's default applies to it. Before, an empty type left the subproblem's part of the description
        // without a type, and a missing one made the whole document unreadable (only the raw body was shown).
        let body = #"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","subproblems":[{"type":"","identifier":"#
            + #"{"type":"dns","value":"a.example"}},{"detail":"no type","identifier":{"type":"dns","value":"b.example"}}]}"#
        let problem = ACMEProblem.from(ACMEResponse(status: 400, body: Array(body.utf8)))
        #expect(problem.type == "urn:ietf:params:acme:error:rejectedIdentifier")
        #expect(problem.subproblems.map(\.type) == ["about:blank", "about:blank"])
        #expect(problem.subproblems.map(\.identifier) == [.dns("a.example"), .dns("b.example")])
        #expect(problem.description
            == "urn:ietf:params:acme:error:rejectedIdentifier (HTTP 400); a.example: about:blank; b.example: about:blank no type")
    }

    @Test func pollingHonoursRetryAfterWithinBoundsAndGivesUp() async throws {
        // Pending twice (Retry-After 3, then 3600 which is clamped to the maximum), then valid.
        let polls = Counter()
        let server = FakeACMEServer { request, server in
            guard request.url == FakeACMEServer.base + "/authz/1" else { return nil }
            let n = polls.next()
            let body: [String: Any] = ["identifier": ["type": "dns", "value": "a.example"], "status": n < 3 ? "pending" : "valid",
                                       "challenges": [["type": "http-01", "url": FakeACMEServer.base + "/chall/1", "status": "pending", "token": "t"]]]
            return .json(200, body, headers: [("Retry-After", n == 1 ? "3" : "3600")], nonce: server.freshNonce())
        }
        let sleeps = SleepLog()
        let settings = ACMEClient.Settings(maxPollInterval: .seconds(10), maxPollWait: .seconds(60))
        let acme = client(server, sleeps: sleeps, settings: settings, account: FakeACMEServer.base + "/acct/1")
        let authorization = try await acme.waitForAuthorization(at: FakeACMEServer.base + "/authz/1")
        #expect(authorization.status == .valid)
        #expect(sleeps.all == [.seconds(3), .seconds(10)])

        // Never settling: the waits stop at maxPollWait (RFC 9110 HTTP-date form of Retry-After, 20 s ahead).
        let stuck = FakeACMEServer { request, server in
            guard request.url == FakeACMEServer.base + "/order/1" else { return nil }
            return .json(200, ["status": "processing", "identifiers": [], "authorizations": [], "finalize": "f"],
                         headers: [("Retry-After", "Fri, 15 Jan 2027 08:00:20 GMT")], nonce: server.freshNonce())
        }
        let stuckSleeps = SleepLog()
        let waiting = client(stuck, sleeps: stuckSleeps, settings: .init(maxPollInterval: .seconds(30), maxPollWait: .seconds(50)),
                             account: FakeACMEServer.base + "/acct/1")
        await #expect(throws: ACMEClientError.self) { try await waiting.waitForOrder(at: FakeACMEServer.base + "/order/1", until: .valid) }
        #expect(stuckSleeps.all == [.seconds(20), .seconds(20)])
    }

    @Test func aFailedChallengeThrowsItsProblemWithTheIdentifier() async throws {
        let server = FakeACMEServer { request, server in
            guard request.url == FakeACMEServer.base + "/authz/1" else { return nil }
            return .json(200, ["identifier": ["type": "dns", "value": "a.example"], "status": "invalid",
                               "challenges": [["type": "http-01", "url": "c", "status": "invalid", "token": "t",
                                               "error": ["type": ACMEProblem.namespace + "unauthorized", "detail": "wrong key authorization",
                                                         "status": 403]]]],
                         nonce: server.freshNonce())
        }
        let acme = client(server, account: FakeACMEServer.base + "/acct/1")
        let problem = await #expect(throws: ACMEProblem.self) { try await acme.waitForAuthorization(at: FakeACMEServer.base + "/authz/1") }
        #expect(problem?.isACME("unauthorized") == true)
        #expect(problem?.detail == "wrong key authorization")
        #expect(problem?.identifier == .dns("a.example"))
    }

    @Test func requestsNeedingAnAccountFailWithoutOne() async throws {
        let acme = client(FakeACMEServer { _, _ in nil })
        await #expect(throws: ACMEClientError.noAccount) { try await acme.newOrder(dnsNames: ["a.example"]) }
    }
}

/// A thread-safe counter for scripted answers: 1, 2, 3, ...
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}
