public import OffsiteFormat

/// restic 0.14's retention policy (`restic forget --keep-*`, `ExpirePolicy`): which snapshots
/// of one group to keep, and why. A pure function of the snapshots, the current time and the
/// local time zone; grouping and removing are `Forget`'s job.
///
/// The rules (docs/FORMAT.md §9.1), applied to the snapshots sorted newest first (a stable sort: equal
/// times keep the order they were given in):
/// - `keepTags`: keep a snapshot that has every tag of one of the lists (an empty tag in a list
///   matches a snapshot without tags). Uses no counter.
/// - `within`: keep a snapshot whose time is strictly after `latest - within`, where `latest` is
///   the newest snapshot time that is not in the future (before `now`), never `now` itself.
/// - `last`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`: each rule has a counter; a
///   snapshot whose bucket (its position for `last`; the hour, day, ISO week, month or year of
///   its recorded wall clock otherwise) differs from the bucket this rule kept last is kept
///   while the counter is above zero, and uses one count. So each rule keeps the newest
///   snapshot of each of its `n` newest buckets. One snapshot can use a count of several rules.
/// - `withinHourly` … `withinYearly`: among the snapshots strictly after `latest - D`, keep the
///   newest of each bucket, without a counter.
///
/// Buckets come from each snapshot's wall clock in the UTC offset recorded in its JSON. The
/// `within` cut-offs subtract years, months and days on `latest`'s wall clock in its location
/// (see `GoCalendar.subtract`), then the hours.
///
/// `unlimited` (-1) for a count is offsite's extension (restic 0.16's `unlimited`): the rule
/// keeps the newest snapshot of every bucket. restic 0.14 refuses the word and treats -1 like 0.
public struct ForgetPolicy: Sendable, Equatable {
    /// A count that never runs out.
    public static let unlimited = -1

    public var last = 0
    public var hourly = 0
    public var daily = 0
    public var weekly = 0
    public var monthly = 0
    public var yearly = 0
    public var within = RetentionDuration()
    public var withinHourly = RetentionDuration()
    public var withinDaily = RetentionDuration()
    public var withinWeekly = RetentionDuration()
    public var withinMonthly = RetentionDuration()
    public var withinYearly = RetentionDuration()
    /// Tag lists (`--keep-tag a,b` is `["a", "b"]`: both tags).
    public var keepTags: [[String]] = []

    public init() {}

    /// The counters after a kept snapshot was evaluated (restic's `KeepReason.Counters`).
    public struct Counters: Sendable, Equatable {
        public var last = 0
        public var hourly = 0
        public var daily = 0
        public var weekly = 0
        public var monthly = 0
        public var yearly = 0

        public init(last: Int = 0, hourly: Int = 0, daily: Int = 0, weekly: Int = 0, monthly: Int = 0, yearly: Int = 0) {
            self.last = last
            self.hourly = hourly
            self.daily = daily
            self.weekly = weekly
            self.monthly = monthly
            self.yearly = yearly
        }
    }

    /// A kept snapshot and restic's reasons for keeping it.
    public struct Kept: Sendable {
        public var id: ID
        public var snapshot: Snapshot
        /// restic's words: "last snapshot", "daily snapshot", "within 2d", "has tags [a, b]",
        /// "daily within 1m", … in the order restic adds them.
        public var matches: [String]
        public var counters: Counters
    }

    /// What the policy decided for one group. Both lists are newest first.
    public struct Decision: Sendable {
        public var keep: [Kept] = []
        public var remove: [(id: ID, snapshot: Snapshot)] = []
    }

    /// True when no rule is set: restic then keeps everything ("policy is empty").
    public var isEmpty: Bool {
        keepTags.isEmpty && last == 0 && hourly == 0 && daily == 0 && weekly == 0 && monthly == 0 && yearly == 0
            && within.isZero && withinHourly.isZero && withinDaily.isZero && withinWeekly.isZero && withinMonthly.isZero
            && withinYearly.isZero
    }

