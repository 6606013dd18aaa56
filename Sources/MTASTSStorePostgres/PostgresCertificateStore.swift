import Foundation
import Logging
import MTASTSCertificateStore
import PostgresNIO
import Synchronization

/// The fleet ``CertificateStore``: every `serve` host of a fleet reads one account key and one certificate per
/// name from PostgreSQL, and the order lock of a name is a session advisory lock, so exactly one host orders a
/// given name at a time and a host that dies mid-order releases it with its connection.
///
/// Schema (created at first use when missing, under the schema advisory lock the other stores use):
/// `mta_sts_acme_account` (one row: the key) and `mta_sts_acme_certificates` (name, chain and key in one row, so
/// a replacement is one statement: readers see the old pair or the new one), `mta_sts_acme_status` (name, the last
/// attempt's error or NULL, its time), `mta_sts_acme_renewals` (names `certs renew` asked for) and
/// `mta_sts_acme_challenges` (challenges pending validation, answered by every host).
public final class PostgresCertificateStore: SharedCertificateStore {
    public let configuration: PostgresStoreConfiguration
    let connections: PostgresConnections
    var logger: Logger { connections.logger }
    private let schemaReady = Mutex(false)
    /// The first key of the two-key advisory locks that are order locks ("MTAS"); the second is hashtext(name).
    /// The schema lock uses the one-key form, a separate key space.
    static let lockClass: Int32 = 0x4D54_4153

    /// Reads a `postgres://` URL (see ``PostgresStoreConfiguration``); no server contact until the first operation.
    public convenience init(url: String, logger: Logger? = nil) throws {
        try self.init(configuration: PostgresStoreConfiguration(url: url), logger: logger)
    }

    public init(configuration: PostgresStoreConfiguration, logger: Logger? = nil) throws {
        self.configuration = configuration
        connections = try PostgresConnections(configuration: configuration, logger: logger)
    }

    /// Stops the pool; a lock still held ends with its connection.
    public func shutdown() async { await connections.shutdown() }

    /// Connects and creates the tables when missing. Every operation does this first; call it to fail early.
    public func prepare() async throws {
        if schemaReady.withLock({ $0 }) { return }
        try await connections.withConnection { [logger] connection in
            try await connection.withTransaction(logger: logger) { connection in
                for statement in Self.schema { try await PostgresConnections.execute(connection, logger, statement) }
            }
        }
        schemaReady.withLock { $0 = true }
    }

    static let schema: [PostgresQuery] = [
        "SELECT pg_advisory_xact_lock(hashtext('mta_sts_schema'))",
        """
        CREATE TABLE IF NOT EXISTS mta_sts_acme_account (
            id smallint PRIMARY KEY CHECK (id = 1), key_pem text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())
        """,
        """
        CREATE TABLE IF NOT EXISTS mta_sts_acme_certificates (
            name text PRIMARY KEY, chain_pem text NOT NULL, key_pem text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())
        """,
        "CREATE TABLE IF NOT EXISTS mta_sts_acme_status (name text PRIMARY KEY, last_error text, at timestamptz NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mta_sts_acme_renewals (name text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
        """
        CREATE TABLE IF NOT EXISTS mta_sts_acme_challenges (
            name text NOT NULL, token text NOT NULL, type text NOT NULL, key_authorization text NOT NULL,
            at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (name, token))
        """,
    ]

