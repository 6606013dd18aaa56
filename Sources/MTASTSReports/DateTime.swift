/// RFC 3339 date-time (RFC 8460 §4.4 `date-range`) → Unix seconds, by hand: no calendar object, no clock.
enum DateTime {
    enum Reading: Equatable {
        /// A full RFC 3339 date-time.
        case exact(Int64)
        /// Read as UTC, with the deviation in words (no offset, a bare date).
        case tolerated(Int64, String)
        case invalid
    }

    static func read(_ text: String) -> Reading {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for i in at..<(at + n) {
                guard (0x30...0x39).contains(b[i]) else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard let y = digits(0, 4), b.count >= 10, b[4] == 0x2D, let mo = digits(5, 2), b[7] == 0x2D,
              let d = digits(8, 2), (1...12).contains(mo), (1...CivilDate.daysIn(month: mo, year: y)).contains(d)
        else { return .invalid }
        let day = CivilDate.days(year: y, month: mo, day: d)
        if b.count == 10 { return .tolerated(day * 86400, "date-time is a bare date (read as 00:00:00 UTC)") }
        // "T" / "t"; a space is a common slip (RFC 3339 §5.6 permits it by note only).
        guard [0x54, 0x74, 0x20].contains(b[10]), let h = digits(11, 2), b.count >= 19, b[13] == 0x3A,
              let mi = digits(14, 2), b[16] == 0x3A, let s = digits(17, 2), h < 24, mi < 60, s <= 60
        else { return .invalid }
        let seconds = day * 86400 + Int64(h * 3600 + mi * 60 + min(s, 59))
        var i = 19
        if i < b.count, b[i] == 0x2E {
            i += 1
            let start = i
            while i < b.count, (0x30...0x39).contains(b[i]) { i += 1 }
            guard i > start else { return .invalid }
        }
        if i == b.count { return .tolerated(seconds, "date-time without UTC offset (read as UTC)") }
        if b[i] == 0x5A || b[i] == 0x7A, i + 1 == b.count { return .exact(seconds) }
        guard b[i] == 0x2B || b[i] == 0x2D, i + 6 == b.count, let oh = digits(i + 1, 2), b[i + 3] == 0x3A,
              let om = digits(i + 4, 2), oh < 24, om < 60
        else { return .invalid }
        let offset = Int64(oh * 3600 + om * 60)
        return .exact(b[i] == 0x2B ? seconds - offset : seconds + offset)
    }
}

/// The reports' one calendar: proleptic Gregorian civil dates ↔ days since 1970-01-01 (H. Hinnant's days_from_civil
/// and civil_from_days), without a calendar object or a clock. (MTASTSCore's policy ids have their own few lines: the
/// core and this target are independent pure targets, each fuzzed alone.)
public enum CivilDate {
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a date.
    static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day since 1970-01-01.
    static func date(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, doy - (153 * mp + 2) / 5 + 1)
    }

    /// `YYYY-MM-DD` (exactly) → Unix seconds at 00:00 UTC; nil for anything else or a day the month does not have.
    public static func day(_ text: String) -> Int64? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }),
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m),
              (1...daysIn(month: m, year: y)).contains(d) else { return nil }
        return days(year: y, month: m, day: d) * 86400
    }

    /// The start (00:00 UTC) of the day of `time`, in Unix seconds.
    static func dayStart(of time: Int64) -> Int64 {
        let d = time / 86400
        return (time % 86400 < 0 ? d - 1 : d) * 86400
    }

    /// Unix seconds → `YYYY-MM-DD` (UTC).
    public static func string(_ time: Int64) -> String {
        let (y, m, d) = date(days: dayStart(of: time) / 86400)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))"
    }

    /// Unix seconds → `YYYY-MM-DD HH:MM` (UTC).
    static func minute(_ time: Int64) -> String {
        let s = time - dayStart(of: time)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return string(time) + " " + two(s / 3600) + ":" + two(s % 3600 / 60)
    }
}
