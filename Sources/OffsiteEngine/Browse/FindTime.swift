public import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// The times `find --oldest/--newest` accept, parsed as restic does (Go's
/// `time.ParseInLocation` with the local zone, trying each layout in turn):
///
///     2006-01-02                       02.01.2006
///     2006-01-02 15:04                 02.01.2006 15:04
///     2006-01-02 15:04:05              02.01.2006 15:04:05
///     2006-01-02 15:04:05 -0700        02.01.2006 15:04:05 -0700
///     2006-01-02 15:04:05 MST          02.01.2006 15:04:05 MST
///     Mon Jan 2 15:04:05 -0700 MST 2006
///
/// Without a zone the time is local (`TZ`). A zone abbreviation is the local zone's, `UTC`, or
/// else taken as UTC (Go's "fabricated location"). Seconds may carry a fraction
/// (`15:04:05.25`); a space in the layout matches one or more spaces.
public enum FindTime {
    enum Token: Equatable {
        case year, zeroMonth, zeroDay, day, hour, zeroMinute, zeroSecond, numericZone, zoneName, weekday, monthName
        case literal(UInt8)
    }

    static let layouts: [[Token]] = {
        func lit(_ s: String) -> [Token] { s.utf8.map { .literal($0) } }
        let iso: [Token] = [.year] + lit("-") + [.zeroMonth] + lit("-") + [.zeroDay]
        let german: [Token] = [.zeroDay] + lit(".") + [.zeroMonth] + lit(".") + [.year]
        let hm: [Token] = lit(" ") + [.hour] + lit(":") + [.zeroMinute]
        let hms: [Token] = hm + lit(":") + [.zeroSecond]
        var out: [[Token]] = []
        for date in [iso, german] {
            out += [date, date + hm, date + hms, date + hms + lit(" ") + [.numericZone], date + hms + lit(" ") + [.zoneName]]
        }
        out.append(
            [.weekday] + lit(" ") + [.monthName] + lit(" ") + [.day] + hms + lit(" ") + [.numericZone] + lit(" ") + [.zoneName]
                + lit(" ") + [.year])
        // restic tries the ISO forms first, then the German ones, then the Unix date form.
        return out
    }()

