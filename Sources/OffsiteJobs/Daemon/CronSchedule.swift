import Foundation

/// When a job runs: a 5-field cron expression, a macro (`@daily`) or a fixed interval (`@every 1h30m`).
///
/// Fields are `minute hour day-of-month month day-of-week`, each `*`, a value, a range `a-b`, a step
/// `*/n`, `a-b/n` or `a/n` (from `a` to the field's end), or a comma list of these. Months and
/// weekdays take English names (`jan`, `mon-fri`, any case); Sunday is 0 or 7. As in Vixie cron and
/// cronie, when both day-of-month and day-of-week are restricted (neither starts with `*`), a day
/// matching either runs; otherwise both must match. Macros: `@yearly`/`@annually`, `@monthly`,
/// `@weekly`, `@daily`/`@midnight`, `@hourly`.
///
/// Time zones and daylight saving time follow Vixie cron and cronie (see `next(after:in:)`).
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    /// The expression as written (trimmed).
    public let expression: String
    let kind: Kind

    enum Kind: Sendable, Equatable {
        case fields(CronFields)
        /// Seconds between runs.
        case every(Int)
    }

    /// Parses a cron expression, a macro or `@every DURATION`.
    /// - Throws: `JobsError.Code.invalidSchedule` naming the field and the value at fault.
    public init(parsing text: String) throws(JobsError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        expression = trimmed
        if trimmed.hasPrefix("@") {
            kind = try Self.macro(trimmed)
        } else {
            kind = .fields(try CronFields(parsing: trimmed))
        }
    }

    public var description: String { expression }

    /// For `@every`: the interval between runs.
    public var interval: Duration? {
        if case .every(let seconds) = kind { return .seconds(seconds) }
        return nil
    }

    private static func macro(_ text: String) throws(JobsError) -> Kind {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let name = parts[0].lowercased()
        if name == "@every" {
            guard parts.count == 2 else {
                throw JobsError(.invalidSchedule, "invalid schedule \"\(text)\": @every takes one duration such as 30s, 5m or 1h30m")
            }
            return .every(try parseDuration(parts[1], schedule: text))
        }
        let fields: String
        switch name {
        case "@yearly", "@annually": fields = "0 0 1 1 *"
        case "@monthly": fields = "0 0 1 * *"
        case "@weekly": fields = "0 0 * * 0"
        case "@daily", "@midnight": fields = "0 0 * * *"
        case "@hourly": fields = "0 * * * *"
        default:
            throw JobsError(
                .invalidSchedule,
                "invalid schedule \"\(text)\": unknown macro \(parts[0]); use @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually or @every DURATION"
            )
        }
        guard parts.count == 1 else {
            throw JobsError(.invalidSchedule, "invalid schedule \"\(text)\": \(parts[0]) takes no fields")
        }
        return .fields(try CronFields(parsing: fields))
    }

    /// Go-style durations: one or more `<integer><unit>` with units `h`, `m`, `s` (`1h30m`, `90s`).
    static func parseDuration(_ text: String, schedule: String) throws(JobsError) -> Int {
        func bad(_ why: String) -> JobsError {
            JobsError(.invalidSchedule, "invalid schedule \"\(schedule)\": @every duration \"\(text)\" \(why)")
        }
        var total = 0
        var digits = ""
        var seenUnits: Set<Character> = []
        for c in text.lowercased() {
            if c.isASCII && c.isNumber {
                digits.append(c)
                continue
            }
            guard let factor = ["h": 3600, "m": 60, "s": 1][c] else {
                throw bad("has unknown unit '\(c)'; use h, m and s as in 1h30m")
            }
            guard let n = Int(digits), !seenUnits.contains(c) else {
                throw bad("is not a duration such as 30s, 5m or 1h30m")
            }
            seenUnits.insert(c)
            let (product, overflow) = n.multipliedReportingOverflow(by: factor)
            guard !overflow, product <= 10 * 366 * 86400 else { throw bad("is too long") }
            total += product
            digits = ""
        }
        guard digits.isEmpty, !seenUnits.isEmpty else {
            throw bad("needs a unit after each number (30s, 5m, 1h30m)")
        }
        guard total >= 1 else { throw bad("must be at least 1s") }
        return total
    }
}
