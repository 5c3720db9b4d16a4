import OffsiteFormat

/// Go's calendar arithmetic on `GoTime` values, exactly as restic's retention uses it.
enum GoCalendar {
    /// Go's `t.AddDate(-years, -months, -days).Add(-hours * time.Hour)` for a `t` parsed from
    /// RFC 3339 on a machine in `zone`:
    /// - the wall clock of `t` in its recorded offset is moved by the calendar amounts, months
    ///   and days overflowing as Go's `time.Date` normalises them (March 31 minus one month is
    ///   March 3, or March 2 in a leap year);
    /// - the new wall clock is turned back into an instant in `t`'s location: UTC for offset 0
    ///   (Go parses `Z` as UTC), the local zone when `t`'s offset is the local offset at `t`
    ///   (then the offset can change across a daylight-saving switch, resolved as Go's
    ///   `time.Date` does), else `t`'s fixed offset;
    /// - the hours are subtracted as an absolute duration (Go's `time.Duration` arithmetic,
    ///   wrapping on overflow as Go does).
    static func subtract(_ d: RetentionDuration, from t: GoTime, zone: LocalZone) -> GoTime {
        let c = t.civil
        let month0 = c.month - 1 - d.months
        let year = c.year - Int64(d.years) + Int64(floorDiv(month0, 12))
        // Days past the end of the month run on into the next ones, as in Go's time.Date.
        let wall = GoTime(
            year: year, month: month0 - floorDiv(month0, 12) * 12 + 1, day: c.day - d.days, hour: c.hour, minute: c.minute,
            second: c.second, utcOffset: 0
        ).seconds
        let offset: Int64
        if t.utcOffset == 0 {
            offset = 0
        } else if zone.offset(t.seconds) == t.utcOffset {
            // Go's time.Date: look up the offset at the wall clock taken as UTC, then again at
            // the instant that gives, and use the second answer.
            offset = Int64(zone.offset(wall - Int64(zone.offset(wall))))
        } else {
            offset = Int64(t.utcOffset)
        }
        var seconds = wall - offset
        var nanos = Int64(t.nanoseconds)
        // time.Duration(-hours) * time.Hour, in int64 nanoseconds with Go's wrap-around.
        let shift = Int64(-d.hours) &* 3_600_000_000_000
        seconds += shift / 1_000_000_000
        nanos += shift % 1_000_000_000
        if nanos < 0 {
            nanos += 1_000_000_000
            seconds -= 1
        } else if nanos >= 1_000_000_000 {
            nanos -= 1_000_000_000
            seconds += 1
        }
        return GoTime(seconds: seconds, nanoseconds: Int32(nanos), utcOffset: t.utcOffset)
    }

    /// YYYYMMDDHH of the recorded wall clock (restic's hourly bucket).
    static func hourBucket(_ t: GoTime) -> Int {
        let c = t.civil
        return Int(c.year) * 1_000_000 + c.month * 10_000 + c.day * 100 + c.hour
    }

    /// YYYYMMDD (daily bucket).
    static func dayBucket(_ t: GoTime) -> Int {
        let c = t.civil
        return Int(c.year) * 10_000 + c.month * 100 + c.day
    }

    /// ISO year * 100 + ISO week (weekly bucket), as Go's `ISOWeek`.
    static func weekBucket(_ t: GoTime) -> Int {
        let (year, week) = isoWeek(t)
        return Int(year) * 100 + week
    }

    /// YYYYMM (monthly bucket).
    static func monthBucket(_ t: GoTime) -> Int {
        let c = t.civil
        return Int(c.year) * 100 + c.month
    }

    /// YYYY (yearly bucket).
    static func yearBucket(_ t: GoTime) -> Int { Int(t.civil.year) }

    /// Go's `ISOWeek`: weeks start on Monday; the week belongs to the year of its Thursday.
    static func isoWeek(_ t: GoTime) -> (year: Int64, week: Int) {
        let c = t.civil
        let days = floorDiv64(GoTime(year: c.year, month: c.month, day: c.day, hour: 0, minute: 0, second: 0, utcOffset: 0).seconds, 86400)
        // 1970-01-01 was a Thursday; 0 = Sunday.
        let weekday = Int(((days + 4) % 7 + 7) % 7)
        var shift = 4 - weekday
        if shift == 4 { shift = -3 }  // Sunday belongs to the week that began on Monday.
        let thursday = days + Int64(shift)
        let year = GoTime(seconds: thursday * 86400).civil.year
        let january1 = GoTime(year: year, month: 1, day: 1, hour: 0, minute: 0, second: 0, utcOffset: 0).seconds / 86400
        let yday = thursday - january1
        return (year, Int(yday / 7) + 1)
    }

    private static func floorDiv64(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