    /// Parses `text` with the first layout that accepts it; nil when none does.
    public static func parse(_ text: String) -> GoTime? {
        for layout in layouts {
            if let t = parse(Array(text.utf8), layout: layout) { return t }
        }
        return nil
    }

    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    static func parse(_ v: [UInt8], layout: [Token]) -> GoTime? {
        var i = 0
        var year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, nanos = 0
        var offset: Int?
        var zone: String?
        func isDigit(_ k: Int) -> Bool { k < v.count && v[k] >= 0x30 && v[k] <= 0x39 }
        func digit(_ k: Int) -> Int { Int(v[k] - 0x30) }
        /// Go's `getnum`: one or two digits, exactly two when `fixed`.
        func number(fixed: Bool) -> Int? {
            guard isDigit(i) else { return nil }
            guard isDigit(i + 1) else {
                if fixed { return nil }
                i += 1
                return digit(i - 1)
            }
            i += 2
            return digit(i - 2) * 10 + digit(i - 1)
        }
        func name(_ table: [String]) -> Int? {
            guard i + 3 <= v.count else { return nil }
            let word = String(decoding: v[i..<i + 3].map { $0 | 0x20 }, as: UTF8.self)
            guard let k = table.firstIndex(of: word) else { return nil }
            i += 3
            return k
        }
        var k = 0
        while k < layout.count {
            switch layout[k] {
            case .literal(let c):
                if c == UInt8(ascii: " ") {
                    guard i < v.count, v[i] == c else { return nil }
                    while i < v.count && v[i] == c { i += 1 }
                } else {
                    guard i < v.count, v[i] == c else { return nil }
                    i += 1
                }
            case .year:
                guard (0..<4).allSatisfy({ isDigit(i + $0) }) else { return nil }
                year = (0..<4).reduce(0) { $0 * 10 + digit(i + $1) }
                i += 4
            case .zeroMonth:
                guard let m = number(fixed: true), (1...12).contains(m) else { return nil }
                month = m
            case .monthName:
                guard let m = name(monthNames) else { return nil }
                month = m + 1
            case .weekday:
                guard name(dayNames) != nil else { return nil }
            case .zeroDay, .day:
                guard let d = number(fixed: layout[k] == .zeroDay), d <= 31 else { return nil }
                day = d
            case .hour:
                guard let h = number(fixed: false), h < 24 else { return nil }
                hour = h
            case .zeroMinute:
                guard let m = number(fixed: true), m < 60 else { return nil }
                minute = m
            case .zeroSecond:
                guard let s = number(fixed: true), s < 60 else { return nil }
                second = s
                // A fraction the layout does not mention is accepted after the seconds.
                if i + 1 < v.count, v[i] == UInt8(ascii: ".") || v[i] == UInt8(ascii: ","), isDigit(i + 1) {
                    var n = i + 1
                    var value = 0, digits = 0
                    while isDigit(n) {
                        if digits < 9 {
                            value = value * 10 + digit(n)
                            digits += 1
                        }
                        n += 1
                    }
                    guard n - i - 1 <= 9 else { return nil }
                    for _ in digits..<9 { value *= 10 }
                    nanos = value
                    i = n
                }
            case .numericZone:
                guard i + 5 <= v.count, v[i] == UInt8(ascii: "+") || v[i] == UInt8(ascii: "-"),
                    (1...4).allSatisfy({ isDigit(i + $0) })
                else { return nil }
                let minutes = (digit(i + 1) * 10 + digit(i + 2)) * 60 + digit(i + 3) * 10 + digit(i + 4)
                offset = (v[i] == UInt8(ascii: "-") ? -1 : 1) * minutes * 60
                i += 5
            case .zoneName:
                var n = 0
                while i + n < v.count, v[i + n] >= UInt8(ascii: "A"), v[i + n] <= UInt8(ascii: "Z") { n += 1 }
                if v[i...].starts(with: Array("UTC".utf8)) { n = 3 }
                guard n >= 3, n <= 5, n != 5 || v[i + 4] == UInt8(ascii: "T") else { return nil }
                zone = String(decoding: v[i..<i + n], as: UTF8.self)
                i += n
            }
            k += 1
        }
        guard i == v.count else { return nil }
        guard day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        let wall = GoTime(year: Int64(year), month: month, day: day, hour: hour, minute: minute, second: second, utcOffset: 0).seconds
        let seconds: Int64
        if let offset {
            seconds = wall - Int64(offset)
        } else if let zone {
            seconds = wall - Int64(zone == "UTC" ? 0 : localOffset(named: zone, wall: wall) ?? 0)
        } else {
            seconds = wall - Int64(localOffset(wall: wall))
        }
        return GoTime(seconds: seconds, nanoseconds: Int32(nanos), utcOffset: GoTime.localOffset(at: seconds))
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// The local offset in effect at a wall-clock time (Go's `Date` in `time.Local`).
    static func localOffset(wall: Int64) -> Int32 {
        let guess = GoTime.localOffset(at: wall)
        return GoTime.localOffset(at: wall - Int64(guess))
    }

    /// The offset of the local zone abbreviation `name` around `wall`, if the local zone has one.
    static func localOffset(named name: String, wall: Int64) -> Int32? {
        for probe in [wall, wall - 182 * 86400, wall + 182 * 86400] {
            var t = time_t(probe)
            var tmValue = tm()
            guard localtime_r(&t, &tmValue) != nil, let abbreviation = tmValue.tm_zone else { continue }
            if String(cString: abbreviation) == name { return Int32(tmValue.tm_gmtoff) }
        }
        return nil
    }
}
