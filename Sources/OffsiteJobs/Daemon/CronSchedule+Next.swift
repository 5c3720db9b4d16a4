public import Foundation

extension CronSchedule {
    /// The first run strictly after `date`, with fields read as wall-clock time in `timeZone`.
    ///
    /// Daylight saving time follows Vixie cron and cronie (`cron.c`, "time jumped" handling), which
    /// tell fixed-time jobs (minute and hour fields both without a leading `*`) from wildcard jobs:
    /// - **Spring forward** (a wall-clock gap, 02:00-03:00 in Europe/Paris): a fixed-time job whose
    ///   time falls in the gap runs once, at the end of the gap (a 02:30 job runs at 03:00 CEST); a
    ///   wildcard job (`*/15 * * * *`, `0 * * * *`) simply has no runs in the missing hour.
    /// - **Fall back** (a repeated wall-clock hour, 02:00-03:00 twice): a fixed-time job runs once,
    ///   at the first occurrence (02:30 CEST, not again at 02:30 CET); a wildcard job runs at its
    ///   times in both occurrences, so `0 * * * *` still runs every real hour.
    ///
    /// `@every` schedules ignore the time zone: the next run is `date` plus the interval (the daemon
    /// passes the previous run). Runs fall on whole minutes. Several matches in one gap collapse
    /// into one run. Never returns a date at or before `date`; a schedule that parsed always runs
    /// eventually (`30 feb` is rejected by the parser).
    public func next(after date: Date, in timeZone: TimeZone) -> Date {
        switch kind {
        case .every(let seconds):
            return date.addingTimeInterval(TimeInterval(seconds))
        case .fields(let fields):
            return CronSearch(fields: fields, timeZone: timeZone).next(after: date)
        }
    }

    /// The runs in `(start, end)`, in order; for tests, `status` and dry runs.
    public func runs(after start: Date, before end: Date, in timeZone: TimeZone) -> [Date] {
        var result: [Date] = []
        var current = start
        while true {
            let next = next(after: current, in: timeZone)
            guard next < end else { return result }
            result.append(next)
            current = next
        }
    }
}

/// Searches wall-clock times with integer civil-date arithmetic, then maps them to instants.
struct CronSearch {
    let fields: CronFields
    let timeZone: TimeZone

    /// The largest wall-clock jump a DST change makes anywhere (real ones are 30 min to 2 h).
    static let maxJump = 3 * 3600

    func next(after date: Date) -> Date {
        let start = Int(date.timeIntervalSince1970.rounded(.down))
        if let fast = nextAwayFromTransitions(start: start) {
            return Date(timeIntervalSince1970: TimeInterval(fast))
        }
        let startWall = start + offset(start)
        // Walls up to 2 jumps back can still map to instants after `date` (a gap's end, an overlap's second pass).
        var wall = floorDiv(startWall - 2 * Self.maxJump, 60) * 60
        var best: Int?
        var bestWall = Int.max
        while let candidate = nextMatchingWall(atOrAfter: wall) {
            // Wall-clock time never runs backwards by more than one jump, so no later wall can beat `best`.
            if best != nil, candidate >= bestWall + Self.maxJump { break }
            for instant in instants(forWall: candidate) where Double(instant) > date.timeIntervalSince1970 {
                if best.map({ instant < $0 }) ?? true {
                    best = instant
                    bestWall = instant + offset(instant)
                }
            }
            wall = candidate + 60
        }
        guard let best else { return .distantFuture }
        return Date(timeIntervalSince1970: TimeInterval(best))
    }

    /// The common case: no offset change within two jumps of `start` or of the next run, so the
    /// next matching wall-clock time maps to exactly one instant. Nil sends the caller to the full search.
    private func nextAwayFromTransitions(start: Int) -> Int? {
        let margin = 2 * Self.maxJump
        let startOffset = offset(start)
        guard offset(start - margin) == startOffset, offset(start + margin) == startOffset,
            let wall = nextMatchingWall(atOrAfter: floorDiv(start + startOffset, 60) * 60 + 60)
        else { return nil }
        let guess = offset(wall - startOffset)
        let instant = wall - guess
        guard offset(instant) == guess, offset(instant - margin) == guess, offset(instant + margin) == guess else { return nil }
        return instant
    }

    func offset(_ instant: Int) -> Int {
        timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
    }

    /// The instants at which a matching wall-clock time runs, by the DST rule above.
    func instants(forWall wall: Int) -> [Int] {
        let offsets = Set([offset(wall - 86400), offset(wall), offset(wall + 86400)])
        let valid = offsets.map { wall - $0 }.filter { $0 + offset($0) == wall }.sorted()
        if valid.isEmpty {
            // In a gap: fixed-time jobs run once when the gap ends; wildcard jobs skip.
            return fields.isWildcard ? [] : [gapEnd(wall: wall, offsets: offsets)]
        }
        return fields.isWildcard ? valid : [valid[0]]
    }

    /// The first instant whose wall-clock time is at or after `wall` (the transition ending the gap).
    private func gapEnd(wall: Int, offsets: Set<Int>) -> Int {
        var low = wall - offsets.max()!  // wall-clock before the gap
        var high = wall - offsets.min()!  // wall-clock after the gap
        while high - low > 1 {
            let mid = low + (high - low) / 2
            if mid + offset(mid) >= wall { high = mid } else { low = mid }
        }
        return high
    }

    /// The smallest wall-clock time (seconds since 1970 as if UTC) at or after `wall` matching the fields.
    func nextMatchingWall(atOrAfter wall: Int) -> Int? {
        var days = floorDiv(wall, 86400)
        let secondOfDay = wall - days * 86400
        var hour = secondOfDay / 3600
        var minute = (secondOfDay % 3600 + 59) / 60
        if minute == 60 {
            minute = 0
            hour += 1
        }
        let limit = days + 60 * 366
        while days < limit {
            if hour >= 24 {
                days += 1
                hour = 0
                minute = 0
                continue
            }
            let (year, month, day) = civil(fromDays: days)
            if fields.months & (1 << month) == 0 {
                days = Self.days(fromCivil: month == 12 ? year + 1 : year, month == 12 ? 1 : month + 1, 1)
                hour = 0
                minute = 0
                continue
            }
            if !fields.matchesDay(day: day, weekday: (floorMod(days + 4, 7))) {
                days += 1
                hour = 0
                minute = 0
                continue
            }
            guard let h = fields.hours.firstBit(atOrAbove: hour) else {
                hour = 24
                continue
            }
            if h != hour {
                hour = h
                minute = 0
            }
            guard let m = fields.minutes.firstBit(atOrAbove: minute) else {
                hour += 1
                minute = 0
                continue
            }
            return days * 86400 + hour * 3600 + m * 60
        }
        return nil
    }

    /// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// Howard Hinnant's civil_from_days.
    func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719468
        let era = floorDiv(z, 146097)
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
func floorMod(_ a: Int, _ b: Int) -> Int { a - floorDiv(a, b) * b }