    public func loadAccountKey() async throws -> String? {
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            for try await key in try await connection.query("SELECT key_pem FROM mta_sts_acme_account WHERE id = 1", logger: logger)
                .decode(String.self) { return key }
            return nil
        }
    }

    public func saveAccountKey(_ pem: String) async throws -> String {
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            // The first host's key wins; the statement returns the key in force either way.
            let rows = try await connection.query("""
                WITH inserted AS (INSERT INTO mta_sts_acme_account (id, key_pem) VALUES (1, \(pem)) ON CONFLICT (id) DO NOTHING RETURNING key_pem)
                SELECT key_pem FROM inserted UNION ALL SELECT key_pem FROM mta_sts_acme_account WHERE id = 1 LIMIT 1
                """, logger: logger)
            for try await key in rows.decode(String.self) { return key }
            throw PostgresPolicyStore.StoreError(description: "PostgreSQL at \(self.configuration.endpoint): the account key was neither stored nor found")
        }
    }

    public func loadCertificate(name: String) async throws -> StoredCertificate? {
        let name = try CertificateStoreName.checked(name)
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            let rows = try await connection.query("SELECT chain_pem, key_pem FROM mta_sts_acme_certificates WHERE name = \(name)", logger: logger)
            for try await (chain, key) in rows.decode((String, String).self) { return StoredCertificate(chainPEM: chain, keyPEM: key) }
            return nil
        }
    }

    public func saveCertificate(_ certificate: StoredCertificate, name: String) async throws {
        let name = try CertificateStoreName.checked(name)
        try await prepare()
        try await connections.withConnection { [logger] connection in
            try await PostgresConnections.execute(connection, logger, """
                INSERT INTO mta_sts_acme_certificates (name, chain_pem, key_pem) VALUES (\(name), \(certificate.chainPEM), \(certificate.keyPEM))
                ON CONFLICT (name) DO UPDATE SET chain_pem = EXCLUDED.chain_pem, key_pem = EXCLUDED.key_pem, updated_at = now()
                """)
        }
    }

    public func names() async throws -> [String] {
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            var names: [String] = []
            for try await name in try await connection.query("SELECT name FROM mta_sts_acme_certificates ORDER BY name", logger: logger)
                .decode(String.self) { names.append(name) }
            return names
        }
    }

    public func saveStatus(name: String, lastError: String?, at: Date) async throws {
        let name = try CertificateStoreName.checked(name)
        try await prepare()
        try await connections.withConnection { [logger] connection in
            try await PostgresConnections.execute(connection, logger, """
                INSERT INTO mta_sts_acme_status (name, last_error, at) VALUES (\(name), \(lastError), \(at))
                ON CONFLICT (name) DO UPDATE SET last_error = EXCLUDED.last_error, at = EXCLUDED.at
                """)
        }
    }

    public func status(name: String) async throws -> CertificateStatus? {
        let name = try CertificateStoreName.checked(name)
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            let rows = try await connection.query("SELECT last_error, at FROM mta_sts_acme_status WHERE name = \(name)", logger: logger)
            for try await (error, at) in rows.decode((String?, Date).self) { return CertificateStatus(lastError: error, at: at) }
            return nil
        }
    }

    /// A session advisory lock (`pg_try_advisory_lock`) on a connection of its own, outside the pool: held while
    /// `body` runs and released by closing that connection, which the server also does when the host dies. (An
    /// unlock statement on a pooled connection could be lost, to a dead connection or a cancelled task, and leave
    /// a live pooled session holding the lock.) Orders are rare: a connection per order costs nothing. `body`
    /// uses the pool for the store's other calls; its error is thrown as it is.
    public func withOrderLock<T: Sendable>(name: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        let name = try CertificateStoreName.checked(name)
        try await prepare()
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: PostgresClient.defaultEventLoopGroup.next(), configuration: try configuration.connectionConfiguration(), id: 0,
                logger: logger).get()
        } catch {
            throw PostgresPolicyStore.StoreError(description: "PostgreSQL at \(configuration.endpoint): \(PostgresConnections.describe(error))")
        }
        let result: Result<T, any Error>?
        do {
            var locked = false
            for try await got in try await connection.query("SELECT pg_try_advisory_lock(\(Self.lockClass), hashtext(\(name)))", logger: logger)
                .decode(Bool.self) { locked = got }
            if locked {
                do { result = .success(try await body()) } catch { result = .failure(error) }
            } else {
                result = nil
            }
        } catch {
            try? await connection.close()
            throw PostgresPolicyStore.StoreError(description: "PostgreSQL at \(configuration.endpoint): \(PostgresConnections.describe(error))")
        }
        try? await connection.close()
        return try result?.get()
    }

    // MARK: what a fleet shares (SharedCertificateStore)

    public func requestRenewal(name: String) async throws {
        let name = try CertificateStoreName.checked(name)
        try await prepare()
        try await connections.withConnection { [logger] connection in
            try await PostgresConnections.execute(connection, logger,
                "INSERT INTO mta_sts_acme_renewals (name) VALUES (\(name)) ON CONFLICT (name) DO UPDATE SET at = now()")
        }
    }

    public func renewalRequests() async throws -> Set<String> {
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            var names: Set<String> = []
            for try await name in try await connection.query("SELECT name FROM mta_sts_acme_renewals", logger: logger).decode(String.self) {
                names.insert(name)
            }
            return names
        }
    }

    public func clearRenewalRequest(name: String) async throws {
        let name = try CertificateStoreName.checked(name)
        try await prepare()
        try await connections.withConnection { [logger] connection in
            try await PostgresConnections.execute(connection, logger, "DELETE FROM mta_sts_acme_renewals WHERE name = \(name)")
        }
    }

    public func publishChallenge(_ c: PendingChallenge) async throws {
        let name = try CertificateStoreName.checked(c.name)
        try await prepare()
        try await connections.withConnection { [logger] connection in
            // Rows a crashed host left behind are dropped here, an hour on (no authorization stays pending that long).
            try await PostgresConnections.execute(connection, logger, "DELETE FROM mta_sts_acme_challenges WHERE at < now() - interval '1 hour'")
            try await PostgresConnections.execute(connection, logger, """
                INSERT INTO mta_sts_acme_challenges (name, token, type, key_authorization) VALUES (\(name), \(c.token), \(c.type), \(c.keyAuthorization))
                ON CONFLICT (name, token) DO UPDATE SET type = EXCLUDED.type, key_authorization = EXCLUDED.key_authorization, at = now()
                """)
        }
    }

    public func withdrawChallenge(_ c: PendingChallenge) async throws {
        try await prepare()
        try await connections.withConnection { [logger] connection in
            try await PostgresConnections.execute(connection, logger,
                "DELETE FROM mta_sts_acme_challenges WHERE name = \(c.name) AND token = \(c.token)")
        }
    }

    public func pendingChallenges() async throws -> [PendingChallenge] {
        try await prepare()
        return try await connections.withConnection { [logger] connection in
            var found: [PendingChallenge] = []
            let rows = try await connection.query("""
                SELECT type, name, token, key_authorization FROM mta_sts_acme_challenges WHERE at >= now() - interval '1 hour' ORDER BY name, token
                """, logger: logger)
            for try await (type, name, token, keyAuthorization) in rows.decode((String, String, String, String).self) {
                found.append(PendingChallenge(type: type, name: name, token: token, keyAuthorization: keyAuthorization))
            }
            return found
        }
    }
}
