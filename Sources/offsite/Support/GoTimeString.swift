import Foundation
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Go's `time.Time.String()`: "2006-01-02 15:04:05.999999999 -0700 MST", then " m=+1.5" when
/// `monotonic` (nanoseconds since the process started) is given, as for a `time.Now()` value.
///
/// The zone name depends on where Go's time came from. `inLocalZone` is a time in `time.Local`
/// (`time.Now()`): its zone is the local one's abbreviation at that instant, even at offset 0
/// (`GMT` in London's winter). Otherwise it was parsed from RFC 3339: `UTC` at offset 0 (Go
/// writes a zero offset as `Z`); the local abbreviation when the offset is the local one at that
/// instant (Go's parser then puts the time in `time.Local`); else the offset again.
func goTimeString(_ t: GoTime, inLocalZone: Bool = false, monotonic: Int64? = nil) -> String {
    var s = t.displayString
    if t.nanoseconds != 0 {
        var fraction = String(format: "%09d", Int(t.nanoseconds))
        while fraction.hasSuffix("0") { fraction.removeLast() }
        s += "." + fraction
    }
    let offset = Int(t.utcOffset)
    let hhmm = String(format: "%@%02d%02d", offset < 0 ? "-" : "+", abs(offset) / 3600, abs(offset) % 3600 / 60)
    s += " " + hhmm + " "
    if !inLocalZone && offset == 0 {
        s += "UTC"
    } else if let name = localZoneAbbreviation(at: t.seconds, offset: offset) {
        s += name
    } else {
        // Go names a zone without an abbreviation by its offset in hours: "+03".
        s += inLocalZone ? String(format: "%@%02d", offset < 0 ? "-" : "+", abs(offset) / 3600) : hhmm
    }
    if let m = monotonic { s += String(format: " m=+%d.%09d", m / 1_000_000_000, m % 1_000_000_000) }
    return s
}

/// The local zone's abbreviation at `seconds`, when its offset then is `offset`.
private func localZoneAbbreviation(at seconds: Int64, offset: Int) -> String? {
    var clock = time_t(seconds)
    var local = tm()
    guard localtime_r(&clock, &local) != nil, local.tm_gmtoff == offset, let zone = local.tm_zone else { return nil }
    let name = String(cString: zone)
    return name.isEmpty ? nil : name
}

/// Nanoseconds since this process started: the monotonic reading Go prints for `time.Now()`.
func monotonicSinceProcessStart() -> Int64? {
    guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return nil }
    // Fields after "(comm)": state is field 3, starttime field 22 (clock ticks since boot).
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 19, let ticks = Int64(fields[19]) else { return nil }
    let hz = Int64(sysconf(Int32(_SC_CLK_TCK)))
    guard hz > 0 else { return nil }
    var now = timespec()
    clock_gettime(CLOCK_BOOTTIME, &now)
    let elapsed = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) - ticks * (1_000_000_000 / hz)
    return max(0, elapsed)
}
