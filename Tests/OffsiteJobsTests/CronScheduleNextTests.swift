import Foundation
import Testing

@testable import OffsiteJobs

/// `next(after:in:)`: field matching, the day-of-month/day-of-week rule, and daylight saving time.
@Suite struct CronScheduleNextTests {
    let paris = TimeZone(identifier: "Europe/Paris")!
    let utc = TimeZone(identifier: "UTC")!

    func at(_ iso: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: iso) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: iso)!
    }

    func next(_ expression: String, after iso: String, in zone: TimeZone? = nil) throws -> Date {
        try CronSchedule(parsing: expression).next(after: at(iso), in: zone ?? paris)
    }

    func runs(_ expression: String, from: String, to: String, in zone: TimeZone? = nil) throws -> [Date] {
        try CronSchedule(parsing: expression).runs(after: at(from), before: at(to), in: zone ?? paris)
    }

    // MARK: - Ordinary times

    @Test func nextIsStrictlyAfter() throws {
        #expect(try next("0 */6 * * *", after: "2026-01-10T06:00:00+01:00") == at("2026-01-10T12:00:00+01:00"))
        #expect(try next("0 */6 * * *", after: "2026-01-10T05:59:59.500+01:00") == at("2026-01-10T06:00:00+01:00"))
        #expect(try next("0 */6 * * *", after: "2026-01-10T18:00:01+01:00") == at("2026-01-11T00:00:00+01:00"))
    }

    @Test func everySixHoursForAYearIsFourTimes365Runs() throws {
        for zone in [paris, utc, TimeZone(identifier: "America/New_York")!, TimeZone(identifier: "Australia/Sydney")!] {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = zone
            let start = calendar.date(from: DateComponents(year: 2026, month: 1, day: 1))!
            let end = calendar.date(from: DateComponents(year: 2027, month: 1, day: 1))!
            let all = try CronSchedule(parsing: "0 */6 * * *").runs(after: start.addingTimeInterval(-1), before: end, in: zone)
            #expect(all.count == 4 * 365, "\(zone.identifier)")
            #expect(all.first == start)
            for run in all {
                let parts = calendar.dateComponents([.hour, .minute, .second], from: run)
                #expect(parts.hour! % 6 == 0 && parts.minute == 0 && parts.second == 0)
            }
        }
    }

    @Test func timeZoneComesFromTheArgument() throws {
        let newYork = TimeZone(identifier: "America/New_York")!
        #expect(try next("0 9 * * *", after: "2026-01-10T00:00:00Z", in: newYork) == at("2026-01-10T14:00:00Z"))
        #expect(try next("0 9 * * *", after: "2026-07-10T00:00:00Z", in: newYork) == at("2026-07-10T13:00:00Z"))
        #expect(try next("0 9 * * *", after: "2026-07-10T00:00:00Z", in: utc) == at("2026-07-10T09:00:00Z"))
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothAreRestricted() throws {
        // Friday 13th rule: every 13th and every Friday (2026-01-02 is a Friday, 2026-01-13 a Tuesday).
        let days = try runs("0 0 13 * fri", from: "2026-01-01T00:00:00Z", to: "2026-01-20T00:00:00Z", in: utc)
        #expect(days == ["02", "09", "13", "16"].map { at("2026-01-\($0)T00:00:00Z") })
        // A leading * makes the day of month count as unrestricted: both must match (odd days that are Fridays).
        let both = try runs("0 0 */2 * fri", from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", in: utc)
        #expect(both == ["09", "23"].map { at("2026-01-\($0)T00:00:00Z") })
    }

    @Test func monthsWithoutTheDayAreSkipped() throws {
        #expect(try runs("0 0 31 * *", from: "2026-01-01T00:00:00Z", to: "2027-01-01T00:00:00Z", in: utc).count == 7)
        #expect(try next("0 0 29 feb *", after: "2026-01-01T00:00:00Z", in: utc) == at("2028-02-29T00:00:00Z"))
        #expect(try next("@yearly", after: "2026-06-01T00:00:00Z", in: utc) == at("2027-01-01T00:00:00Z"))
    }

    @Test func weekdaysByName() throws {
        let week = try runs("0 8 * * mon-fri", from: "2026-01-04T00:00:00Z", to: "2026-01-11T00:00:00Z", in: utc)
        #expect(week == (5...9).map { at("2026-01-0\($0)T08:00:00Z") })
    }

    /// Compares with a minute-by-minute scan through Calendar in UTC (no DST), as an independent oracle.
    @Test(arguments: [
        "*/7 */5 * * *", "15 10 1,15 * *", "0 0 13 * 5", "30 4 * jun-aug sat,sun", "0 12 */3 */2 *",
        "5-10/2 3 * * 1-5", "0 0 28-31 * *", "59 23 31 12 *", "0 0 * * 7",
    ])
    func agreesWithBruteForce(expression: String) throws {
        let schedule = try CronSchedule(parsing: expression)
        guard case .fields(let fields) = schedule.kind else { return }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        let start = at("2026-01-01T00:00:00Z")
        let end = at("2026-04-01T00:00:00Z")
        var expected: [Date] = []
        var minute = start.addingTimeInterval(60)
        while minute < end {
            let c = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: minute)
            let bit = { (set: UInt64, value: Int) in set & (1 << value) != 0 }
            if bit(fields.minutes, c.minute!) && bit(fields.hours, c.hour!) && bit(fields.months, c.month!)
                && fields.matchesDay(day: c.day!, weekday: c.weekday! - 1)
            {
                expected.append(minute)
            }
            minute.addTimeInterval(60)
        }
        #expect(schedule.runs(after: start, before: end, in: utc) == expected)
    }

    // MARK: - Daylight saving time, Europe/Paris (2026-03-29 02:00 → 03:00, 2026-10-25 03:00 → 02:00)

    @Test func springForwardFixedJobRunsOnceAtTheEndOfTheGap() throws {
        let all = try runs("30 2 * * *", from: "2026-03-27T12:00:00+01:00", to: "2026-03-31T12:00:00+02:00")
        #expect(
            all == [
                at("2026-03-28T02:30:00+01:00"),
                at("2026-03-29T03:00:00+02:00"),  // 02:30 does not exist: runs when the gap ends
                at("2026-03-30T02:30:00+02:00"),
                at("2026-03-31T02:30:00+02:00"),
            ])
    }

    @Test func springForwardSeveralTimesInTheGapCollapseIntoOneRun() throws {
        let all = try runs("15,45 2 * * *", from: "2026-03-29T00:00:00+01:00", to: "2026-03-30T03:00:00+02:00")
        #expect(all == [at("2026-03-29T03:00:00+02:00"), at("2026-03-30T02:15:00+02:00"), at("2026-03-30T02:45:00+02:00")])
    }

    @Test func springForwardWildcardJobSkipsTheMissingHour() throws {
        let all = try runs("*/30 * * * *", from: "2026-03-29T01:00:00+01:00", to: "2026-03-29T04:00:00+02:00")
        #expect(all == [at("2026-03-29T01:30:00+01:00"), at("2026-03-29T03:00:00+02:00"), at("2026-03-29T03:30:00+02:00")])
        let hourly = try runs("@hourly", from: "2026-03-29T00:30:00+01:00", to: "2026-03-29T04:30:00+02:00")
        #expect(hourly == [at("2026-03-29T01:00:00+01:00"), at("2026-03-29T03:00:00+02:00"), at("2026-03-29T04:00:00+02:00")])
    }

    @Test func springForwardJobsOutsideTheGapAreUnaffected() throws {
        #expect(try next("0 3 * * *", after: "2026-03-28T12:00:00+01:00") == at("2026-03-29T03:00:00+02:00"))
        #expect(try next("59 1 * * *", after: "2026-03-28T12:00:00+01:00") == at("2026-03-29T01:59:00+01:00"))
        #expect(try next("0 0 * * *", after: "2026-03-28T12:00:00+01:00") == at("2026-03-29T00:00:00+01:00"))
    }

    @Test func fallBackFixedJobRunsOnceAtTheFirstOccurrence() throws {
        let all = try runs("30 2 * * *", from: "2026-10-24T12:00:00+02:00", to: "2026-10-26T12:00:00+01:00")
        #expect(all == [at("2026-10-25T02:30:00+02:00"), at("2026-10-26T02:30:00+01:00")])
        // Asked from inside the repeated hour, after the first 02:30: not again at 02:30 CET.
        #expect(try next("30 2 * * *", after: "2026-10-25T02:45:00+02:00") == at("2026-10-26T02:30:00+01:00"))
        #expect(try next("30 2 * * *", after: "2026-10-25T02:10:00+01:00") == at("2026-10-26T02:30:00+01:00"))
    }

    @Test func fallBackWildcardJobRunsInBothOccurrences() throws {
        let hourly = try runs("0 * * * *", from: "2026-10-25T00:30:00+02:00", to: "2026-10-25T04:30:00+01:00")
        #expect(
            hourly == [
                at("2026-10-25T01:00:00+02:00"), at("2026-10-25T02:00:00+02:00"), at("2026-10-25T02:00:00+01:00"),
                at("2026-10-25T03:00:00+01:00"), at("2026-10-25T04:00:00+01:00"),
            ])
        // Real time between runs stays one hour.
        for (a, b) in zip(hourly, hourly.dropFirst()) { #expect(b.timeIntervalSince(a) == 3600) }
        // From inside the second pass, the next quarter is in the second pass.
        #expect(try next("*/15 * * * *", after: "2026-10-25T02:20:00+01:00") == at("2026-10-25T02:30:00+01:00"))
        // From the end of the first pass, the next is the start of the second.
        #expect(try next("*/15 * * * *", after: "2026-10-25T02:50:00+02:00") == at("2026-10-25T02:00:00+01:00"))
    }

    @Test func fallBackDailyJobsRunOncePerDay() throws {
        let all = try runs("@daily", from: "2026-10-24T12:00:00+02:00", to: "2026-10-27T12:00:00+01:00")
        #expect(all == [at("2026-10-25T00:00:00+02:00"), at("2026-10-26T00:00:00+01:00"), at("2026-10-27T00:00:00+01:00")])
    }

    @Test func everyMinuteFollowsRealTimeThroughBothTransitions() throws {
        let spring = try runs("* * * * *", from: "2026-03-28T23:59:59+01:00", to: "2026-03-30T00:00:00+02:00")
        #expect(spring.count == 23 * 60)
        let autumn = try runs("* * * * *", from: "2026-10-24T23:59:59+02:00", to: "2026-10-26T00:00:00+01:00")
        #expect(autumn.count == 25 * 60)
        for (a, b) in zip(autumn, autumn.dropFirst()) { #expect(b.timeIntervalSince(a) == 60) }
    }

    @Test func newYorkSpringForwardAtTwo() throws {
        let newYork = TimeZone(identifier: "America/New_York")!
        #expect(try next("0 2 * * *", after: "2026-03-07T12:00:00-05:00", in: newYork) == at("2026-03-08T03:00:00-04:00"))
        #expect(try next("0 2 * * *", after: "2026-03-08T03:00:00-04:00", in: newYork) == at("2026-03-09T02:00:00-04:00"))
    }
}
