import Foundation
import OffsiteEngine
import OffsiteFormat
import Testing

/// The retention policy as a pure function, with results worked out by hand from restic 0.14's
/// rules (docs/FORMAT.md §9.1); `OffsiteInteropTests/ForgetTests` compares it with restic itself.
@Suite struct ForgetPolicyTests {
    static let tree = ID.hash(Data("tree".utf8))
    static let now = time("2026-01-01T00:00:00Z")

    static func time(_ text: String) -> GoTime { GoTime(rfc3339: text)! }

    static func snapshot(_ t: String, tags: [String] = [], host: String = "h", paths: [String] = ["/data"]) -> (id: ID, snapshot: Snapshot)
    {
        let s = Snapshot(time: time(t), tree: tree, paths: paths, hostname: host, tags: tags)
        return (ID.hash(Data((t + tags.joined() + host + paths.joined()).utf8)), s)
    }

    /// Daily snapshots at 12:00 UTC, 2024-01-01 (a Monday) … 2024-01-10, oldest first.
    static let tenDays = (1...10).map { snapshot(String(format: "2024-01-%02dT12:00:00Z", $0)) }

    /// The days of month (for the ten-day set) that `policy` keeps, newest first.
    static func keptDays(_ policy: ForgetPolicy, _ list: [(id: ID, snapshot: Snapshot)] = tenDays, now: GoTime = now) -> [Int] {
        policy.apply(to: list, now: now, zone: .utc).keep.map { $0.snapshot.time.civil.day }
    }

