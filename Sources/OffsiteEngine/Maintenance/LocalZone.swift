import Foundation
import OffsiteFormat

/// The machine's local time zone as Go's `time.Local` sees it, reduced to what retention needs:
/// the UTC offset in effect at an instant.
///
/// It matters because Go parses a snapshot time whose offset equals the local offset at that
/// instant into `time.Local` (otherwise into a fixed zone), and `AddDate` on a `time.Local`
/// value follows the zone's daylight-saving changes. So restic's `--keep-within*` cut-offs
/// depend on the zone of the machine running `forget` (see `ForgetPolicy`).
public struct LocalZone: Sendable {
    /// Seconds east of UTC in effect at an instant (seconds since 1970 UTC).
    public let offset: @Sendable (Int64) -> Int32

    public init(offset: @escaping @Sendable (Int64) -> Int32) {
        self.offset = offset
    }

    /// The zone of this process (`TZ`, else `/etc/localtime`), as the C library reports it.
    public static let system = LocalZone { GoTime.localOffset(at: $0) }

    /// UTC: no time is ever in the local zone except in UTC itself.
    public static let utc = LocalZone { _ in 0 }

    /// A zone from the tz database by name ("Europe/Berlin"), or nil when it is unknown.
    /// For tests, which cannot change the process's `TZ` without affecting others.
    public static func named(_ identifier: String) -> LocalZone? {
        guard let zone = TimeZone(identifier: identifier) else { return nil }
        return LocalZone { Int32(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double($0)))) }
    }
}
