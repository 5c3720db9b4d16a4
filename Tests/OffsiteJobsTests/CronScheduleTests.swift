import Foundation
import Testing

@testable import OffsiteJobs

@Suite struct CronScheduleTests {
    func fields(_ text: String) throws -> CronFields {
        guard case .fields(let fields) = try CronSchedule(parsing: text).kind else {
            Issue.record("not a field schedule")
            return try CronFields(parsing: "* * * * *")
        }
        return fields
    }

    func bits(_ values: [Int]) -> UInt64 { values.reduce(0) { $0 | (1 << $1) } }

    @Test func starsSelectEverything() throws {
        let f = try fields("* * * * *")
        #expect(f.minutes == bits(Array(0...59)))
        #expect(f.hours == bits(Array(0...23)))
        #expect(f.daysOfMonth == bits(Array(1...31)))
        #expect(f.months == bits(Array(1...12)))
        #expect(f.daysOfWeek == bits(Array(0...6)))
        #expect(f.dayOfMonthStar && f.dayOfWeekStar && f.isWildcard)
    }

    @Test func listsRangesAndSteps() throws {
        #expect(try fields("0 */6 * * *").hours == bits([0, 6, 12, 18]))
        #expect(try fields("1-30/5 * * * *").minutes == bits([1, 6, 11, 16, 21, 26]))
        #expect(try fields("0,15,30-32 * * * *").minutes == bits([0, 15, 30, 31, 32]))
        #expect(try fields("5/20 * * * *").minutes == bits([5, 25, 45]))
        #expect(try fields("0 9-17/4 * * *").hours == bits([9, 13, 17]))
        #expect(try fields("* * */10 * *").daysOfMonth == bits([1, 11, 21, 31]))
        #expect(try fields("* * * */3 *").months == bits([1, 4, 7, 10]))
    }

    @Test func monthAndWeekdayNames() throws {
        #expect(try fields("0 0 1 jan,JUL *").months == bits([1, 7]))
        #expect(try fields("0 0 1 Mar-May *").months == bits([3, 4, 5]))
        #expect(try fields("0 8 * * mon-fri").daysOfWeek == bits([1, 2, 3, 4, 5]))
        #expect(try fields("0 8 * * sat,SUN").daysOfWeek == bits([0, 6]))
        #expect(try fields("0 8 * * fri-sun").daysOfWeek == bits([0, 5, 6]))
    }

    @Test func sundayIsZeroOrSeven() throws {
        #expect(try fields("0 0 * * 0").daysOfWeek == bits([0]))
        #expect(try fields("0 0 * * 7").daysOfWeek == bits([0]))
        #expect(try fields("0 0 * * 5-7").daysOfWeek == bits([0, 5, 6]))
        #expect(try fields("0 0 * * 1-7").daysOfWeek == bits(Array(0...6)))
    }

    @Test func starFlagsFollowVixieCron() throws {
        let both = try fields("0 0 1 * mon")
        #expect(!both.dayOfMonthStar && !both.dayOfWeekStar && !both.isWildcard)
        let stepped = try fields("0 0 */2 * mon")
        #expect(stepped.dayOfMonthStar)  // a leading * counts as unrestricted, as in Vixie cron
        #expect(try fields("*/5 3 * * *").isWildcard)
        #expect(try fields("0 */6 * * *").isWildcard)
        #expect(!(try fields("30 2 * * *").isWildcard))
    }

    @Test(arguments: [
        ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"), ("@DAILY", "0 0 * * *"),
    ])
    func macros(macro: String, equivalent: String) throws {
        #expect(try fields(macro) == fields(equivalent))
        #expect(try CronSchedule(parsing: macro).expression == macro)
    }

    @Test(arguments: [("@every 30s", 30), ("@every 5m", 300), ("@every 1h30m", 5400), ("@every 2h", 7200), ("@every 1h0m5s", 3605)])
    func everyDurations(text: String, seconds: Int) throws {
        let schedule = try CronSchedule(parsing: text)
        #expect(schedule.interval == .seconds(seconds))
        let start = Date(timeIntervalSince1970: 1_000_000)
        #expect(schedule.next(after: start, in: TimeZone(identifier: "Europe/Paris")!) == start.addingTimeInterval(TimeInterval(seconds)))
    }

    @Test(arguments: [
        ("0 25 * * *", "hour field \"25\": 25 is outside 0-23"),
        ("60 * * * *", "minute field \"60\": 60 is outside 0-59"),
        ("0 0 0 * *", "day-of-month field \"0\": 0 is outside 1-31"),
        ("0 0 * 13 *", "month field \"13\": 13 is outside 1-12"),
        ("0 0 * * 8", "day-of-week field \"8\": 8 is outside 0-7"),
        ("0 0 * * fri-mon", "day-of-week field \"fri-mon\": range fri-mon goes backwards"),
        ("0 0 * foo *", "month field \"foo\": \"foo\" is not a number 1-12 or a name"),
        ("x * * * *", "minute field \"x\": \"x\" is not a number"),
        ("*/0 * * * *", "minute field \"*/0\": step \"0\" is not a positive number"),
        ("*/a * * * *", "minute field \"*/a\": step \"a\" is not a positive number"),
        ("1,,2 * * * *", "minute field \"1,,2\": empty list item"),
        ("0 */6 * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
        ("0 0 */6 * * *", "expected 5 fields"),
        ("", "expected 5 fields"),
        ("0 0 30 feb *", "day-of-month field \"30\" never occurs in month field \"feb\""),
        ("@reboot", "unknown macro @reboot"),
        ("@daily 5", "@daily takes no fields"),
        ("@every", "@every takes one duration"),
        ("@every 5", "needs a unit"),
        ("@every 5x", "unknown unit 'x'"),
        ("@every 0s", "must be at least 1s"),
        ("@every m", "is not a duration"),
    ])
    func errorsNameTheFieldAndValue(text: String, expected: String) {
        #expect {
            try CronSchedule(parsing: text)
        } throws: { error in
            guard let error = error as? JobsError, error.code == .invalidSchedule else { return false }
            let ok = error.message.contains(expected) && error.message.contains("\"\(text)\"")
            if !ok { Issue.record("message: \(error.message)") }
            return ok
        }
    }

    @Test func thirtyFirstIsAllowedWhenSomeMonthHasIt() throws {
        _ = try CronSchedule(parsing: "0 0 31 * *")
        _ = try CronSchedule(parsing: "0 0 29 feb *")
        _ = try CronSchedule(parsing: "0 0 30 feb mon")  // OR rule: every Monday of February
    }
}
