import Foundation
import Logging
import MTASTSCore
import MTASTSDiscovery
import PostgresNIO
import Synchronization

/// The fleet ``PolicyStore``: one PostgreSQL table shared by every resolver host, so a policy fetched by one
/// host serves them all and `mta-sts cache purge` on any host reaches every daemon.
///
/// Schema (created at first use when missing, under an advisory lock so hosts starting together do not race;
/// a database user without CREATE rights works once the objects exist):
/// - `mta_sts_policies`: the SQLite store's columns (domain primary key, policy id, raw body, mode, max_age,
///   mx, fetched_at, expires_at, last_checked, last_used, failed_id, failed_at). `last_used` only moves
///   forward, so it is the latest use anywhere in the fleet.
/// - `mta_sts_meta(change_counter)`: one row, incremented by a trigger for every inserted, deleted or
///   re-fetched row (and a TRUNCATE), whoever made the change (a store, psql, a script). Usage-time updates do
///   not count: they happen every minute on every host and never change what a lookup answers.
/// - `mta_sts_writer_changes(writer, changes)`: the same trigger counts, per store instance, the changes it
///   made itself; each store names its connections with the session setting `mta_sts.writer`.
///
/// ``externalChangeCounter()`` is `change_counter` minus this store's own count, read in one statement: it
/// changes exactly when somebody else (another host, another process, an operator with psql) purged,
/// refreshed or added a policy, and never for this store's own writes, however they interleave.
///
/// Lifecycle: `init` starts the connection pool in a task the store owns (no server contact until the first
/// operation); call ``close()`` when done (a one-shot command before it exits; the daemon after draining).
/// Every operation waits at most `connect_timeout` for a connection, then fails with the reason (connection
/// refused, authentication, unknown database...).
public final class PostgresPolicyStore: PolicyStore {
    public let configuration: PostgresStoreConfiguration
    /// This store's name in `mta_sts_writer_changes` (a fresh UUID per instance).
    public let writerID: String
    private let connections: PostgresConnections
    private var logger: Logger { connections.logger }
    private let state = Mutex(State())

    private struct State {
        var schemaReady = false
        var wrote = false
        var closed = false
    }

    public struct StoreError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads a `postgres://` URL (see ``PostgresStoreConfiguration``).
    public convenience init(url: String, logger: Logger? = nil) throws {
        try self.init(configuration: PostgresStoreConfiguration(url: url), logger: logger)
    }

    /// - Parameter logger: where the connection pool logs (connection failures at `info`); nil: nowhere.
    public init(configuration: PostgresStoreConfiguration, logger: Logger? = nil) throws {
        self.configuration = configuration
        let writerID = UUID().uuidString.lowercased()
        self.writerID = writerID
        connections = try PostgresConnections(configuration: configuration, extraOptions: "-c mta_sts.writer=\(writerID)",
                                              logger: logger)
    }

    /// Connects and creates the tables when missing. Every operation does this first; call it to fail early.
    public func prepare() async throws {
        if state.withLock({ $0.schemaReady }) { return }
        try await withConnection { [logger] connection in
            if try await !Self.schemaComplete(connection, logger) {
                try await connection.withTransaction(logger: logger) { connection in
                    for statement in Self.schema { try await Self.execute(connection, logger, statement) }
                }
            }
            // Rows of stores that died without close(): forgetting one costs that store, if it still runs, one reload.
            try? await Self.execute(connection, logger,
                                    "DELETE FROM mta_sts_writer_changes WHERE touched < now() - interval '30 days'")
        }
        state.withLock { $0.schemaReady = true }
    }

    public func loadAll(batchSize: Int, _ body: @escaping @Sendable ([CachedPolicy]) -> Void) async throws {
        try await prepare()
        try await withConnection { [logger] connection in
            let rows = try await connection.query("""
                SELECT domain, policy_id, body, fetched_at, expires_at, last_checked, last_used, failed_id, failed_at
                FROM mta_sts_policies
                """, logger: logger)
            try await Self.entries(rows, into: RowBatches(size: batchSize, body))
        }
    }

    /// One stored entry, or nil when there is none or it cannot be used any more (a body that no longer parses).
    public func load(_ domain: DomainName) async throws -> CachedPolicy? {
        try await prepare()
        return try await withConnection { [logger] connection in
            let rows = try await connection.query("""
                SELECT domain, policy_id, body, fetched_at, expires_at, last_checked, last_used, failed_id, failed_at
                FROM mta_sts_policies WHERE domain = \(domain.value)
                """, logger: logger)
            let found = Mutex<CachedPolicy?>(nil)
            try await Self.entries(rows, into: RowBatches(size: 1) { batch in found.withLock { $0 = $0 ?? batch.first } })
            return found.withLock { $0 }
        }
    }

