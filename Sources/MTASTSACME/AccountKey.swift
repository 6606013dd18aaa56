import Crypto
import Foundation

/// The ACME account key: P-256, signing with ES256 (RFC 7518 §3.4), named by its JWK (RFC 7517) and
/// thumbprint (RFC 7638). The key authorization of every challenge binds a token to this thumbprint.
public struct AccountKey: Sendable {
    public let privateKey: P256.Signing.PrivateKey

    public init(_ privateKey: P256.Signing.PrivateKey = .init()) { self.privateKey = privateKey }

    /// A stored key (PKCS#8 or SEC1 PEM, as `pemRepresentation` writes it).
    public init(pem: String) throws { privateKey = try P256.Signing.PrivateKey(pemRepresentation: pem) }

    public var pem: String { privateKey.pemRepresentation }

    /// The public JWK's members (RFC 7518 §6.2.1): x and y are the 32-byte big-endian coordinates.
    public var jwk: [String: String] {
        let raw = Array(privateKey.publicKey.rawRepresentation)  // x || y
        return ["kty": "EC", "crv": "P-256", "x": Base64URL.encode(raw[0..<32]), "y": Base64URL.encode(raw[32..<64])]
    }

    /// RFC 7638 §3: SHA-256 over the required members only, in lexicographic order, with no whitespace.
    /// The values are base64url or fixed names, so none needs JSON escaping.
    public var thumbprint: String {
        let key = jwk
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(key["x"] ?? "")","y":"\#(key["y"] ?? "")"}"#
        return Base64URL.encode(SHA256.hash(data: Array(canonical.utf8)))
    }

    /// RFC 8555 §8.1: token "." base64url(thumbprint). The http-01 response body, and the tls-alpn-01 digest input.
    public func keyAuthorization(token: String) -> String { token + "." + thumbprint }

    /// ES256: the JWS signature is the raw r || s (64 bytes), not DER (RFC 7518 §3.4).
    func sign(_ signingInput: [UInt8]) throws -> [UInt8] {
        Array(try privateKey.signature(for: signingInput).rawRepresentation)
    }
}
