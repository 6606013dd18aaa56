import NIOSSL
import Synchronization

/// tls-alpn-01 (RFC 8737): the challenge certificates pending validation, by policy host name. The ACME
/// lifecycle sets one (built by `TLSALPNChallenge.certificate`) before it tells the CA the challenge is ready,
/// and removes it once the authorization is decided. SNI from the internet only ever looks names up here: it
/// never adds one.
public final class ChallengeCertificates: Sendable {
    /// The ALPN protocol of a validation (RFC 8737 §6.2).
    public static let applicationProtocol = "acme-tls/1"
    private let table = Mutex<[String: NIOSSLContext]>([:])

    public init() {}

    /// Answers validations of `name` (e.g. `mta-sts.example.com`) with `certificatePEM` and its key. Throws when
    /// they cannot be read or do not belong together. A context of its own per name: it offers only
    /// `acme-tls/1` and TLS 1.2 or later (RFC 8737 §4).
    public func set(name: String, certificatePEM: String, keyPEM: String) throws {
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))
        let privateKey = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
        var c = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        c.minimumTLSVersion = .tlsv12
        c.applicationProtocols = [Self.applicationProtocol]
        let context = try NIOSSLContext(configuration: c)
        let key = Self.key(name)
        table.withLock { $0[key] = context }
    }

    public func remove(name: String) {
        let key = Self.key(name)
        _ = table.withLock { $0.removeValue(forKey: key) }
    }

    /// The names with a pending challenge, sorted.
    public var names: [String] { table.withLock { $0.keys.sorted() } }

    static func key(_ name: String) -> String { Router.hostKey(name) ?? name.lowercased() }

    /// How the listener answers a ClientHello.
    enum Route {
        /// The policy host's own context (its certificates by SNI, ALPN http/1.1).
        case ordinary
        /// A validation of a name with a pending challenge: its context; closed once the handshake is done.
        case challenge(NIOSSLContext)
        /// `acme-tls/1` (and nothing we speak) for a name without a challenge: a fatal `no_application_protocol`
        /// alert (RFC 7301 §3.2), never the default certificate under `acme-tls/1`.
        case noApplicationProtocol
    }

    /// A hello offering `acme-tls/1` for a name with a pending challenge gets the challenge; offering it
    /// without `http/1.1` for any other name, the alert. Everything else (no ALPN, `http/1.1`, a malformed
    /// hello that BoringSSL will refuse) is ordinary, as before tls-alpn-01.
    func route(_ sniff: ClientHello.Sniff) -> Route {
        guard case .hello(let hello) = sniff, let offered = hello.applicationProtocols,
              offered.contains(Self.applicationProtocol) else { return .ordinary }
        if let name = hello.serverName, let context = table.withLock({ $0[Self.key(name)] }) { return .challenge(context) }
        return offered.contains("http/1.1") ? .ordinary : .noApplicationProtocol
    }
}