    public func save(_ e: CachedPolicy) async throws {
        try await prepare()
        markWrite()
        let mx = e.policy.mx.map(\.description).joined(separator: " ")
        try await withConnection { [logger] connection in
            try await Self.execute(connection, logger, """
                INSERT INTO mta_sts_policies AS p (domain, policy_id, body, mode, max_age, mx, fetched_at, expires_at,
                                                   last_checked, last_used, failed_id, failed_at)
                VALUES (\(e.domain.value), \(e.id), \(ByteBuffer(bytes: e.body)), \(e.policy.mode.rawValue),
                        \(Int64(e.policy.maxAge)), \(mx), \(e.fetchedAt), \(e.expiresAt), \(e.lastChecked), \(e.lastUsed),
                        \(e.failedID), \(e.failedAt))
                ON CONFLICT (domain) DO UPDATE SET
                  policy_id = excluded.policy_id, body = excluded.body, mode = excluded.mode, max_age = excluded.max_age,
                  mx = excluded.mx, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at,
                  last_checked = excluded.last_checked, last_used = GREATEST(p.last_used, excluded.last_used),
                  failed_id = excluded.failed_id, failed_at = excluded.failed_at
                """)
        }
    }

    /// One statement for the whole batch; a domain that is not stored (purged meanwhile) is skipped.
    public func saveUsage(_ usage: [(domain: DomainName, lastUsed: Double)]) async throws {
        guard !usage.isEmpty else { return }
        try await prepare()
        var latest: [String: Double] = [:]
        for u in usage { latest[u.domain.value] = max(latest[u.domain.value] ?? u.lastUsed, u.lastUsed) }
        let domains = Array(latest.keys), times = domains.map { latest[$0]! }
        try await withConnection { [logger] connection in
            try await Self.execute(connection, logger, """
                UPDATE mta_sts_policies AS p SET last_used = GREATEST(p.last_used, u.last_used)
                FROM unnest(\(domains)::text[], \(times)::float8[]) AS u(domain, last_used)
                WHERE p.domain = u.domain
                """)
        }
    }

    public func delete(_ domain: DomainName) async throws {
        try await prepare()
        markWrite()
        try await withConnection { [logger] connection in
            try await Self.execute(connection, logger, "DELETE FROM mta_sts_policies WHERE domain = \(domain.value)")
            try await Self.execute(connection, logger, "DELETE FROM mta_sts_dane WHERE domain = \(domain.value)")
        }
    }

    /// The fleet-wide change counter minus this store's own changes (see the type's documentation).
    public func externalChangeCounter() async throws -> Int {
        try await prepare()
        return try await withConnection { [logger, writerID] connection in
            let rows = try await connection.query("""
                SELECT COALESCE((SELECT change_counter FROM mta_sts_meta), 0)
                     - COALESCE((SELECT changes FROM mta_sts_writer_changes WHERE writer = \(writerID)), 0)
                """, logger: logger)
            for try await value in rows.decode(Int64.self) { return Int(value) }
            return 0
        }
    }

    /// Forgets this store's own-change count (nobody reads it any more) and closes the connections.
    /// Call it once; operations after it fail.
    public func close() async {
        let (first, wrote, ready) = state.withLock { s in
            defer { s.closed = true }
            return (!s.closed, s.wrote, s.schemaReady)
        }
        guard first else { return }
        if wrote && ready {
            _ = try? await withConnection { [logger, writerID] connection in
                try await Self.execute(connection, logger, "DELETE FROM mta_sts_writer_changes WHERE writer = \(writerID)")
            }
        }
        await connections.shutdown()
    }

    // MARK: Internals

    private func markWrite() { state.withLock { $0.wrote = true } }

    private static func execute(_ connection: PostgresConnection, _ logger: Logger, _ query: PostgresQuery) async throws {
        try await PostgresConnections.execute(connection, logger, query)
    }

