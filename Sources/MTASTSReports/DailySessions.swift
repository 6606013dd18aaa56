/// The sessions of one policy domain on one UTC day, as ``ReportStore/dailySessions(domain:since:)`` adds them up:
/// the dashboard's time series. A report counts on the day its period starts (RFC 8460 §4.4 reports cover one day,
/// usually 00:00Z to 24:00Z), or the day it was received when its start-datetime could not be read.
public struct DailySessions: Sendable, Equatable {
    /// Seconds since 1970 at 00:00 UTC of the day.
    public var day: Int64
    /// The policy-domain, as ``TLSReport/Policy/storedDomain``.
    public var domain: String
    public var successful: Int
    public var failed: Int

    public init(day: Int64, domain: String, successful: Int, failed: Int) {
        self.day = day
        self.domain = domain
        self.successful = successful
        self.failed = failed
    }

    /// The UTC day of a time: floor division, so a time before 1970 falls on its own day too.
    public static func day(of time: Int64) -> Int64 { CivilDate.dayStart(of: time) }
}
