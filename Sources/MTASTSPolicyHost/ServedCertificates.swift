import MTASTSCertificates
import MTASTSCore
import NIOSSL
import Synchronization

/// Certificates installed into the running host without a configuration file (the ACME lifecycle's), by
/// `mta-sts.<domain>`. The TLS context's SNI callback reads this table at each handshake, so a set or a
/// replacement is served by the next handshake, while open connections keep the session they have; a reload
/// keeps the table (it lives in ``PolicyHost``, not in ``HostState``). A domain's `certificate` in the
/// configuration comes first; a name with neither gets the default certificate (issue 12, item 4).
public final class ServedCertificates: Sendable {
    private struct Entry: Sendable {
        let override: NIOSSLContextConfigurationOverride
        let chain: [[UInt8]]
    }
    private let table = Mutex<[String: Entry]>([:])

    public init() {}

    public enum Refused: Error, Sendable, Equatable, CustomStringConvertible {
        case unreadable(String)
        /// RFC 8461 §7.1: the chain must be valid for `mta-sts.<domain>`.
        case wrongName(host: String, names: [String])
        case keyMismatch

        public var description: String {
            switch self {
            case .unreadable(let reason): "the certificate or key cannot be read: \(reason)"
            case .wrongName(let host, let names):
                "the certificate is for \(names.isEmpty ? "no DNS name" : names.joined(separator: ", ")), not \(host)"
            case .keyMismatch: "the key does not belong to the certificate (their public keys differ)"
            }
        }
    }

    /// Serves `chainPEM` (leaf first) with `keyPEM` for `mta-sts.<domain>` from the next handshake on, replacing
    /// what was there. A chain whose leaf does not name the host or whose key is not the leaf's is refused and
    /// the previous certificate stays: such a certificate is never served.
    public func set(domain: DomainName, chainPEM: String, keyPEM: String) throws(Refused) {
        guard let host = domain.policyHost else { throw .wrongName(host: "mta-sts.\(domain.value)", names: []) }
        let chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, der: [[UInt8]]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8))
            key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem)
            der = try chain.map { try $0.toDERBytes() }
        } catch {
            throw .unreadable("\(error)")
        }
        guard let leaf = der.first else { throw .unreadable("no certificate in the PEM text") }
        let names = CertificateReader.dnsNames(der: leaf) ?? []
        guard CertificateIdentity.covers(names, host: host) else { throw .wrongName(host: host.value, names: names) }
        guard Self.keyMatches(chain, key) else { throw .keyMismatch }
        var o = NIOSSLContextConfigurationOverride()
        o.certificateChain = chain.map { .certificate($0) }
        o.privateKey = .privateKey(key)
        table.withLock { $0[host.value] = Entry(override: o, chain: der) }
    }

    /// Stops serving the installed certificate of `mta-sts.<domain>` (its SNI gets the default one again).
    public func remove(domain: DomainName) {
        guard let host = domain.policyHost else { return }
        _ = table.withLock { $0.removeValue(forKey: host.value) }
    }

    /// The installed chain (DER, leaf first) of `mta-sts.<domain>`, if any.
    public func chain(domain: DomainName) -> [[UInt8]]? {
        guard let host = domain.policyHost else { return nil }
        return table.withLock { $0[host.value]?.chain }
    }

    /// What the SNI callback answers for a route key (`mta-sts.<domain>`, lowercased).
    func override(host: String) -> NIOSSLContextConfigurationOverride? {
        table.withLock { $0[host]?.override }
    }

    /// BoringSSL checks the default pair of a context (`SSL_CTX_check_private_key`), for every key type: a
    /// throwaway context built from the pair says whether they belong together.
    static func keyMatches(_ chain: [NIOSSLCertificate], _ key: NIOSSLPrivateKey) -> Bool {
        let c = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        do { _ = try NIOSSLContext(configuration: c) } catch { return false }
        return true
    }
}