    private func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await connections.withConnection(body)
    }

    static func describe(_ error: any Error) -> String { PostgresConnections.describe(error) }

    /// The rows as entries, decoded as they stream in and handed over in batches.
    private static func entries(_ rows: PostgresRowSequence, into batches: RowBatches<CachedPolicy>) async throws {
        var out = batches
        for try await (domain, id, body, fetchedAt, expiresAt, lastChecked, lastUsed, failedID, failedAt)
            in rows.decode((String, String, ByteBuffer, Double, Double, Double, Double, String?, Double?).self) {
            let bytes = Array(body.readableBytesView)
            guard let name = try? DomainName(domain), let policy = STSPolicy.parse(bytes, reading: .sender).policy else { continue }
            var entry = CachedPolicy(domain: name, id: id, policy: policy, body: bytes, fetchedAt: fetchedAt, lastUsed: lastUsed)
            entry.expiresAt = expiresAt
            entry.lastChecked = lastChecked
            entry.failedID = failedID
            entry.failedAt = failedAt
            out.add(entry)
        }
        out.finish()
    }

    private static func schemaComplete(_ connection: PostgresConnection, _ logger: Logger) async throws -> Bool {
        let rows = try await connection.query("""
            SELECT to_regclass('mta_sts_meta') IS NOT NULL AND to_regclass('mta_sts_writer_changes') IS NOT NULL
               AND to_regclass('mta_sts_dane') IS NOT NULL
               AND (SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass('mta_sts_policies')
                    AND tgname IN ('mta_sts_policies_changed', 'mta_sts_policies_truncated')) = 2
            """, logger: logger)
        for try await complete in rows.decode(Bool.self) { return complete }
        return false
    }

    /// Idempotent; run in one transaction under an advisory lock.
    static let schema: [PostgresQuery] = [
        "SELECT pg_advisory_xact_lock(hashtext('mta_sts_schema'))",
        """
        CREATE TABLE IF NOT EXISTS mta_sts_policies (
          domain text PRIMARY KEY,
          policy_id text NOT NULL,
          body bytea NOT NULL,
          mode text NOT NULL,
          max_age bigint NOT NULL,
          mx text NOT NULL,
          fetched_at double precision NOT NULL,
          expires_at double precision NOT NULL,
          last_checked double precision NOT NULL,
          last_used double precision NOT NULL,
          failed_id text,
          failed_at double precision)
        """,
        """
        CREATE TABLE IF NOT EXISTS mta_sts_meta (
          id boolean PRIMARY KEY DEFAULT true CHECK (id),
          change_counter bigint NOT NULL DEFAULT 0)
        """,
        "INSERT INTO mta_sts_meta (id, change_counter) VALUES (true, 0) ON CONFLICT (id) DO NOTHING",
        """
        CREATE TABLE IF NOT EXISTS mta_sts_writer_changes (
          writer text PRIMARY KEY,
          changes bigint NOT NULL,
          touched timestamptz NOT NULL DEFAULT now())
        """,
        // Schema-qualified through TG_TABLE_SCHEMA, so it works whatever the changing session's search_path.
        """
        CREATE OR REPLACE FUNCTION mta_sts_count_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          writer text := current_setting('mta_sts.writer', true);
        BEGIN
          EXECUTE format('UPDATE %I.mta_sts_meta SET change_counter = change_counter + 1', TG_TABLE_SCHEMA);
          IF writer IS NOT NULL AND writer <> '' THEN
            EXECUTE format('INSERT INTO %I.mta_sts_writer_changes AS w (writer, changes) VALUES ($1, 1)
                            ON CONFLICT (writer) DO UPDATE SET changes = w.changes + 1, touched = now()', TG_TABLE_SCHEMA)
              USING writer;
          END IF;
          RETURN NULL;
        END
        $$
        """,
        "DROP TRIGGER IF EXISTS mta_sts_policies_changed ON mta_sts_policies",
        // Not last_used: usage times change every minute on every host and never change an answer.
        """
        CREATE TRIGGER mta_sts_policies_changed
          AFTER INSERT OR DELETE OR UPDATE OF domain, policy_id, body, mode, max_age, mx, fetched_at, expires_at, last_checked,
                                              failed_id, failed_at
          ON mta_sts_policies FOR EACH ROW EXECUTE FUNCTION mta_sts_count_change()
        """,
        // DANE regimes of enforced domains (see DANEStatusCache); not counted as changes: each resolver refreshes its own.
        """
        CREATE TABLE IF NOT EXISTS mta_sts_dane (
          domain text PRIMARY KEY,
          regime text NOT NULL,
          reason text NOT NULL,
          stored_at double precision NOT NULL,
          expires_at double precision NOT NULL)
        """,
        "DROP TRIGGER IF EXISTS mta_sts_policies_truncated ON mta_sts_policies",
        """
        CREATE TRIGGER mta_sts_policies_truncated AFTER TRUNCATE ON mta_sts_policies
          FOR EACH STATEMENT EXECUTE FUNCTION mta_sts_count_change()
        """,
    ]
}

extension PostgresPolicyStore: DANEStatusStore {
    public func loadDANEStatuses(batchSize: Int, _ body: @escaping @Sendable ([StoredDANEStatus]) -> Void) async throws {
        try await prepare()
        try await withConnection { [logger] connection in
            let rows = try await connection.query("SELECT domain, regime, reason, stored_at, expires_at FROM mta_sts_dane", logger: logger)
            var out = RowBatches(size: batchSize, body)
            for try await (domain, regime, reason, storedAt, expiresAt) in rows.decode((String, String, String, Double, Double).self) {
                guard let d = try? DomainName(domain), let r = DANEStatus.Regime(rawValue: regime) else { continue }
                out.add(StoredDANEStatus(domain: d, regime: r, reason: reason, storedAt: storedAt, expiresAt: expiresAt))
            }
            out.finish()
        }
    }

    public func saveDANEStatus(_ s: StoredDANEStatus) async throws {
        try await prepare()
        try await withConnection { [logger] connection in
            try await Self.execute(connection, logger, """
                INSERT INTO mta_sts_dane (domain, regime, reason, stored_at, expires_at)
                VALUES (\(s.domain.value), \(s.regime.rawValue), \(s.reason), \(s.storedAt), \(s.expiresAt))
                ON CONFLICT (domain) DO UPDATE SET regime = excluded.regime, reason = excluded.reason,
                  stored_at = excluded.stored_at, expires_at = excluded.expires_at
                """)
        }
    }
}
