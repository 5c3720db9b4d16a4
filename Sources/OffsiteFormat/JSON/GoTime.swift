import Foundation

/// A wall-clock instant with nanosecond precision and the UTC offset it was recorded in,
/// formatted exactly as Go's `time.Time` marshals to JSON (RFC 3339, trailing zeros of the
/// fraction removed, `Z` for offset 0).
///
/// `Date` is a Double and loses nanoseconds, so times are kept as integers.
public struct GoTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var seconds: Int64
    /// 0 ..< 1_000_000_000.
    public var nanoseconds: Int32
    /// Seconds east of UTC of the recorded local time.
    public var utcOffset: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0, utcOffset: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
        self.utcOffset = utcOffset
    }

    /// The current time in this machine's local offset.
    public static func now() -> GoTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return GoTime(seconds: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec), utcOffset: localOffset(at: Int64(ts.tv_sec)))
    }

    /// The local UTC offset (from TZ / /etc/localtime) at a given instant.
    public static func localOffset(at seconds: Int64) -> Int32 {
        var t = time_t(seconds)
        var tmValue = tm()
        guard localtime_r(&t, &tmValue) != nil else { return 0 }
        return Int32(tmValue.tm_gmtoff)
    }

    /// The same instant expressed in the local offset.
    public var inLocalOffset: GoTime {
        GoTime(seconds: seconds, nanoseconds: nanoseconds, utcOffset: Self.localOffset(at: seconds))
    }

    public static func < (a: GoTime, b: GoTime) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }

    /// Same instant (offsets may differ).
    public func sameInstant(as other: GoTime) -> Bool {
        seconds == other.seconds && nanoseconds == other.nanoseconds
    }

    // MARK: Civil time

    /// (year, month, day, hour, minute, second) of the local wall clock.
    public var civil: (year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let local = seconds + Int64(utcOffset)
        var days = local / 86400
        var rem = local % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        let (y, m, d) = Self.civilFromDays(days)
        return (y, m, d, Int(rem / 3600), Int(rem % 3600 / 60), Int(rem % 60))
    }

    // Howard Hinnant's days-from-civil algorithms.
    static func civilFromDays(_ z0: Int64) -> (Int64, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, Int(m), Int(d))
    }

    static func daysFromCivil(_ y0: Int64, _ m: Int, _ d: Int) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mm = Int64(m)
        let doy = (153 * (mm > 2 ? mm - 3 : mm + 9) + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// Builds a time from a local wall clock and its offset.
    public init(year: Int64, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanoseconds: Int32 = 0, utcOffset: Int32) {
        let days = Self.daysFromCivil(year, month, day)
        let local = days * 86400 + Int64(hour * 3600 + minute * 60 + second)
        self.init(seconds: local - Int64(utcOffset), nanoseconds: nanoseconds, utcOffset: utcOffset)
    }

    // MARK: Formatting

    /// Go's `time.RFC3339Nano` layout, as `json.Marshal` writes it.
    public var rfc3339: String { String(decoding: rfc3339Bytes, as: UTF8.self) }

    /// `rfc3339` as UTF-8 bytes, written without intermediate strings (trees hold three
    /// times per node, so this is on the backup's hot path).
    public var rfc3339Bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(36)
        func digits(_ v: Int, _ width: Int) {
            var buf: [UInt8] = []
            var x = v
            repeat {
                buf.append(UInt8(48 + x % 10))
                x /= 10
            } while x > 0
            for _ in buf.count..<max(width, buf.count) { out.append(48) }
            out += buf.reversed()
        }
        let c = civil
        digits(Int(c.year), 4)
        out.append(UInt8(ascii: "-"))
        digits(c.month, 2)
        out.append(UInt8(ascii: "-"))
        digits(c.day, 2)
        out.append(UInt8(ascii: "T"))
        digits(c.hour, 2)
        out.append(UInt8(ascii: ":"))
        digits(c.minute, 2)
        out.append(UInt8(ascii: ":"))
        digits(c.second, 2)
        if nanoseconds != 0 {
            var ns = Int(nanoseconds)
            var width = 9
            while ns % 10 == 0 {
                ns /= 10
                width -= 1
            }
            out.append(UInt8(ascii: "."))
            digits(ns, width)
        }
        if utcOffset == 0 {
            out.append(UInt8(ascii: "Z"))
        } else {
            let off = abs(Int(utcOffset)) / 60
            out.append(utcOffset < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            digits(off / 60, 2)
            out.append(UInt8(ascii: ":"))
            digits(off % 60, 2)
        }
        return out
    }

    /// restic's human format for tables: "2006-01-02 15:04:05" in local wall time.
    public var displayString: String {
        let c = civil
        return pad(c.year, 4) + "-" + pad(c.month, 2) + "-" + pad(c.day, 2) + " " + pad(c.hour, 2) + ":" + pad(c.minute, 2) + ":"
            + pad(c.second, 2)
    }

    public var description: String { rfc3339 }

    private func pad<I: BinaryInteger>(_ v: I, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    // MARK: Parsing

    /// Parses RFC 3339 as Go's `time.Time.UnmarshalJSON` accepts it: `YYYY-MM-DDTHH:MM:SS`,
    /// an optional fraction of 1–9 digits, then `Z` or `±hh:mm`. Returns nil otherwise.
    public init?(rfc3339 text: some StringProtocol) {
        self.init(rfc3339Bytes: Array(text.utf8))
    }

    /// Parses RFC 3339 from UTF-8 bytes (see `init(rfc3339:)`).
    public init?(rfc3339Bytes b: [UInt8]) {
        var i = 0
        func num(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            i += n
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard i < b.count, b[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = num(4), expect("-"), let month = num(2), expect("-"), let day = num(2) else { return nil }
        guard i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") else { return nil }
        i += 1
        guard let hour = num(2), expect(":"), let minute = num(2), expect(":"), let second = num(2) else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60 else { return nil }
        var nanos = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 9 { nanos = nanos * 10 + Int(b[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 9)..<9 { nanos *= 10 }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let negative = b[i] == UInt8(ascii: "-")
            i += 1
            guard let oh = num(2), expect(":"), let om = num(2), oh < 24, om < 60 else { return nil }
            offset = (oh * 3600 + om * 60) * (negative ? -1 : 1)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        self.init(
            year: Int64(year), month: month, day: day, hour: hour, minute: minute, second: second,
            nanoseconds: Int32(nanos), utcOffset: Int32(offset))
    }
}

extension GoTime: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let t = GoTime(rfc3339: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "invalid time \"\(s)\"")
        }
        self = t
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rfc3339)
    }
}