    /// Applies the policy to one group of snapshots.
    ///
    /// - Parameters:
    ///   - snapshots: the group, in any order; snapshots with equal times are considered in the
    ///     order given (restic's order there depends on the order its workers loaded them).
    ///   - now: snapshots at or after `now` are in the future and never count as `latest`.
    ///   - zone: the local time zone restic would run in (see `LocalZone`).
    public func apply(to snapshots: [(id: ID, snapshot: Snapshot)], now: GoTime, zone: LocalZone = .system) -> Decision {
        let list = snapshots.enumerated().sorted { a, b in
            a.element.snapshot.time.sameInstant(as: b.element.snapshot.time)
                ? a.offset < b.offset : b.element.snapshot.time < a.element.snapshot.time
        }.map(\.element)
        var decision = Decision()
        if isEmpty {
            decision.keep = list.map { Kept(id: $0.id, snapshot: $0.snapshot, matches: ["policy is empty"], counters: Counters()) }
            return decision
        }
        guard !list.isEmpty else { return decision }

        struct Counted {
            var count: Int
            var bucket: (GoTime, Int) -> Int
            var last = -1
            var reason: String
        }
        var counted = [
            Counted(count: last, bucket: { _, nr in nr }, reason: "last snapshot"),
            Counted(count: hourly, bucket: { t, _ in GoCalendar.hourBucket(t) }, reason: "hourly snapshot"),
            Counted(count: daily, bucket: { t, _ in GoCalendar.dayBucket(t) }, reason: "daily snapshot"),
            Counted(count: weekly, bucket: { t, _ in GoCalendar.weekBucket(t) }, reason: "weekly snapshot"),
            Counted(count: monthly, bucket: { t, _ in GoCalendar.monthBucket(t) }, reason: "monthly snapshot"),
            Counted(count: yearly, bucket: { t, _ in GoCalendar.yearBucket(t) }, reason: "yearly snapshot"),
        ]
        struct Windowed {
            var within: RetentionDuration
            var bucket: (GoTime) -> Int
            var last = -1
            var reason: String
        }
        var windowed = [
            Windowed(within: withinHourly, bucket: GoCalendar.hourBucket, reason: "hourly within"),
            Windowed(within: withinDaily, bucket: GoCalendar.dayBucket, reason: "daily within"),
            Windowed(within: withinWeekly, bucket: GoCalendar.weekBucket, reason: "weekly within"),
            Windowed(within: withinMonthly, bucket: GoCalendar.monthBucket, reason: "monthly within"),
            Windowed(within: withinYearly, bucket: GoCalendar.yearBucket, reason: "yearly within"),
        ]

        let latest = Self.latest(list.map(\.snapshot.time), now: now)
        for (nr, item) in list.enumerated() {
            let time = item.snapshot.time
            var matches: [String] = []
            for tags in keepTags where Self.hasTags(item.snapshot.tags, tags) {
                matches.append("has tags " + Self.tagListString(tags))
            }
            if !within.isZero, latest.cutoff(within, zone) < time {
                matches.append("within \(within)")
            }
            for i in counted.indices where counted[i].count > 0 || counted[i].count == Self.unlimited {
                let value = counted[i].bucket(time, nr)
                if value != counted[i].last {
                    counted[i].last = value
                    if counted[i].count > 0 { counted[i].count -= 1 }
                    matches.append(counted[i].reason)
                }
            }
            for i in windowed.indices where !windowed[i].within.isZero {
                guard latest.cutoff(windowed[i].within, zone) < time else { continue }
                let value = windowed[i].bucket(time)
                if value != windowed[i].last {
                    windowed[i].last = value
                    matches.append("\(windowed[i].reason) \(windowed[i].within)")
                }
            }
            if matches.isEmpty {
                decision.remove.append(item)
            } else {
                let counters = Counters(
                    last: counted[0].count, hourly: counted[1].count, daily: counted[2].count, weekly: counted[3].count,
                    monthly: counted[4].count, yearly: counted[5].count)
                decision.keep.append(Kept(id: item.id, snapshot: item.snapshot, matches: matches, counters: counters))
            }
        }
        return decision
    }

    /// The newest time before `now` (restic's `findLatestTimestamp`); Go's zero time (year 1,
    /// UTC) when every snapshot is in the future.
    private static func latest(_ times: [GoTime], now: GoTime) -> Latest {
        var latest = GoTime(year: 1, month: 1, day: 1, hour: 0, minute: 0, second: 0, utcOffset: 0)
        for t in times where latest < t && t < now { latest = t }
        return Latest(time: latest)
    }

    private struct Latest {
        var time: GoTime
        func cutoff(_ d: RetentionDuration, _ zone: LocalZone) -> GoTime { GoCalendar.subtract(d, from: time, zone: zone) }
    }

    /// restic's `Snapshot.HasTags`: every tag of `list` is among `tags`, where an empty tag
    /// matches (at once) a snapshot without tags. Tags compare byte for byte.
    public static func hasTags(_ tags: [String], _ list: [String]) -> Bool {
        for tag in list {
            if tag.isEmpty && tags.isEmpty { return true }
            if !tags.contains(where: { $0.utf8.elementsEqual(tag.utf8) }) { return false }
        }
        return true
    }

    /// restic's `TagList.String()`: `[a, b]`.
    static func tagListString(_ list: [String]) -> String { "[" + list.joined(separator: ", ") + "]" }

    /// restic's description of the policy ("keep 3 daily, 2 weekly snapshots, …"), printed as
    /// "Applying Policy: …".
    public var description: String {
        var keeps: [String] = []
        for (count, name) in [
            (last, "latest"), (hourly, "hourly"), (daily, "daily"), (weekly, "weekly"), (monthly, "monthly"), (yearly, "yearly"),
        ] {
            if count > 0 {
                keeps.append("\(count) \(name)")
            } else if count == Self.unlimited {
                keeps.append("all \(name)")
            }
        }
        var keepWithin: [String] = []
        for (d, name) in [
            (withinHourly, "hourly"), (withinDaily, "daily"), (withinWeekly, "weekly"), (withinMonthly, "monthly"),
            (withinYearly, "yearly"),
        ] where !d.isZero {
            keepWithin.append("\(name) snapshots within \(d)")
        }
        var s = ""
        if !keeps.isEmpty { s = keeps.joined(separator: ", ") + " snapshots" }
        if !keepWithin.isEmpty {
            if !s.isEmpty { s += ", " }
            s += keepWithin.joined(separator: ", ")
        }
        if !keepTags.isEmpty {
            if !s.isEmpty { s += " and " }
            s += "all snapshots with tags [" + keepTags.map(Self.tagListString).joined(separator: " ") + "]"
        }
        if !within.isZero {
            if !s.isEmpty { s += " and " }
            s += "all snapshots within \(within) of the newest"
        }
        return "keep " + s
    }
}
