import Foundation
import Logging
import MTASTSReports
import MTASTSRuntime
import Synchronization

/// The report hosts of one configuration (part of ``HostState``): their names, the body cap and the store.
public struct ReportIntake: Sendable {
    /// Lowercased A-label names, as ``Router/hostKey(_:)`` makes them.
    public let hosts: Set<String>
    public let maxBody: Int
    public let store: ReportStoreHandle

    /// `previous`'s store is kept when `reports.store` is unchanged (a reload does not reopen it).
    init(_ r: PolicyHostConfiguration.Reports, previous: ReportIntake?) {
        hosts = Set(r.hosts.map(\.name.value))
        maxBody = r.maxBody
        store = previous.flatMap { $0.store.setting == r.store ? $0.store : nil } ?? ReportStoreHandle(setting: r.store)
    }
}

/// The report store of `serve`, opened at the first POST (not at start: `serve --check` must not create it) and, when
/// that fails (a directory not writable yet), again at the next one. Parsing and storing run off the event loop.
public final class ReportStoreHandle: Sendable {
    public let setting: StoreSetting
    private let opened = Mutex<(any ReportStore)?>(nil)

    init(setting: StoreSetting) { self.setting = setting }

    /// The store, opened now when it is not yet.
    func open(logger: Logger) throws(ConfigurationError) -> any ReportStore {
        try opened.withLock { (s: inout (any ReportStore)?) throws(ConfigurationError) -> any ReportStore in
            if let s { return s }
            let store = try setting.openReportStoreForDaemon(logger: logger)
            s = store
            return store
        }
    }

    /// Releases the store (after a reload that names another one).
    func close() async {
        if let s = opened.withLock({ s in defer { s = nil }; return s }) { await s.close() }
    }

    /// Parses one POST body as `reports import` parses a file and stores it; the outcome and a short text for the
    /// answer (what was stored, or the parser's reason).
    func receive(_ body: [UInt8], source: String, logger: Logger) async -> (ReportPost.Outcome, String) {
        let results = TLSReportParser.reports(in: body)
        let now = Int64(Date().timeIntervalSince1970)
        let store: any ReportStore
        do { store = try open(logger: logger) } catch {
            logger.error("report store cannot be opened; answering 503", metadata: ["store": "\(setting)", "reason": "\(error)"])
            return (.storeUnavailable, "the report store is unavailable; try again later")
        }
        if let reason = ReportIngest.rejection(results) {
            logger.warning("report rejected", metadata: ["source": "\(source)", "reason": "\(reason)"])
            // Counted for `reports summary`; a store that fails here does not make the answer a retry (it is still no report).
            do { try await ReportIngest.recordRejection(reason, input: body, source: source, into: store, now: now) } catch {
                logger.error("rejected report not recorded", metadata: ["store": "\(setting)", "reason": "\(error)"])
            }
            return (.rejected, reason)
        }
        do {
            guard case .stored(let stored) = try await ReportIngest.store(results, input: body, source: source, into: store, now: now)
            else { return (.rejected, "not a TLS report") }
            let names = stored.map { "\($0.report.organizationName) \($0.report.reportID)" }.joined(separator: ", ")
            let inserted = stored.contains { $0.outcome == .inserted }
            logger.info(inserted ? "report stored" : "report stored before (duplicate)", metadata: ["source": "\(source)", "report": "\(names)"])
            return inserted ? (.stored, "stored \(names)") : (.duplicate, "stored before (duplicate): \(names)")
        } catch {
            logger.error("report not stored; answering 503", metadata: ["store": "\(setting)", "reason": "\(error)"])
            return (.storeUnavailable, "the report store is unavailable; try again later")
        }
    }
}