    @Test func formatSpecExamples() {
        var p = ForgetPolicy()
        p.daily = 3
        p.weekly = 2
        let d = p.apply(to: Self.tenDays, now: Self.now, zone: .utc)
        #expect(d.keep.map { $0.snapshot.time.civil.day } == [10, 9, 8, 7])
        #expect(d.remove.map { $0.snapshot.time.civil.day } == [6, 5, 4, 3, 2, 1])
        #expect(
            d.keep.map(\.matches) == [["daily snapshot", "weekly snapshot"], ["daily snapshot"], ["daily snapshot"], ["weekly snapshot"]])
        #expect(
            d.keep.map(\.counters) == [
                .init(daily: 2, weekly: 1), .init(daily: 1, weekly: 1), .init(weekly: 1), .init(),
            ])
        #expect(p.description == "keep 3 daily, 2 weekly snapshots")

        p = ForgetPolicy()
        p.weekly = 3
        #expect(Self.keptDays(p) == [10, 7])  // 0.14 has no "keep the oldest" rule.

        p = ForgetPolicy()
        p.last = 2
        p.monthly = 1
        let last = p.apply(to: Self.tenDays, now: Self.now, zone: .utc)
        #expect(last.keep.map(\.matches) == [["last snapshot", "monthly snapshot"], ["last snapshot"]])

        p = ForgetPolicy()
        p.within = RetentionDuration(days: 2)
        #expect(Self.keptDays(p) == [10, 9])  // Jan 8 12:00 is not strictly after the cut-off.
        #expect(p.apply(to: Self.tenDays, now: Self.now, zone: .utc).keep[0].matches == ["within 2d"])
    }

    @Test func emptyPolicyKeepsEverything() {
        let p = ForgetPolicy()
        #expect(p.isEmpty)
        let d = p.apply(to: Self.tenDays, now: Self.now)
        #expect(d.keep.count == 10 && d.remove.isEmpty)
        #expect(d.keep.allSatisfy { $0.matches == ["policy is empty"] })
        #expect(Forget.plan(Self.tenDays, policy: p, grouping: .hostAndPaths, now: Self.now).isEmpty)
    }

    @Test func unlimitedKeepsTheNewestOfEveryBucket() {
        var p = ForgetPolicy()
        p.monthly = ForgetPolicy.unlimited
        let list = Self.tenDays + [Self.snapshot("2023-12-31T12:00:00Z"), Self.snapshot("2023-11-05T12:00:00Z")]
        let d = p.apply(to: list, now: Self.now, zone: .utc)
        #expect(d.keep.map { $0.snapshot.time.rfc3339 } == ["2024-01-10T12:00:00Z", "2023-12-31T12:00:00Z", "2023-11-05T12:00:00Z"])
        #expect(d.keep.allSatisfy { $0.counters.monthly == -1 })
        #expect(p.description == "keep all monthly snapshots")
    }

    @Test func bucketsUseTheRecordedOffset() {
        // 04:30Z and 00:00Z on Jan 2, but recorded on Jan 1 (New York) and Jan 2 (Berlin).
        let a = Self.snapshot("2024-01-01T23:30:00-05:00")
        let b = Self.snapshot("2024-01-02T01:00:00+01:00")
        var p = ForgetPolicy()
        p.daily = 2
        #expect(p.apply(to: [b, a], now: Self.now, zone: .utc).keep.map(\.id) == [a.id, b.id])
    }

    @Test func isoWeeksAcrossTheYearEnd() {
        var p = ForgetPolicy()
        p.weekly = 5
        // Thu 2020-12-31 and Sun 2021-01-03 are both in 2020-W53; Mon 2021-01-04 starts 2021-W01.
        let list = ["2020-12-31T10:00:00Z", "2021-01-03T10:00:00Z", "2021-01-04T10:00:00Z"].map { Self.snapshot($0) }
        #expect(p.apply(to: list, now: Self.now, zone: .utc).keep.map(\.id) == [list[2].id, list[1].id])
        // Sun 2024-12-29 is 2024-W52; Mon 2024-12-30 and Sun 2025-01-05 are 2025-W01.
        let list2 = ["2024-12-29T10:00:00Z", "2024-12-30T10:00:00Z", "2025-01-05T10:00:00Z"].map { Self.snapshot($0) }
        #expect(p.apply(to: list2, now: Self.now, zone: .utc).keep.map(\.id) == [list2[2].id, list2[0].id])
    }

    @Test func equalTimesKeepTheOrderGiven() {
        let a = Self.snapshot("2024-05-05T05:05:05Z", tags: ["a"])
        let b = Self.snapshot("2024-05-05T05:05:05Z", tags: ["b"])
        // The same instant recorded in another offset is an equal time too.
        let c = Self.snapshot("2024-05-05T07:05:05+02:00", tags: ["c"])
        var p = ForgetPolicy()
        p.last = 1
        #expect(p.apply(to: [a, b, c], now: Self.now).keep.map(\.id) == [a.id])
        #expect(p.apply(to: [b, a, c], now: Self.now).keep.map(\.id) == [b.id])
        #expect(p.apply(to: [c, b, a], now: Self.now).keep.map(\.id) == [c.id])
    }

    @Test func withinSubtractsCalendarMonthsAsGoDoes() {
        var p = ForgetPolicy()
        p.within = RetentionDuration(months: 1)
        // March 31 minus one month is "February 31" = March 3 (2023) or March 2 (2024).
        let l2023 = ["2023-03-31T12:00:00Z", "2023-03-03T12:00:01Z", "2023-03-03T12:00:00Z"].map { Self.snapshot($0) }
        #expect(p.apply(to: l2023, now: Self.now).keep.map(\.id) == [l2023[0].id, l2023[1].id])
        let l2024 = ["2024-03-31T12:00:00Z", "2024-03-02T12:00:01Z", "2024-03-02T12:00:00Z"].map { Self.snapshot($0) }
        #expect(p.apply(to: l2024, now: Self.now).keep.map(\.id) == [l2024[0].id, l2024[1].id])
        // Years, months and days first, then the hours as a plain duration.
        p.within = RetentionDuration(years: 1, days: 1, hours: 25)
        let leap = ["2024-02-29T12:00:00Z", "2023-02-27T11:00:01Z", "2023-02-27T11:00:00Z"].map { Self.snapshot($0) }
        #expect(p.apply(to: leap, now: Self.now).keep.map(\.id) == [leap[0].id, leap[1].id])
    }

    @Test func withinFollowsTheLocalZoneAcrossDaylightSaving() throws {
        let berlin = try #require(LocalZone.named("Europe/Berlin"))
        var p = ForgetPolicy()
        p.within = RetentionDuration(days: 2)
        // The newest is in Berlin's summer offset, so Go parses it into time.Local: two days
        // back is 12:00 winter time (11:00Z); in a fixed +02:00 zone it would be 10:00Z.
        let list = ["2024-04-01T12:00:00+02:00", "2024-03-30T11:30:00+01:00", "2024-03-30T12:30:00+01:00"].map { Self.snapshot($0) }
        #expect(p.apply(to: list, now: Self.now, zone: berlin).keep.map(\.id) == [list[0].id, list[2].id])
        #expect(p.apply(to: list, now: Self.now, zone: .utc).keep.map(\.id) == [list[0].id, list[2].id, list[1].id])
        // A wall clock in the spring-forward gap (02:30 on 2024-03-31) resolves as Go's
        // time.Date does: 03:30 summer time, 01:30Z.
        p.within = RetentionDuration(days: 1)
        let gap = ["2024-04-01T02:30:00+02:00", "2024-03-31T03:29:00+02:00", "2024-03-31T03:31:00+02:00"].map { Self.snapshot($0) }
        #expect(p.apply(to: gap, now: Self.now, zone: berlin).keep.map(\.id) == [gap[0].id, gap[2].id])
        // "Z" times are UTC for Go even where the local offset is 0 (London in winter): two days
        // before 2024-10-28 12:00Z is 12:00Z, not 12:00 summer time (11:00Z).
        let london = try #require(LocalZone.named("Europe/London"))
        p.within = RetentionDuration(days: 2)
        let z = ["2024-10-28T12:00:00Z", "2024-10-26T11:30:00Z", "2024-10-26T12:00:01Z"].map { Self.snapshot($0) }
        #expect(p.apply(to: z, now: Self.now, zone: london).keep.map(\.id) == [z[0].id, z[2].id])
    }

    @Test func latestIgnoresSnapshotsInTheFuture() {
        var p = ForgetPolicy()
        p.within = RetentionDuration(days: 1)
        let now = Self.time("2024-01-05T00:00:00Z")
        // Newest in the past: Jan 4 12:00, so the cut-off is Jan 3 12:00; future ones are after it.
        #expect(Self.keptDays(p, now: now) == [10, 9, 8, 7, 6, 5, 4])
        // All in the future: Go's zero time is the newest, everything is after its cut-off.
        #expect(Self.keptDays(p, now: Self.time("2023-01-01T00:00:00Z")).count == 10)
        p = ForgetPolicy()
        p.withinDaily = RetentionDuration(days: 3)
        let d = p.apply(to: Self.tenDays, now: now, zone: .utc)
        #expect(d.keep.count == 9 && d.keep[0].matches == ["daily within 3d"])
    }

    @Test func withinBucketsKeepTheNewestPerBucket() {
        var p = ForgetPolicy()
        p.withinWeekly = RetentionDuration(days: 9)
        p.withinHourly = RetentionDuration(hours: 30)
        let list = Self.tenDays + [Self.snapshot("2024-01-10T12:30:00Z"), Self.snapshot("2024-01-09T13:00:00Z")]
        let d = p.apply(to: list, now: Self.now, zone: .utc)
        #expect(
            d.keep.map { $0.snapshot.time.rfc3339 } == [
                "2024-01-10T12:30:00Z", "2024-01-09T13:00:00Z", "2024-01-09T12:00:00Z", "2024-01-07T12:00:00Z",
            ])
        #expect(d.keep[0].matches == ["hourly within 30h", "weekly within 9d"])
        #expect(d.keep[3].matches == ["weekly within 9d"])
        #expect(p.description == "keep hourly snapshots within 30h, weekly snapshots within 9d")
    }

    @Test func keepTagRules() {
        #expect(ForgetPolicy.hasTags(["a", "b"], ["a", "b"]))
        #expect(!ForgetPolicy.hasTags(["a"], ["a", "b"]))
        #expect(ForgetPolicy.hasTags([], [""]))
        #expect(!ForgetPolicy.hasTags(["a"], [""]))
        #expect(ForgetPolicy.hasTags([], ["", "a"]))  // restic's loop stops at the empty tag
        #expect(!ForgetPolicy.hasTags([], ["a", ""]))
        #expect(!ForgetPolicy.hasTags(["a"], ["a", ""]))
        var p = ForgetPolicy()
        p.keepTags = [["a", "b"], ["c"], [""]]
        p.within = RetentionDuration(days: 2)
        p.monthly = 3
        let list = [
            Self.snapshot("2024-01-01T00:00:00Z", tags: ["b", "a"]), Self.snapshot("2023-06-01T00:00:00Z", tags: ["a"]),
            Self.snapshot("2023-05-01T00:00:00Z", tags: ["c", "x"]), Self.snapshot("2023-04-01T00:00:00Z"),
            Self.snapshot("2023-03-01T00:00:00Z", tags: ["x"]),
        ]
        let d = p.apply(to: list, now: Self.now, zone: .utc)
        #expect(
            d.keep.map(\.matches) == [
                ["has tags [a, b]", "within 2d", "monthly snapshot"], ["monthly snapshot"], ["has tags [c]", "monthly snapshot"],
                ["has tags []"],
            ])
        #expect(d.remove.map(\.id) == [list[4].id])
        #expect(
            p.description
                == "keep 3 monthly snapshots and all snapshots with tags [[a, b] [c] []] and all snapshots within 2d of the newest")
    }

    @Test(arguments: [
        ("1y5m7d2h", RetentionDuration(years: 1, months: 5, days: 7, hours: 2), "1y5m7d2h"),
        (" 2d ", RetentionDuration(days: 2), "2d"),
        ("", RetentionDuration(), ""),
        ("1d2d", RetentionDuration(days: 2), "2d"),
        ("-1y3m", RetentionDuration(years: -1, months: 3), "-1y3m"),
        ("0y0d", RetentionDuration(), ""),
    ])
    func durationParsing(text: String, expected: RetentionDuration, description: String) throws {
        let d = try RetentionDuration(parsing: text)
        #expect(d == expected)
        #expect(d.description == description)
    }

    @Test(arguments: [
        ("5", "no unit found after number 5"), ("5x", "invalid unit 'x' found after number 5"), ("-", "no number found"),
        ("d", "no number found"), ("1y 2d", "no number found"), ("-3", "no unit found after number -3"),
    ])
    func durationErrors(text: String, message: String) {
        #expect(throws: EngineError.self) { try RetentionDuration(parsing: text) }
        do {
            _ = try RetentionDuration(parsing: text)
        } catch let e as EngineError {
            #expect(e.message == message)
        } catch {}
    }

    @Test func grouping() throws {
        #expect(try SnapshotGrouping(parsing: "host,paths") == .hostAndPaths)
        #expect(try SnapshotGrouping(parsing: "") == SnapshotGrouping())
        #expect(try SnapshotGrouping(parsing: "tag,,hosts") == SnapshotGrouping(byHost: true, byTags: true))
        #expect(throws: EngineError.self) { try SnapshotGrouping(parsing: "host,foo") }

        let list = [
            Self.snapshot("2024-01-01T00:00:00Z", tags: ["z", "a"], host: "h2", paths: ["/b", "/a"]),
            Self.snapshot("2024-01-02T00:00:00Z", host: "h1", paths: ["/a", "/b"]),
            Self.snapshot("2024-01-03T00:00:00Z", tags: ["a", "z"], host: "h2", paths: ["/a", "/b"]),
        ]
        let byHostPaths = SnapshotGrouping.hostAndPaths.group(list)
        #expect(
            byHostPaths.map { String(decoding: $0.key.json, as: UTF8.self) } == [
                #"{"hostname":"h1","paths":["/a","/b"],"tags":null}"#, #"{"hostname":"h2","paths":["/a","/b"],"tags":null}"#,
            ])
        #expect(byHostPaths[1].snapshots.map(\.id) == [list[0].id, list[2].id])
        #expect(byHostPaths[1].snapshots[0].snapshot.paths == ["/a", "/b"])
        #expect(byHostPaths[1].snapshots[0].snapshot.tags == ["z", "a"])  // sorted only when grouping by tags
        let byTags = SnapshotGrouping(byTags: true).group(list)
        #expect(byTags.map(\.key.tags) == [["a", "z"], nil])
        #expect(byTags[0].snapshots[0].snapshot.tags == ["a", "z"])
        #expect(SnapshotGrouping().group(list).count == 1)
    }

    @Test func planRemovalsAreUniqueAndSorted() {
        var p = ForgetPolicy()
        p.last = 1
        let other = (1...3).map { Self.snapshot(String(format: "2024-02-%02dT12:00:00Z", $0), host: "other") }
        let plan = Forget.plan(Self.tenDays + other, policy: p, grouping: .hostAndPaths, now: Self.now)
        #expect(plan.count == 2)
        let removals = Forget.removals(plan)
        #expect(removals.count == 11 && removals == removals.sorted())
    }
}
