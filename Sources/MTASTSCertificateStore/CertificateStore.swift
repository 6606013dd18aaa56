import Foundation

/// Where the ACME lifecycle keeps what must outlive the process (issue 12, item 5): the account key and, per
/// name (`mta-sts.<domain>`), the issued chain with its key. A directory for one host
/// (``DirectoryCertificateStore``) or PostgreSQL for a fleet (`PostgresCertificateStore`), where several hosts
/// share one account and one certificate per name, and ``withOrderLock(name:_:)`` lets exactly one host order a
/// given name at a time.
public protocol CertificateStore: Sendable {
    /// The account key (PEM), nil when none is stored yet.
    func loadAccountKey() async throws -> String?
    /// Stores `pem` as the account key unless one is stored already, and returns the one in force: hosts that
    /// start together and each make a key end up with the same account.
    func saveAccountKey(_ pem: String) async throws -> String
    /// The certificate stored for `name`, nil when there is none.
    func loadCertificate(name: String) async throws -> StoredCertificate?
    /// Replaces the certificate of `name` as one step: a reader (or a restart after a crash) sees the old one
    /// or the new one, never a mix of one's chain and the other's key.
    func saveCertificate(_ certificate: StoredCertificate, name: String) async throws
    /// The names with a stored certificate, sorted.
    func names() async throws -> [String]
    /// Runs `body` while holding `name`'s order lock and returns its result; returns nil at once, without running
    /// it, when another holder (another host, or another task here) has the lock. The lock ends with `body`, or
    /// with the holder's process.
    func withOrderLock<T: Sendable>(name: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T?
    /// Records the outcome of `name`'s last order or renewal attempt at `at`: `lastError` nil for a success
    /// (which clears an earlier error), else why it failed. Replaces the previous record as one step.
    func saveStatus(name: String, lastError: String?, at: Date) async throws
    /// The last recorded outcome for `name`, nil when none was recorded (`mta-sts certs list`).
    func status(name: String) async throws -> CertificateStatus?
}

/// The outcome of a name's last order or renewal attempt.
public struct CertificateStatus: Sendable, Equatable {
    /// Nil: the attempt succeeded.
    public var lastError: String?
    public var at: Date

    public init(lastError: String?, at: Date) {
        self.lastError = lastError
        self.at = at
    }
}

/// A certificate chain (PEM, leaf first) and its private key (PEM), as issued for one name.
public struct StoredCertificate: Sendable, Equatable {
    public var chainPEM: String
    public var keyPEM: String

    public init(chainPEM: String, keyPEM: String) {
        self.chainPEM = chainPEM
        self.keyPEM = keyPEM
    }
}

public struct CertificateStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Store names are policy host names: lowercase letters, digits, `-` and `.`, at most 253 characters, no empty
/// label. Anything else is refused before it can become a file name or a key (no `/`, no `..`).
public enum CertificateStoreName {
    public static func checked(_ name: String) throws(CertificateStoreError) -> String {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 253,
              bytes.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x2E }),
              !name.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
            throw CertificateStoreError("not a certificate name: \(name.debugDescription) (lowercase host name expected)")
        }
        return name
    }
}

/// A store that several `serve` hosts share (PostgreSQL), and with it what only a fleet needs: the CA's validation
/// of a name may reach any host, so the host that orders publishes its pending challenges here and every host
/// answers them; and `mta-sts certs renew` leaves its requests here, for whichever host takes the order lock.
public protocol SharedCertificateStore: CertificateStore {
    /// Asks for `name` to be ordered at the next tick of any host, whatever its schedule says.
    func requestRenewal(name: String) async throws
    /// The names with a pending renewal request.
    func renewalRequests() async throws -> Set<String>
    /// Removes `name`'s request (after its certificate was issued).
    func clearRenewalRequest(name: String) async throws
    /// Makes a pending challenge visible to every host until ``withdrawChallenge(_:)`` (or an hour passes).
    func publishChallenge(_ challenge: PendingChallenge) async throws
    func withdrawChallenge(_ challenge: PendingChallenge) async throws
    /// The challenges published less than an hour ago.
    func pendingChallenges() async throws -> [PendingChallenge]
}

/// One challenge of an ACME authorization while the CA validates it: enough for any host to answer it (a tls-alpn-01
/// certificate is made from the key authorization; an http-01 answer is the key authorization).
public struct PendingChallenge: Sendable, Hashable {
    /// `tls-alpn-01` or `http-01`.
    public var type: String
    public var name: String
    public var token: String
    public var keyAuthorization: String

    public init(type: String, name: String, token: String, keyAuthorization: String) {
        self.type = type
        self.name = name
        self.token = token
        self.keyAuthorization = keyAuthorization
    }
}
