import Foundation
@testable import MTASTSACME
import Testing
import TestSupport

/// The client against pebble when things go wrong or are undone: a failed challenge, a refused identifier,
/// revocation, and pebble refusing half of all good nonces.
@Suite(.serialized) struct PebbleFaultTests {
    typealias Setup = PebbleTests.Setup

    @Test func aFailedChallengeAndARefusedIdentifierSurfaceTheCAsProblem() async throws {
        // The http-01 responder answers a wrong key authorization: pebble marks the challenge invalid.
        try await Setup.with(tamper: true) { setup in
            _ = try await setup.client.createAccount()
            let failed = await #expect(throws: ACMEProblem.self) {
                try await setup.client.issue(dnsNames: ["ns.chk.test"], challengeType: ACMEChallenge.http01, responder: setup.servers)
            }
            #expect(failed?.isACME("unauthorized") == true, "\(String(describing: failed))")
            #expect(failed?.detail?.isEmpty == false)
            #expect(failed?.identifier == .dns("ns.chk.test"))

            // A name that is not a valid DNS name is refused at newOrder with a problem document (pebble: malformed).
            let refused = await #expect(throws: ACMEProblem.self) { try await setup.client.newOrder(dnsNames: ["bad_name..t.test"]) }
            #expect(refused?.status == 400)
            #expect(refused?.isACME("malformed") == true, "\(String(describing: refused))")
            #expect(refused?.detail?.contains("illegal character") == true, "\(String(describing: refused))")
        }
    }

    @Test func revocationWithTheAccountKey() async throws {
        try await Setup.with { setup in
            _ = try await setup.client.createAccount()
            let issued = try await setup.client.issue(dnsNames: ["ns.sec.test"], challengeType: ACMEChallenge.http01, responder: setup.servers)
            let leaf = try #require(issued.chain.certificatesDER.first)
            try await setup.client.revoke(certificateDER: leaf, reason: 4)  // superseded
            // Revoking again is refused: the revocation took effect.
            let again = await #expect(throws: ACMEProblem.self) { try await setup.client.revoke(certificateDER: leaf) }
            #expect(again?.isACME("alreadyRevoked") == true, "\(String(describing: again))")
        }
    }

    @Test func badNonceRefusalsAreRetried() async throws {
        // Pebble refuses 50 % of good nonces; with 20 retries a request fails with odds of 2^-21.
        let counter = BadNonceCounter()
        try await Setup.with(nonceReject: 50, settings: .init(badNonceRetries: 20), wrap: { counter.wrapping($0) }) { setup in
            _ = try await setup.client.createAccount()
            let issued = try await setup.client.issue(dnsNames: ["ns.dane.test"], challengeType: ACMEChallenge.http01, responder: setup.servers)
            #expect(issued.chain.dnsNames == ["ns.dane.test"])
            // Thirty more signed requests, each refused with odds of one half: none refused is 2^-30 likely (the ~10 of
            // one issuance alone were once all let through; pebble 2.4, a Go 1.19 build, may draw from an unseeded source).
            for _ in 0..<30 { #expect(try await setup.client.order(at: issued.orderURL).status == .valid) }
            #expect(counter.refusals > 0)
        }
    }
}

/// Counts pebble's badNonce refusals on their way to the client.
final class BadNonceCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var refusals: Int { lock.withLock { count } }

    func wrapping(_ inner: any ACMETransport) -> any ACMETransport { Counting(inner: inner, counter: self) }

    private struct Counting: ACMETransport {
        let inner: any ACMETransport
        let counter: BadNonceCounter
        func send(_ request: ACMERequest) async throws -> ACMEResponse {
            let response = try await inner.send(request)
            if response.status == 400, ACMEProblem.from(response).isACME("badNonce") { counter.lock.withLock { counter.count += 1 } }
            return response
        }
    }
}
