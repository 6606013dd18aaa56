import Foundation
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
