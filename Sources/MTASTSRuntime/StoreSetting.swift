import Foundation
import Logging
import MTASTSDiscovery
import MTASTSStorePostgres
import MTASTSStoreSQLite

/// Where a role keeps what must survive restarts (the resolver's policy and DANE cache): the one place a store is
/// named (`--cache`, `cache:` in the file) and opened.
public enum StoreSetting: Sendable, Equatable, CustomStringConvertible {
    /// In memory only (postfix-mta-sts-resolver's `internal`): lost on restart.
    case memory
    case sqlite(path: String)
    /// The fleet store: `postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=require...]`.
    case postgres(url: String)

    /// The default store when nothing is configured.
    public static let defaultSQLitePath = "/var/lib/mta-sts/cache.sqlite"

    /// As the `--cache` flag spells it: `memory` (or `internal`), `sqlite:PATH`, `postgres://...`/`postgresql://...`.
    public init?(flag: String) {
        if flag == "memory" || flag == "internal" {
            self = .memory
        } else if flag.hasPrefix("sqlite:") {
            self = .sqlite(path: String(flag.dropFirst("sqlite:".count)))
        } else if flag.hasPrefix("postgres://") || flag.hasPrefix("postgresql://") {
            self = .postgres(url: flag)
        } else {
            return nil
        }
    }

    /// As the `--cache` flag spells it, the password hidden (for logs and messages).
    public var description: String {
        switch self {
        case .memory: "memory"
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): PostgresStoreConfiguration.redacted(url)
        }
    }

    /// Who opens the store, which decides what a missing store means.
    public enum Opener: Sendable {
        /// A daemon: a missing SQLite file (and its directory) is created; PostgreSQL is connected at the first use,
        /// so a database that is down at start does not stop the daemon (it serves from memory and retries).
        case daemon
        /// A tool working on an existing store (`mta-sts cache`): a missing SQLite file is an error (a typo must not
        /// create an empty store), PostgreSQL is connected now so an error is reported now, and `memory` has no store.
        case tool
    }

    /// The opened store; nil for `memory` in a daemon. Every failure is an I/O error naming the store.
    public func open(for opener: Opener, logger: Logger) async throws(ConfigurationError) -> (any PolicyStore)? {
        switch (self, opener) {
        case (.memory, .daemon):
            return nil
        case (.memory, .tool):
            throw ConfigurationError("the memory cache lives inside one daemon; there is no store to work on", isIOError: true)
        case (.sqlite(let path), _):
            try Self.prepareSQLite(path, create: opener == .daemon, missing: "no policy store at \(path)")
            do { return try SQLitePolicyStore(path: path) } catch {
                throw ConfigurationError(opener == .daemon ? "cannot open the cache \(path): \(error)" : "cannot open \(path): \(error)",
                                         isIOError: true)
            }
        case (.postgres(let url), .daemon):
            do { return try PostgresPolicyStore(url: url, logger: Self.poolLogger(logger)) } catch {
                throw ConfigurationError("cannot use the PostgreSQL cache: \(error)", isIOError: true)
            }
        case (.postgres(let url), .tool):
            return try await Self.connectNow(what: "the cache") { try PostgresPolicyStore(url: url) }
        }
    }

    /// The logger for a daemon's PostgreSQL pool: the pool logs every reconnection attempt at info; our own store
    /// errors say why already.
    static func poolLogger(_ logger: Logger) -> Logger {
        var poolLogger = logger
        if poolLogger.logLevel > .debug && poolLogger.logLevel < .warning { poolLogger.logLevel = .warning }
        return poolLogger
    }

    /// A SQLite file about to be opened: with `create`, its directory is made (the file comes with the open);
    /// without, a missing file is the error `missing` (a typo must not create an empty store).
    static func prepareSQLite(_ path: String, create: Bool, missing: String) throws(ConfigurationError) {
        if create {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty { try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        } else if !FileManager.default.fileExists(atPath: path) {
            throw ConfigurationError(missing, isIOError: true)
        }
    }

    /// A PostgreSQL store connected (and its tables prepared) now, so a tool reports a wrong URL or a database that is
    /// down at once; `what` names the store in the error.
    static func connectNow<Store: PostgresPreparable>(what: String, _ make: () throws -> Store) async throws(ConfigurationError) -> Store {
        let store: Store
        do { store = try make() } catch { throw ConfigurationError("\(error)", isIOError: true) }
        do { try await store.prepare() } catch {
            await store.close()
            throw ConfigurationError("cannot open \(what): \(error)", isIOError: true)
        }
        return store
    }
}

/// The two PostgreSQL stores' connect-now step, for ``StoreSetting/connectNow(what:_:)``.
protocol PostgresPreparable {
    func prepare() async throws
    func close() async
}

extension PostgresPolicyStore: PostgresPreparable {}
extension PostgresReportStore: PostgresPreparable {}
