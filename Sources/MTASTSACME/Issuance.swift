import Crypto
import Foundation

/// Makes a challenge answerable where the CA will look: http-01 on the plain listener's
/// `/.well-known/acme-challenge/<token>`, tls-alpn-01 on the TLS listener's `acme-tls/1` handshakes
/// (``TLSALPNChallenge/certificate(for:keyAuthorization:now:)``).
public protocol ACMEChallengeResponder: Sendable {
    /// Called before the CA is told to validate; the answer must be served when this returns.
    func present(type: String, name: String, token: String, keyAuthorization: String) async throws
    /// Called once the authorization is settled, valid or not.
    func remove(type: String, name: String, token: String) async
}

/// A certificate issued by ``ACMEClient/issue(dnsNames:challengeType:responder:certificateKey:)``: the chain and its key.
public struct ACMECertificate: Sendable {
    public let chain: IssuedChain
    /// PKCS#8 PEM.
    public let privateKeyPEM: String
    /// The order it came from.
    public let orderURL: String
    public let certificateURL: String
}

extension ACMEClient {
    /// One whole issuance (§7.1 overview): order → for each pending authorization answer one challenge of
    /// `challengeType` and wait for it → finalize with a CSR for `certificateKey` → wait → download.
    /// Authorizations the server reuses (already valid) need no challenge. Any failure throws the CA's problem
    /// (with the identifier for a failed challenge) or an ``ACMEClientError``.
    public func issue(dnsNames: [String], challengeType: String, responder: any ACMEChallengeResponder,
                      certificateKey: P256.Signing.PrivateKey = .init(), replaces: String? = nil) async throws -> ACMECertificate {
        var order = try await newOrder(dnsNames: dnsNames, replaces: replaces)
        for url in order.authorizations {
            try await authorize(at: url, challengeType: challengeType, responder: responder)
        }
        if order.status != .ready { order = try await waitForOrder(at: order.url, until: .ready) }
        order = try await finalize(order, csrDER: try CertificateRequest.der(dnsNames: dnsNames, key: certificateKey))
        if order.status != .valid { order = try await waitForOrder(at: order.url, until: .valid) }
        guard let certificateURL = order.certificate else { throw ACMEClientError.badResponse("a valid order without a certificate URL") }
        let pem = try await downloadCertificate(at: certificateURL)
        return ACMECertificate(chain: try IssuedChain(pem: pem), privateKeyPEM: certificateKey.pemRepresentation,
                               orderURL: order.url, certificateURL: certificateURL)
    }

    private func authorize(at url: String, challengeType: String, responder: any ACMEChallengeResponder) async throws {
        let authorization = try await authorization(at: url)
        switch authorization.status {
        case .valid: return
        case .pending: break
        default:
            throw ACMEProblem(type: ACMEProblem.namespace + "unauthorized", detail: "authorization \(authorization.status)",
                              identifier: authorization.identifier)
        }
        guard let challenge = authorization.challenge(challengeType), let token = challenge.token else {
            let offered = authorization.challenges.map(\.type).joined(separator: ", ")
            throw ACMEClientError.unsupported("\(challengeType) for \(authorization.identifier.value) (offered: \(offered))")
        }
        let name = authorization.identifier.value
        let keyAuthorization = accountKey.keyAuthorization(token: token)
        try await responder.present(type: challengeType, name: name, token: token, keyAuthorization: keyAuthorization)
        do {
            try await respond(to: challenge)
            _ = try await waitForAuthorization(at: url)
        } catch {
            await responder.remove(type: challengeType, name: name, token: token)
            throw error
        }
        await responder.remove(type: challengeType, name: name, token: token)
    }
}
