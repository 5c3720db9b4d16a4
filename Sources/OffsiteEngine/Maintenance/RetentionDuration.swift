/// A calendar duration of years, months, days and hours, as restic's `--keep-within*` flags
/// take it (restic 0.14's `restic.Duration`): `1y5m7d2h`, `30d`, `2y`.
///
/// Parsing follows restic: whitespace around the text is ignored, each number (optionally
/// negative) must be followed by one of the units `y`, `m`, `d`, `h`, a unit given twice keeps
/// the last value, and the empty string is the zero duration (which turns the rule off).
/// The units are calendar units: `ForgetPolicy` subtracts them with Go's `AddDate` rules.
public struct RetentionDuration: Sendable, Hashable, CustomStringConvertible {
    public var years: Int
    public var months: Int
    public var days: Int
    public var hours: Int

    public init(years: Int = 0, months: Int = 0, days: Int = 0, hours: Int = 0) {
        self.years = years
        self.months = months
        self.days = days
        self.hours = hours
    }

    /// The largest magnitude offsite accepts for one component. restic takes any Go `int` and
    /// panics past it; a billion years is far beyond any retention and keeps the date
    /// arithmetic inside 64 bits.
    public static let maxComponent = 1_000_000_000

    /// Parses restic's duration syntax. Throws `EngineError(.invalidArgument)` with restic's
    /// message ("no number found", "no unit found after number 5",
    /// "invalid unit 'x' found after number 5").
    public init(parsing text: String) throws {
        self.init()
        var rest = Substring(text).drop { $0.isWhitespace }
        while let last = rest.last, last.isWhitespace { rest.removeLast() }
        var bytes = Array(rest.utf8)[...]
        while !bytes.isEmpty {
            let number = try Self.nextNumber(&bytes)
            guard let unit = bytes.first else {
                throw EngineError(.invalidArgument, "no unit found after number \(number)")
            }
            switch unit {
            case UInt8(ascii: "y"): years = number
            case UInt8(ascii: "m"): months = number
            case UInt8(ascii: "d"): days = number
            case UInt8(ascii: "h"): hours = number
            default:
                throw EngineError(.invalidArgument, "invalid unit \(Self.quoteByte(unit)) found after number \(number)")
            }
            bytes = bytes.dropFirst()
        }
    }

    /// restic's `nextNumber`: an optional `-`, then digits up to the first non-digit.
    private static func nextNumber(_ bytes: inout ArraySlice<UInt8>) throws -> Int {
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }
        let digits = bytes.prefix { $0 >= 0x30 && $0 <= 0x39 }
        guard !digits.isEmpty else {
            // restic accepts other Unicode digits here and then panics converting them.
            if let first = bytes.first, first >= 0x80, String(decoding: bytes, as: UTF8.self).first?.isNumber == true {
                throw EngineError(.invalidArgument, "only the digits 0-9 are allowed in a duration")
            }
            throw EngineError(.invalidArgument, "no number found")
        }
        bytes = bytes.dropFirst(digits.count)
        guard let value = Int(String(decoding: digits, as: UTF8.self)), value <= maxComponent else {
            throw EngineError(.invalidArgument, "number \(String(decoding: digits, as: UTF8.self)) is too large (at most \(maxComponent))")
        }
        return negative ? -value : value
    }

    /// Go's `%q` of a byte: a quoted character literal.
    private static func quoteByte(_ b: UInt8) -> String {
        switch b {
        case UInt8(ascii: "'"): return "'\\''"
        case UInt8(ascii: "\\"): return "'\\\\'"
        case 0x20..<0x7F: return "'" + String(UnicodeScalar(b)) + "'"
        case UInt8(ascii: "\t"): return "'\\t'"
        case UInt8(ascii: "\n"): return "'\\n'"
        case UInt8(ascii: "\r"): return "'\\r'"
        case 0..<0x20, 0x7F: return "'\\x" + (b < 16 ? "0" : "") + String(b, radix: 16) + "'"
        default: return "'" + String(UnicodeScalar(b)) + "'"
        }
    }

    /// True when every component is zero: the rule is off.
    public var isZero: Bool { years == 0 && months == 0 && days == 0 && hours == 0 }

    /// restic's `Duration.String()`: the non-zero components, e.g. `1y5m7d2h`, `-2d`.
    public var description: String {
        var s = ""
        if years != 0 { s += "\(years)y" }
        if months != 0 { s += "\(months)m" }
        if days != 0 { s += "\(days)d" }
        if hours != 0 { s += "\(hours)h" }
        return s
    }
}
