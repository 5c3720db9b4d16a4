import Foundation
import OffsiteEngine
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Go's `time.Time.String()`: "2006-01-02 15:04:05.999999999 -0700 MST".
func goTimeString(_ t: GoTime) -> String {
    var s = t.displayString
    if t.nanoseconds != 0 {
        var frac = String(t.nanoseconds)
        frac = String(repeating: "0", count: 9 - frac.count) + frac
        while frac.hasSuffix("0") { frac.removeLast() }
        s += "." + frac
    }
    let off = Int(t.utcOffset)
    let sign = off < 0 ? "-" : "+"
    let a = abs(off) / 60
    let hhmm = sign + String(format: "%02d%02d", a / 60, a % 60)
    return s + " " + hhmm + " " + goZoneName(t, numeric: hhmm)
}

/// The zone Go names for a time parsed from RFC 3339: `UTC` for `Z`; the local zone's
/// abbreviation (`CET`, `IST`) when the offset is the local one at that instant (Go then puts
/// the time in `time.Local`); otherwise none, and Go prints the offset again.
private func goZoneName(_ t: GoTime, numeric: String) -> String {
    if t.utcOffset == 0 { return "UTC" }
    var clock = time_t(t.seconds)
    var local = tm()
    guard localtime_r(&clock, &local) != nil, local.tm_gmtoff == Int(t.utcOffset), let name = local.tm_zone else { return numeric }
    let abbreviation = String(cString: name)
    return abbreviation.isEmpty ? numeric : abbreviation
}

/// Splits restic's `ID[:subpath]` snapshot reference.
func splitSnapshotRef(_ ref: String) -> (String, String?) {
    guard let colon = ref.firstIndex(of: ":") else { return (ref, nil) }
    return (String(ref[..<colon]), String(ref[ref.index(after: colon)...]))
}
