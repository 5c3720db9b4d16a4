import OffsiteEngine
import OffsiteFormat

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
    let zone = off == 0 ? "UTC" : hhmm
    return s + " " + hhmm + " " + zone
}

/// Splits restic's `ID[:subpath]` snapshot reference.
func splitSnapshotRef(_ ref: String) -> (String, String?) {
    guard let colon = ref.firstIndex(of: ":") else { return (ref, nil) }
    return (String(ref[..<colon]), String(ref[ref.index(after: colon)...]))
}
