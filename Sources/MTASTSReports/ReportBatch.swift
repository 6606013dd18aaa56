/// A report ready to be saved, as ``ReportStore/save(_:json:receivedAt:)`` takes it.
public struct ReportToSave: Sendable {
    public var report: TLSReport
    /// The JSON kept with it: the text it was read from (``ExtractedReport/json``).
    public var json: [UInt8]
    public var receivedAt: Int64

    public init(report: TLSReport, json: [UInt8], receivedAt: Int64) {
        self.report = report
        self.json = json
        self.receivedAt = receivedAt
    }
}

extension ReportStore {
    /// One ``save(_:json:receivedAt:)`` after the other: for a store without a batch transaction of its own.
    public func save(batch: [ReportToSave]) async throws -> [ReportSaveOutcome] {
        var outcomes: [ReportSaveOutcome] = []
        for r in batch { outcomes.append(try await save(r.report, json: r.json, receivedAt: r.receivedAt)) }
        return outcomes
    }
}
