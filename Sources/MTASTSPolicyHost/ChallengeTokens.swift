import Synchronization

/// http-01 (RFC 8555 §8.3): the key authorizations pending validation, by policy host name and token. The ACME
/// lifecycle (or, in a fleet, the host that orders, through the shared store) sets one before it tells the CA the
/// challenge is ready and removes it once the authorization is decided; `GET /.well-known/acme-challenge/<token>` on
/// `mta-sts.<domain>` answers it (``Router``). Requests only ever look tokens up here: they never add one.
public final class ChallengeTokens: Sendable {
    /// The path prefix of a validation request (RFC 8555 §8.3).
    public static let pathPrefix = "/.well-known/acme-challenge/"
    private let table = Mutex<[Key: String]>([:])

    struct Key: Hashable {
        let name: String
        let token: String
    }

    public init() {}

    public func set(name: String, token: String, keyAuthorization: String) {
        let key = Key(name: ChallengeCertificates.key(name), token: token)
        table.withLock { $0[key] = keyAuthorization }
    }

    public func remove(name: String, token: String) {
        let key = Key(name: ChallengeCertificates.key(name), token: token)
        _ = table.withLock { $0.removeValue(forKey: key) }
    }

    /// The key authorization for `token` on the host `name` (a route key: lowercase, no port), nil when none is pending.
    public func keyAuthorization(name: String, token: String) -> String? {
        table.withLock { $0[Key(name: name, token: token)] }
    }

    /// The pending (name, token) pairs, sorted.
    public var pending: [(name: String, token: String)] {
        table.withLock { $0.keys.map { ($0.name, $0.token) } }.sorted { ($0.name, $0.token) < ($1.name, $1.token) }
    }
}
