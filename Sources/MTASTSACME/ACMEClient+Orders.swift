import Foundation

extension ACMEClient {
    // MARK: Orders and authorizations (§7.4, §7.5)

    /// §7.4: a new order for DNS names. `replaces` is RFC 9773 §5's certificate identifier of the certificate this
    /// order renews (only sent when the server offers ARI).
    public func newOrder(dnsNames: [String], replaces: String? = nil) async throws -> ACMEOrder {
        let directory = try await directory()
        var payload: [String: Any] = ["identifiers": dnsNames.map { ["type": "dns", "value": $0] }]
        if let replaces, directory.renewalInfo != nil { payload["replaces"] = replaces }
        let response = try await post(directory.newOrder, payload: try JWS.payload(payload))
        guard let location = response.location else { throw ACMEClientError.badResponse("newOrder answered without a Location") }
        var order = try JSONDecoder.acme(ACMEOrder.self, from: response.body, what: "the new order")
        order.url = location
        return order
    }

    public func order(at url: String) async throws -> ACMEOrder {
        var order = try await fetch(ACMEOrder.self, at: url, what: "the order")
        order.url = url
        return order
    }

    public func authorization(at url: String) async throws -> ACMEAuthorization {
        var authorization = try await fetch(ACMEAuthorization.self, at: url, what: "the authorization")
        authorization.url = url
        return authorization
    }

    /// §8.1: what the challenge must show (http-01: the response body; tls-alpn-01: the digest's input).
    public func keyAuthorization(for challenge: ACMEChallenge) throws -> String {
        guard let token = challenge.token, !token.isEmpty else {
            throw ACMEClientError.badResponse("the \(challenge.type) challenge has no token")
        }
        return accountKey.keyAuthorization(token: token)
    }

    /// §7.5.1: tells the server the challenge is ready to be validated (the payload is an empty object).
    @discardableResult
    public func respond(to challenge: ACMEChallenge) async throws -> ACMEChallenge {
        let response = try await post(challenge.url, payload: try JWS.payload([:]))
        return try JSONDecoder.acme(ACMEChallenge.self, from: response.body, what: "the challenge")
    }

    /// §7.5.1: polls until the authorization is no longer pending. Valid: returned. Invalid (or expired,
    /// deactivated, revoked): the failed challenge's problem is thrown, naming the identifier.
    public func waitForAuthorization(at url: String) async throws -> ACMEAuthorization {
        var authorization = try await poll(url, what: "authorization") { body in
            try JSONDecoder.acme(ACMEAuthorization.self, from: body, what: "the authorization")
        } done: { $0.status != .pending }
        authorization.url = url
        guard authorization.status == .valid else {
            var problem = authorization.challenges.compactMap(\.error).first
                ?? ACMEProblem(type: ACMEProblem.namespace + "unauthorized", detail: "authorization \(authorization.status)")
            problem.identifier = problem.identifier ?? authorization.identifier
            throw problem
        }
        return authorization
    }

    /// Polls an order until it reaches `target` (`.ready` before finalizing, `.valid` after) or a final state.
    /// An invalid order throws its `error` (§7.1.3).
    public func waitForOrder(at url: String, until target: ACMEStatus) async throws -> ACMEOrder {
        var order = try await poll(url, what: "order") { body in
            try JSONDecoder.acme(ACMEOrder.self, from: body, what: "the order")
        } done: { $0.status == target || $0.status.isFinal }
        order.url = url
        guard order.status == target else {
            throw order.error ?? ACMEProblem(type: "about:blank", detail: "the order became \(order.status), not \(target)")
        }
        return order
    }

    /// §7.4: submits the CSR (DER); the server answers with the order, usually `processing` or `valid`.
    public func finalize(_ order: ACMEOrder, csrDER: [UInt8]) async throws -> ACMEOrder {
        let response = try await post(order.finalize, payload: try JWS.payload(["csr": Base64URL.encode(csrDER)]))
        var finalized = try JSONDecoder.acme(ACMEOrder.self, from: response.body, what: "the finalized order")
        finalized.url = order.url
        return finalized
    }

    /// §7.4.2: the certificate chain as PEM (leaf first), by POST-as-GET.
    public func downloadCertificate(at url: String) async throws -> String {
        let response = try await post(url, payload: nil, accept: "application/pem-certificate-chain")
        let pem = String(decoding: response.body, as: UTF8.self)
        guard pem.contains("-----BEGIN CERTIFICATE-----") else {
            throw ACMEClientError.badResponse("the certificate download is not a PEM chain (\(response.contentType ?? "no Content-Type"))")
        }
        return pem
    }

    /// §7.6: revokes a certificate (DER) with the account key. `reason` is an RFC 5280 §5.3.1 CRLReason code.
    public func revoke(certificateDER: [UInt8], reason: Int? = nil) async throws {
        var payload: [String: Any] = ["certificate": Base64URL.encode(certificateDER)]
        if let reason { payload["reason"] = reason }
        _ = try await post(try await directory().revokeCert, payload: try JWS.payload(payload))
    }

    // MARK: Polling

    /// POST-as-GET until `done`; waits follow Retry-After within the settings' bounds, and the waits together stay
    /// within `maxPollWait`.
    private func poll<T>(_ url: String, what: String, decode: ([UInt8]) throws -> T, done: (T) -> Bool) async throws -> T {
        var waited: Duration = .zero
        while true {
            let response = try await post(url, payload: nil)
            let object = try decode(response.body)
            if done(object) { return object }
            let delay = pollDelay(after: response)
            guard waited + delay <= settings.maxPollWait else {
                throw ACMEClientError.timedOut("the \(what) at \(url) did not settle within \(settings.maxPollWait)")
            }
            try await sleep(delay)
            waited += delay
        }
    }
}
