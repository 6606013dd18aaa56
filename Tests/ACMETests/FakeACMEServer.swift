import Crypto
import Foundation
@testable import MTASTSACME
import Testing

/// An in-memory ACME server for the client's protocol logic: every request is logged (with its JWS decoded), and
/// the answer comes from the test's handler. The directory and newNonce are answered here unless the handler does.
final class FakeACMEServer: ACMETransport, @unchecked Sendable {
    static let base = "https://acme.test"
    struct Signed {
        var protected: [String: Any]
        var payload: [String: Any]?
        var payloadIsEmpty: Bool
        var signatureValid: Bool
    }

    private let lock = NSLock()
    private var log: [ACMERequest] = []
    private var counter = 0
    var renewalInfo = false
    let handler: @Sendable (ACMERequest, FakeACMEServer) -> ACMEResponse?

    init(handler: @escaping @Sendable (ACMERequest, FakeACMEServer) -> ACMEResponse?) { self.handler = handler }

    var requests: [ACMERequest] { lock.withLock { log } }

    func freshNonce() -> String { lock.withLock { counter += 1; return "nonce-\(counter)" } }

    func send(_ request: ACMERequest) async throws -> ACMEResponse {
        lock.withLock { log.append(request) }
        if let answer = handler(request, self) { return answer }
        switch request.url {
        case Self.base + "/dir":
            var directory = ["newNonce": Self.base + "/nonce", "newAccount": Self.base + "/account", "newOrder": Self.base + "/order",
                             "revokeCert": Self.base + "/revoke"]
            if renewalInfo { directory["renewalInfo"] = Self.base + "/ari" }
            return .json(200, directory)
        case Self.base + "/nonce":
            return ACMEResponse(status: 200, headers: [("Replay-Nonce", freshNonce())])
        default:
            return ACMEResponse(status: 404)
        }
    }

    /// The JWS of a POST, decoded, its signature checked against the JWK given or the test's account key.
    static func signed(_ request: ACMERequest, key: AccountKey) throws -> Signed {
        let jws = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: String])
        let protectedB64 = try #require(jws["protected"]), payloadB64 = try #require(jws["payload"])
        let signatureB64 = try #require(jws["signature"])
        let protectedBytes = try #require(Base64URL.decode(protectedB64))
        let protected = try #require(try JSONSerialization.jsonObject(with: Data(protectedBytes)) as? [String: Any])
        let payloadBytes = try #require(Base64URL.decode(payloadB64))
        let payload = payloadBytes.isEmpty ? nil : try JSONSerialization.jsonObject(with: Data(payloadBytes)) as? [String: Any]
        let signatureBytes = try #require(Base64URL.decode(signatureB64))
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: signatureBytes)
        let valid = key.privateKey.publicKey.isValidSignature(signature, for: Array("\(protectedB64).\(payloadB64)".utf8))
        return Signed(protected: protected, payload: payload, payloadIsEmpty: payloadBytes.isEmpty, signatureValid: valid)
    }
}

extension ACMEResponse {
    static func json(_ status: Int, _ object: Any, headers: [(name: String, value: String)] = [], nonce: String? = nil) -> ACMEResponse {
        var all = headers
        if let nonce { all.append((name: "Replay-Nonce", value: nonce)) }
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data()
        return ACMEResponse(status: status, headers: all, body: Array(body))
    }

    static func problem(_ status: Int, _ type: String, _ detail: String, nonce: String?, extra: [String: Any] = [:]) -> ACMEResponse {
        var object: [String: Any] = ["type": ACMEProblem.namespace + type, "detail": detail, "status": status]
        object.merge(extra) { $1 }
        var response = json(status, object, nonce: nonce)
        response.headers.append((name: "Content-Type", value: "application/problem+json"))
        return response
    }
}

/// Records the client's waits instead of sleeping.
final class SleepLog: @unchecked Sendable {
    private let lock = NSLock()
    private var waits: [Duration] = []
    var all: [Duration] { lock.withLock { waits } }
    func sleep(_ duration: Duration) { lock.withLock { waits.append(duration) } }
}
