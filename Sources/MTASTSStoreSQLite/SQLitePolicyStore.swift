import Foundation
import GRDB
import MTASTSCore
import MTASTSDiscovery

/// The default ``PolicyStore``: one SQLite file in WAL mode (GRDB, the system's SQLite). Every write is a
/// committed transaction, so a crash or `kill -9` loses nothing that was acknowledged; other processes
/// (`mta-sts cache list|show|purge|refresh`) may open the same file while the daemon runs.
public final class SQLitePolicyStore: PolicyStore {
    private let pool: DatabasePool
    public let path: String

    /// Opens (creating if needed) the store at `path`.
    public init(path: String) throws {
        self.path = path
        // 512 KiB of page cache per connection instead of 2 MiB: the daemon reads the store once at start and
        // then only writes single rows (every lookup is answered from memory), so a large cache buys nothing.
        pool = try SQLiteFile.open(path, busyTimeout: 5, pragmas: ["PRAGMA cache_size = -512"])
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "policies") { t in
                t.primaryKey("domain", .text)
                t.column("policy_id", .text).notNull()
                t.column("body", .blob).notNull()
                // Denormalised for people reading the table with sqlite3; the body is the truth.
                t.column("mode", .text).notNull()
                t.column("max_age", .integer).notNull()
                t.column("mx", .text).notNull()
                t.column("fetched_at", .double).notNull()
                t.column("expires_at", .double).notNull()
                t.column("last_checked", .double).notNull()
                t.column("last_used", .double).notNull()
                t.column("failed_id", .text)
                t.column("failed_at", .double)
            }
        }
        migrator.registerMigration("v2-dane") { db in
            try db.create(table: "dane_status") { t in
                t.primaryKey("domain", .text)
                t.column("regime", .text).notNull()
                t.column("reason", .text).notNull()
                t.column("stored_at", .double).notNull()
                t.column("expires_at", .double).notNull()
            }
        }
        try migrator.migrate(pool)
    }

    public func loadAll(batchSize: Int, _ body: @escaping @Sendable ([CachedPolicy]) -> Void) async throws {
        try await pool.read { db in
            try Self.stream(Row.fetchCursor(db, sql: "SELECT * FROM policies"), Self.entry, RowBatches(size: batchSize, body))
        }
    }

    /// Decodes the rows of `cursor` one at a time (a cursor's row is reused: decoded at once, never kept) into `batches`.
    private static func stream<T>(_ cursor: RowCursor, _ decode: (Row) -> T?, _ batches: RowBatches<T>) throws {
        var batches = batches
        while let row = try cursor.next() {
            if let item = decode(row) { batches.add(item) }
        }
        batches.finish()
    }

    /// One stored entry, or nil when it cannot be used any more (a body that no longer parses).
    public func load(_ domain: DomainName) async throws -> CachedPolicy? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM policies WHERE domain = ?", arguments: [domain.value]).flatMap(Self.entry)
        }
    }

    public func save(_ e: CachedPolicy) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO policies (domain, policy_id, body, mode, max_age, mx, fetched_at, expires_at, last_checked,
                                          last_used, failed_id, failed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(domain) DO UPDATE SET
                      policy_id = excluded.policy_id, body = excluded.body, mode = excluded.mode, max_age = excluded.max_age,
                      mx = excluded.mx, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at,
                      last_checked = excluded.last_checked, last_used = excluded.last_used,
                      failed_id = excluded.failed_id, failed_at = excluded.failed_at
                    """,
                arguments: [e.domain.value, e.id, Data(e.body), e.policy.mode.rawValue, Int(e.policy.maxAge),
                            e.policy.mx.map(\.description).joined(separator: " "), e.fetchedAt, e.expiresAt, e.lastChecked,
                            e.lastUsed, e.failedID, e.failedAt])
        }
    }

    public func saveUsage(_ usage: [(domain: DomainName, lastUsed: Double)]) async throws {
        try await pool.write { db in
            for u in usage {
                try db.execute(sql: "UPDATE policies SET last_used = ? WHERE domain = ?", arguments: [u.lastUsed, u.domain.value])
            }
        }
    }

    public func delete(_ domain: DomainName) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM policies WHERE domain = ?", arguments: [domain.value])
            try db.execute(sql: "DELETE FROM dane_status WHERE domain = ?", arguments: [domain.value])
        }
    }

    /// SQLite's `data_version` on the writer connection: it changes only when another connection commits.
    public func externalChangeCounter() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
    }

    private static func entry(_ row: Row) -> CachedPolicy? {
        guard let domain = try? DomainName(row["domain"] as String),
              let data = row["body"] as Data?,
              let policy = STSPolicy.parse(Array(data), reading: .sender).policy else { return nil }
        var entry = CachedPolicy(domain: domain, id: row["policy_id"], policy: policy, body: Array(data),
                                 fetchedAt: row["fetched_at"], lastUsed: row["last_used"])
        entry.expiresAt = row["expires_at"]
        entry.lastChecked = row["last_checked"]
        entry.failedID = row["failed_id"]
        entry.failedAt = row["failed_at"]
        return entry
    }
}

extension SQLitePolicyStore: DANEStatusStore {
    public func loadDANEStatuses(batchSize: Int, _ body: @escaping @Sendable ([StoredDANEStatus]) -> Void) async throws {
        try await pool.read { db in
            try Self.stream(Row.fetchCursor(db, sql: "SELECT * FROM dane_status"), { row in
                guard let domain = try? DomainName(row["domain"] as String),
                      let regime = DANEStatus.Regime(rawValue: row["regime"]) else { return nil }
                return StoredDANEStatus(domain: domain, regime: regime, reason: row["reason"], storedAt: row["stored_at"],
                                        expiresAt: row["expires_at"])
            }, RowBatches(size: batchSize, body))
        }
    }

    public func saveDANEStatus(_ s: StoredDANEStatus) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO dane_status (domain, regime, reason, stored_at, expires_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(domain) DO UPDATE SET regime = excluded.regime, reason = excluded.reason,
                  stored_at = excluded.stored_at, expires_at = excluded.expires_at
                """, arguments: [s.domain.value, s.regime.rawValue, s.reason, s.storedAt, s.expiresAt])
        }
    }
}
