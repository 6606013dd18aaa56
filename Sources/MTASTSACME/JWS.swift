import Foundation

/// RFC 8555 §6.2: every POST is a flattened JWS (RFC 7515 §7.2.2) signed with the account key, whose protected
/// header carries `alg`, `nonce`, `url`, and exactly one of `jwk` (newAccount, and revocation by certificate key)
/// or `kid` (the account URL, everything else).
enum JWS {
    enum KeyID {
        case jwk
        case kid(String)
    }

    /// The request body. A nil payload is POST-as-GET (§6.3): the payload field is the empty string.
    static func body(payload: [UInt8]?, url: String, nonce: String, key: AccountKey, keyID: KeyID) throws -> [UInt8] {
        var header: [String: Any] = ["alg": "ES256", "nonce": nonce, "url": url]
        switch keyID {
        case .jwk: header["jwk"] = key.jwk
        case .kid(let account): header["kid"] = account
        }
        let protected = Base64URL.encode(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
        let encodedPayload = payload.map { Base64URL.encode($0) } ?? ""
        let signature = try key.sign(Array("\(protected).\(encodedPayload)".utf8))
        let jws = ["protected": protected, "payload": encodedPayload, "signature": Base64URL.encode(signature)]
        return Array(try JSONSerialization.data(withJSONObject: jws, options: [.sortedKeys]))
    }

    /// JSON for a payload object.
    static func payload(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }
}
