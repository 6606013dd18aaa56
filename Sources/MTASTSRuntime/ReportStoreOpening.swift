import Foundation
import Logging
import MTASTSReports
import MTASTSStorePostgres
import MTASTSStoreSQLite

extension StoreSetting {
    /// Where received TLS reports are kept when no `--store` is given.
    public static let defaultReportsPath = "/var/lib/mta-sts/reports.sqlite"

    /// The report store `--store` names: `sqlite:PATH` or `postgres://...` (``init(flag:)``'s spelling; `memory`
    /// keeps nothing and is refused).
    ///
    /// - Parameter creating: true for an ingest path (`reports import`, a first delivery creates the file and its
    ///   directory); false for the views, where a missing file is an error (a typo must not show an empty store).
    ///   PostgreSQL is connected and its tables created now, so an error is reported now.
    public func openReportStore(creating: Bool) async throws(ConfigurationError) -> any ReportStore {
        switch self {
        case .memory:
            throw ConfigurationError("reports need a store that outlives the command: sqlite:PATH or postgres://...", isIOError: true)
        case .sqlite(let path):
            try Self.prepareSQLite(path, create: creating, missing: "no report store at \(path) (nothing imported yet?)")
            do { return try SQLiteReportStore(path: path) } catch {
                throw ConfigurationError("cannot open the report store \(path): \(error)", isIOError: true)
            }
        case .postgres(let url):
            return try await Self.connectNow(what: "the report store") { try PostgresReportStore(url: url) }
        }
    }
}

extension StoreSetting {
    /// The report store for a daemon (`serve`'s report hosts), without waiting on the network: a missing SQLite file
    /// and its directory are created; PostgreSQL is connected (and its tables created) at the first use, so a
    /// database that is down at start does not stop the daemon (each POST meanwhile is answered 503 and retried by
    /// its sender).
    public func openReportStoreForDaemon(logger: Logger) throws(ConfigurationError) -> any ReportStore {
        switch self {
        case .memory:
            throw ConfigurationError("reports need a store that outlives the process: sqlite:PATH or postgres://...", isIOError: true)
        case .sqlite(let path):
            try Self.prepareSQLite(path, create: true, missing: "")
            do { return try SQLiteReportStore(path: path) } catch {
                throw ConfigurationError("cannot open the report store \(path): \(error)", isIOError: true)
            }
        case .postgres(let url):
            do { return try PostgresReportStore(url: url, logger: Self.poolLogger(logger)) } catch {
                throw ConfigurationError("cannot use the PostgreSQL report store: \(error)", isIOError: true)
            }
        }
    }
}
