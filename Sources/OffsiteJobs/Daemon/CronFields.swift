import Foundation

/// The five parsed fields of a cron expression, as bit sets.
struct CronFields: Sendable, Equatable {
    var minutes: UInt64 = 0  // bits 0-59
    var hours: UInt64 = 0  // bits 0-23
    var daysOfMonth: UInt64 = 0  // bits 1-31
    var months: UInt64 = 0  // bits 1-12
    var daysOfWeek: UInt64 = 0  // bits 0-6, Sunday = 0
    /// Vixie cron's DOM_STAR / DOW_STAR: the field starts with `*` (so `*/2` counts as a star).
    var dayOfMonthStar = false
    var dayOfWeekStar = false
    /// Vixie cron's MIN_STAR / HR_STAR: a "wildcard" job, which runs at its normal times through DST
    /// changes rather than being caught up or deduplicated.
    var isWildcard = false

    struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String]  // names[i] is the value range.lowerBound + i
    }

    static let fields = [
        Field(name: "minute", range: 0...59, names: []),
        Field(name: "hour", range: 0...23, names: []),
        Field(name: "day-of-month", range: 1...31, names: []),
        Field(name: "month", range: 1...12, names: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
        Field(name: "day-of-week", range: 0...7, names: ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    ]

    init(parsing text: String) throws(JobsError) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard parts.count == 5 else {
            throw JobsError(
                .invalidSchedule,
                "invalid cron expression \"\(text)\": expected 5 fields (minute hour day-of-month month day-of-week), found \(parts.count)"
            )
        }
        var sets: [UInt64] = []
        for (field, part) in zip(Self.fields, parts) {
            do {
                sets.append(try Self.parse(part, field))
            } catch let why {
                throw JobsError(.invalidSchedule, "invalid cron expression \"\(text)\": \(field.name) field \"\(part)\": \(why.message)")
            }
        }
        minutes = sets[0]
        hours = sets[1]
        daysOfMonth = sets[2]
        months = sets[3]
        daysOfWeek = (sets[4] | (sets[4] >> 7)) & 0x7F  // 7 is Sunday too
        dayOfMonthStar = parts[2].hasPrefix("*")
        dayOfWeekStar = parts[4].hasPrefix("*")
        isWildcard = parts[0].hasPrefix("*") || parts[1].hasPrefix("*")
        if dayOfMonthStar || dayOfWeekStar {
            // Both must match: reject days of the month that none of the months has (`30 feb`).
            let maxDays = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            let possible = (1...12).contains { month in
                months & (1 << month) != 0 && daysOfMonth & ((UInt64(1) << (maxDays[month] + 1)) - 2) != 0
            }
            guard possible else {
                throw JobsError(
                    .invalidSchedule,
                    "invalid cron expression \"\(text)\": day-of-month field \"\(parts[2])\" never occurs in month field \"\(parts[3])\", so the job would never run"
                )
            }
        }
    }

    struct FieldError: Error { let message: String }

    private static func parse(_ text: String, _ field: Field) throws(FieldError) -> UInt64 {
        var set: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard !item.isEmpty else { throw FieldError(message: "empty list item") }
            var rangePart = item
            var step = 1
            if let slash = item.firstIndex(of: "/") {
                rangePart = String(item[..<slash])
                let stepText = String(item[item.index(after: slash)...])
                guard let n = Int(stepText), n >= 1 else {
                    throw FieldError(message: "step \"\(stepText)\" is not a positive number")
                }
                guard n <= field.range.count else {
                    throw FieldError(
                        message: "step \(n) is larger than the field's range \(field.range.lowerBound)-\(field.range.upperBound)")
                }
                step = n
            }
            let low: Int
            let high: Int
            if rangePart == "*" {
                low = field.range.lowerBound
                high = field.name == "day-of-week" ? 6 : field.range.upperBound
            } else if let dash = rangePart.firstIndex(of: "-") {
                low = try value(String(rangePart[..<dash]), field)
                var end = try value(String(rangePart[rangePart.index(after: dash)...]), field)
                if field.name == "day-of-week" && end == 0 && low > 0 { end = 7 }  // fri-sun
                high = end
                guard low <= high else {
                    throw FieldError(message: "range \(rangePart) goes backwards; write it as two ranges in a list")
                }
            } else {
                low = try value(rangePart, field)
                // `a/n` runs from a to the end of the field.
                high = step > 1 || item.contains("/") ? (field.name == "day-of-week" ? 6 : field.range.upperBound) : low
            }
            for v in stride(from: low, through: high, by: step) { set |= 1 << v }
        }
        return set
    }

    private static func value(_ text: String, _ field: Field) throws(FieldError) -> Int {
        if let n = Int(text) {
            guard field.range.contains(n) else {
                throw FieldError(message: "\(n) is outside \(field.range.lowerBound)-\(field.range.upperBound)")
            }
            return n
        }
        if let i = field.names.firstIndex(of: text.lowercased()) { return field.range.lowerBound + i }
        if field.names.isEmpty {
            throw FieldError(message: "\"\(text)\" is not a number")
        }
        throw FieldError(
            message:
                "\"\(text)\" is not a number \(field.range.lowerBound)-\(field.range.upperBound) or a name (\(field.names.prefix(field.name == "month" ? 12 : 7).joined(separator: ", ")))"
        )
    }

    /// Whether a day matches, with Vixie cron's OR rule when both day fields are restricted.
    func matchesDay(day: Int, weekday: Int) -> Bool {
        let dom = daysOfMonth & (1 << day) != 0
        let dow = daysOfWeek & (1 << weekday) != 0
        return dayOfMonthStar || dayOfWeekStar ? dom && dow : dom || dow
    }
}

extension UInt64 {
    /// The smallest set bit at or above `from`, if any.
    func firstBit(atOrAbove from: Int) -> Int? {
        guard from < 64 else { return nil }
        let masked = self & ~((UInt64(1) << from) - 1)
        return masked == 0 ? nil : masked.trailingZeroBitCount
    }
}
