import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteSync
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `forget` against restic 0.14: random snapshot sets (years of times, equal times, daylight
/// saving changes, times recorded in other offsets, several hosts, path sets and tags) under
/// random policies give the same keep/remove sets and reasons; the text and JSON output is
/// byte-identical; real removals leave repositories that restic lists and checks.
///
/// Both tools run in Europe/Berlin. restic loads snapshots with parallel workers, so the order
/// of snapshots with equal times (which decides which of them a rule keeps) is random unless it
/// uses one connection: the comparisons run restic with `-o local.connections=1` (the directory
/// listing order) and give the engine the snapshots in that same order.
@Suite struct ForgetTests {
    static let zoneName = "Europe/Berlin"
    static let zone = LocalZone.named(zoneName)!
    static let sets = 52
    static let randomPolicies = 10

    // MARK: Random snapshot sets

    /// SplitMix64: small, fast and reproducible.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
        mutating func int64(_ r: ClosedRange<Int64>) -> Int64 { r.lowerBound + Int64(next() % UInt64(r.upperBound - r.lowerBound + 1)) }
        mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) < p * 1_000_000 }
        mutating func pick<T>(_ a: [T]) -> T { a[int(0...(a.count - 1))] }
    }

    static func utc(_ text: String) -> Int64 { GoTime(rfc3339: text)!.seconds }

    /// Berlin's daylight-saving switches (01:00 UTC on the last Sundays of March and October).
    static let switches = [
        "2021-03-28", "2021-10-31", "2022-03-27", "2022-10-30", "2023-03-26", "2023-10-29", "2024-03-31", "2024-10-27",
        "2025-03-30", "2025-10-26", "2026-03-29", "2026-10-25",
    ].map { utc($0 + "T01:00:00Z") }

    /// A random `--keep-within*` duration: 1 to 4 of the units, sometimes in reverse order,
    /// rarely a negative month.
    static func randomDuration(_ rng: inout Random) -> String {
        var parts: [String] = []
        if rng.chance(0.25) { parts.append("\(rng.int(0...2))y") }
        if rng.chance(0.4) { parts.append("\(rng.chance(0.05) ? -1 : rng.int(0...14))m") }
        if rng.chance(0.6) { parts.append("\(rng.int(0...45))d") }
        if rng.chance(0.4) || parts.isEmpty { parts.append("\(rng.int(1...80))h") }
        if rng.chance(0.3) { parts.reverse() }
        return parts.joined()
    }

    /// A random snapshot set and the durations its policies should favour.
    struct SnapshotSet {
        var snapshots: [Snapshot]
        /// Durations with snapshots placed right around their cut-offs.
        var durations: [String]
    }

    /// One random set of snapshot documents. `ties` adds snapshots at the exact instant of
    /// another (sometimes recorded in another offset).
    ///
    /// Most snapshots belong to one main host and path set; the newest past one (the anchor,
    /// often right next to a daylight-saving switch) is among them. For a few durations D,
    /// snapshots are placed a second before and after `anchor - D` computed in the anchor's
    /// fixed offset and an hour either side of it: where the cut-off lands when Go moves the
    /// wall clock in time.Local across a switch.
    static func makeSnapshots(_ rng: inout Random, tree: ID, ties: Bool, now realNow: Int64) -> SnapshotSet {
        let start = utc("2021-01-01T00:00:00Z")
        // Past times end at a fixed date, so a seed gives the same set on every run; only the
        // snapshots in the future are placed relative to the clock.
        let now = min(realNow, utc("2026-11-01T00:00:00Z"))
        var anchor: Int64
        var durations: [String] = []
        switch rng.int(0...9) {
        case 0...3:
            // k days after a switch, at a time of day that k days back falls into the skipped
            // or repeated hour: Go's time.Date has to pick an offset there.
            let k = rng.int(1...6)
            anchor = rng.pick(switches.filter { $0 < now - 7 * 86400 }) + Int64(k) * 86400 + Int64(rng.int(-3...3)) * 1800
            durations += ["\(k)d", "\(k)d1h", "\(k - 1)d23h"]
        case 4...6: anchor = min(now - 3600, rng.pick(switches) + rng.int64(-4 * 86400...6 * 86400))
        default: anchor = rng.int64(utc("2022-06-01T00:00:00Z")...(now - 3600))
        }
        var instants: [(seconds: Int64, nanos: Int32, main: Bool)] = []
        let count = rng.int(15...35)
        for _ in 0..<count {
            var t: Int64
            switch rng.int(0...9) {
            case 0, 1: t = rng.int64(start...anchor)
            case 2, 3:
                let s = rng.pick(switches)
                t = s + (rng.chance(0.5) ? rng.int64(-4 * 3600...4 * 3600) : rng.int64(-3 * 86400...3 * 86400))
            case 4:
                // Around New Year and the first ISO weeks.
                let year = rng.int(2021...2026)
                t = utc("\(year)-12-26T00:00:00Z") + rng.int64(0...12 * 86400)
            case 5:
                // Around local midnight at the turn of a month.
                let c = GoTime(seconds: rng.int64(start...anchor)).civil
                t =
                    GoTime(year: c.year, month: c.month, day: 1, hour: 0, minute: 0, second: 0, utcOffset: 3600).seconds
                    + rng.int64(-3 * 3600...3 * 3600)
            default:
                // Dense history before the newest: where the within rules cut.
                t = anchor - rng.int64(0...(rng.chance(0.5) ? 3 * 86400 : 60 * 86400))
            }
            instants.append((min(t, anchor), rng.chance(0.3) ? Int32(rng.int(0...999_999_999)) : 0, rng.chance(0.5)))
        }
        let anchorOffset = rng.chance(0.8) ? zone.offset(anchor) : rng.pick([0, 3600, 7200, -18000])
        let anchorTime = GoTime(seconds: anchor, utcOffset: anchorOffset)
        for _ in 0..<4 { durations.append(randomDuration(&rng)) }
        for text in durations {
            guard let d = try? RetentionDuration(parsing: text), d.months >= 0 else { continue }
            let c = anchorTime.civil
            let month0 = c.month - 1 - d.months
            let carry = month0 >= 0 ? month0 / 12 : (month0 - 11) / 12
            let fixed =
                GoTime(
                    year: c.year - Int64(d.years) + Int64(carry), month: month0 - carry * 12 + 1, day: c.day - d.days, hour: c.hour,
                    minute: c.minute, second: c.second, utcOffset: anchorOffset
                ).seconds - Int64(d.hours) * 3600
            for base in [fixed - 3600, fixed, fixed + 3600] {
                for t in [base - 1, base + 1] + (rng.chance(0.3) ? [base] : []) where t < anchor {
                    instants.append((t, 0, true))
                }
            }
        }
        instants.append((anchor, 0, true))
        if rng.chance(0.3) {
            for _ in 0..<rng.int(1...3) { instants.append((realNow + rng.int64(2 * 86400...400 * 86400), 0, rng.chance(0.7))) }
        }
        if ties {
            for _ in 0..<max(2, count / 5) { instants.append(rng.pick(instants)) }
        } else {
            var seen: Set<[Int64]> = []
            instants = instants.filter { seen.insert([$0.seconds, Int64($0.nanos)]).inserted }
        }
        let hosts = ["h1", "h1", "h1", "h2", "h2", "h3", ""]
        let paths = [["/srv/a"], ["/srv/a"], ["/srv/b"], ["/srv/a", "/srv/b"], ["/srv/b", "/srv/a"]]
        let tags = [[], [], ["daily"], ["weekly"], ["daily", "manual"], ["manual", "daily"], ["x"]]
        let snapshots = instants.map { seconds, nanos, main in
            let local = zone.offset(seconds)
            var offset: Int32
            switch rng.int(0...19) {
            case 0...10: offset = local  // Go parses these into time.Local
            case 11...13: offset = 0
            case 14...16: offset = rng.pick([-25200, 19800, 32400, -36000, 50400, -43200, 3600 * 5 + 2700])
            default: offset = local == 3600 ? 7200 : 3600  // Berlin's other offset: a fixed zone for Go
            }
            if seconds == anchor && nanos == 0 && main { offset = anchorOffset }
            return Snapshot(
                time: GoTime(seconds: seconds, nanoseconds: nanos, utcOffset: offset), tree: tree,
                paths: main ? ["/srv/a"] : rng.pick(paths), hostname: main ? "h1" : rng.pick(hosts), username: "u",
                tags: rng.pick(tags))
        }
        return SnapshotSet(snapshots: snapshots, durations: durations)
    }

    /// A repository (cheap key derivation, so restic opens it fast) with one empty tree and the
    /// given snapshots. Returns the snapshots in the order of the directory listing.
    static func makeRepository(
        _ path: String, _ rng: inout Random, ties: Bool
    ) async throws -> (
        snapshots: [(id: ID, snapshot: Snapshot)], durations: [String]
    ) {
        let repo = try await Repository.initialize(
            backend: LocalBackend(path: path), password: password, options: TestRepository.cheapOptions)
        let (tree, _) = try await repo.withPackUploader { uploader in
            let json = Tree().json
            _ = try await uploader.save(.tree, json)
            return ID.hash(json)
        }
        var byID: [ID: Snapshot] = [:]
        let set = makeSnapshots(&rng, tree: tree, ties: ties, now: GoTime.now().seconds)
        for s in set.snapshots {
            byID[try await repo.saveJSON(.snapshots, s.json)] = s
        }
        return (listingOrder(path + "/snapshots").map { ($0, byID[$0]!) }, set.durations)
    }

    /// The snapshot files in `readdir` order: the order restic's local backend lists them.
    static func listingOrder(_ dir: String) -> [ID] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [ID] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if let id = ID(hex: name) { out.append(id) }
        }
        return out
    }

    // MARK: Policies

    /// One `forget` invocation, as restic flags and as engine values.
    struct Case: CustomStringConvertible {
        var args: [String] = []
        var policy = ForgetPolicy()
        var grouping = SnapshotGrouping.hostAndPaths
        var hosts: [String] = []
        var tags: [[String]] = []
        var paths: [String] = []
        var description: String { args.joined(separator: " ") }

        static var counts: [(String, String, WritableKeyPath<ForgetPolicy, Int>)] {
            [
                ("--keep-last", "-l", \.last), ("--keep-hourly", "-H", \.hourly), ("--keep-daily", "-d", \.daily),
                ("--keep-weekly", "-w", \.weekly), ("--keep-monthly", "-m", \.monthly), ("--keep-yearly", "-y", \.yearly),
            ]
        }
        static var withins: [(String, WritableKeyPath<ForgetPolicy, RetentionDuration>)] {
            [
                ("--keep-within", \.within), ("--keep-within-hourly", \.withinHourly), ("--keep-within-daily", \.withinDaily),
                ("--keep-within-weekly", \.withinWeekly), ("--keep-within-monthly", \.withinMonthly),
                ("--keep-within-yearly", \.withinYearly),
            ]
        }

        mutating func count(_ i: Int, _ rng: inout Random) {
            let n = rng.chance(0.1) ? rng.int(20...60) : rng.int(1...6)
            args += [rng.chance(0.5) ? Self.counts[i].0 : Self.counts[i].1, "\(n)"]
            policy[keyPath: Self.counts[i].2] = n
        }

        /// `durations`: the set's durations with snapshots around their cut-offs (preferred).
        mutating func within(_ i: Int, _ rng: inout Random, _ durations: [String]) {
            let text = !durations.isEmpty && rng.chance(0.7) ? rng.pick(durations) : ForgetTests.randomDuration(&rng)
            args += [Self.withins[i].0, text]
            policy[keyPath: Self.withins[i].1] = try! RetentionDuration(parsing: text)
        }

        mutating func keepTag(_ rng: inout Random) {
            let text = rng.pick(["daily", "manual,daily", "weekly", "", "x", "daily, manual", "nope"])
            args += ["--keep-tag", text]
            policy.keepTags.append(
                text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) })
        }

        mutating func groupBy(_ rng: inout Random) {
            let text = rng.pick(["", "host", "paths", "tags", "host,tags", "host,paths,tags", "tag", "hosts,path", "paths,tags"])
            args += [rng.chance(0.5) ? "--group-by" : "-g", text]
            grouping = try! SnapshotGrouping(parsing: text)
        }

        mutating func filter(_ rng: inout Random) {
            switch rng.int(0...3) {
            case 0:
                hosts = rng.chance(0.5) ? ["h1"] : ["h2", "h3"]
                for h in hosts { args += ["--host", h] }
            case 1:
                let t = rng.pick(["daily", "manual,daily", ""])
                tags = [t.split(separator: ",", omittingEmptySubsequences: false).map(String.init)]
                args += ["--tag", t]
            case 2:
                paths = ["/srv/b"]
                args += ["--path", "/srv/b"]
            default:
                hosts = ["h1"]
                paths = ["/srv/a"]
                args += ["--host", "h1", "--path", "/srv/a"]
            }
        }

        /// restic's filter (`HasHostname`, `HasTagList`, `HasPaths`).
        func matches(_ s: Snapshot) -> Bool {
            (hosts.isEmpty || hosts.contains(s.hostname)) && (tags.isEmpty || tags.contains { ForgetPolicy.hasTags(s.tags, $0) })
                && paths.allSatisfy(s.paths.contains)
        }
    }

    /// At least one case per flag, then random combinations.
    static func cases(_ rng: inout Random, durations: [String]) -> [Case] {
        var out: [Case] = []
        for i in 0..<6 {
            var c = Case()
            c.count(i, &rng)
            if rng.chance(0.5) { c.count(rng.int(0...5), &rng) }
            out.append(c)
        }
        for i in 0..<6 {
            var c = Case()
            c.within(i, &rng, durations)
            if rng.chance(0.3) { c.count(rng.int(0...5), &rng) }
            out.append(c)
        }
        var tagCase = Case()
        tagCase.keepTag(&rng)
        tagCase.keepTag(&rng)
        out.append(tagCase)
        var grouped = Case()
        grouped.groupBy(&rng)
        grouped.count(rng.int(0...5), &rng)
        grouped.within(rng.int(0...5), &rng, durations)
        out.append(grouped)
        var filtered = Case()
        filtered.filter(&rng)
        filtered.count(rng.int(0...5), &rng)
        out.append(filtered)
        for _ in 0..<randomPolicies {
            var c = Case()
            for _ in 0..<rng.int(1...4) {
                switch rng.int(0...4) {
                case 0, 1: c.count(rng.int(0...5), &rng)
                case 2, 3: c.within(rng.int(0...5), &rng, durations)
                default: c.keepTag(&rng)
                }
            }
            if rng.chance(0.4) { c.groupBy(&rng) }
            if rng.chance(0.25) { c.filter(&rng) }
            out.append(c)
        }
        return out
    }

    // MARK: Comparing

    /// One group's outcome in a form both tools' results convert to.
    struct GroupResult: Equatable, CustomStringConvertible {
        var key: String
        var keep: [String]
        var remove: [String]
        var reasons: [String]
        var description: String {
            "group \(key)\n  keep \(keep.map { String($0.prefix(8)) })\n  remove \(remove.map { String($0.prefix(8)) })\n  reasons \(reasons)"
        }
    }

    static func key(host: String, paths: [String]?, tags: [String]?) -> String {
        "\(host)|\(paths.map { $0.joined(separator: ",") } ?? "null")|\(tags.map { $0.joined(separator: ",") } ?? "null")"
    }

    static func counterText(_ pairs: [(String, Int)]) -> String {
        pairs.filter { $0.1 != 0 }.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
    }

    /// restic's `forget --json` output as group results (sorted by key).
    static func resticGroups(_ stdout: Data) throws -> [GroupResult] {
        if stdout.isEmpty { return [] }
        guard let groups = try JSONSerialization.jsonObject(with: stdout) as? [[String: Any]] else {
            throw FixtureError(message: "not a JSON array: \(String(decoding: stdout, as: UTF8.self).prefix(300))")
        }
        return groups.map { g in
            let ids = { (k: String) in ((g[k] as? [[String: Any]]) ?? []).map { $0["id"] as? String ?? "?" } }
            let reasons = ((g["reasons"] as? [[String: Any]]) ?? []).map { r -> String in
                let time = (r["snapshot"] as? [String: Any])?["time"] as? String ?? "?"
                let matches = (r["matches"] as? [String]) ?? []
                let counters = (r["counters"] as? [String: Int]) ?? [:]
                let pairs = ["last", "hourly", "daily", "weekly", "monthly", "yearly"].map { ($0, counters[$0] ?? 0) }
                return time + " " + matches.joined(separator: ";") + " " + counterText(pairs)
            }
            return GroupResult(
                key: key(host: g["host"] as? String ?? "", paths: g["paths"] as? [String], tags: g["tags"] as? [String]),
                keep: ids("keep"), remove: ids("remove"), reasons: reasons)
        }.sorted { $0.key < $1.key }
    }

    /// The engine's plan for the same case as group results.
    static func offsiteGroups(_ snapshots: [(id: ID, snapshot: Snapshot)], _ c: Case) -> [GroupResult] {
        let plan = Forget.plan(snapshots.filter { c.matches($0.snapshot) }, policy: c.policy, grouping: c.grouping, now: .now(), zone: zone)
        return plan.map { g in
            let reasons = g.decision.keep.map { k in
                let n = k.counters
                let pairs = [
                    ("last", n.last), ("hourly", n.hourly), ("daily", n.daily), ("weekly", n.weekly), ("monthly", n.monthly),
                    ("yearly", n.yearly),
                ]
                return k.snapshot.time.rfc3339 + " " + k.matches.joined(separator: ";") + " " + counterText(pairs)
            }
            return GroupResult(
                key: key(host: g.key.hostname, paths: g.key.paths, tags: g.key.tags), keep: g.decision.keep.map(\.id.hex),
                remove: g.decision.remove.map(\.id.hex), reasons: reasons)
        }.sorted { $0.key < $1.key }
    }

    static func restic(_ args: [String], repo: String) async throws -> ProcessRunner.Result {
        try await ProcessRunner.run(
            try Restic.path(), ["-r", repo, "--no-cache"] + args,
            environment: [
                "RESTIC_PASSWORD": password, "TZ": zoneName, "RESTIC_REPOSITORY": nil, "RESTIC_PASSWORD_FILE": nil,
                "RESTIC_PASSWORD_COMMAND": nil, "RESTIC_PROGRESS_FPS": nil,
            ])
    }

    static func offsite(_ args: [String], repo: String) async throws -> ProcessRunner.Result {
        try await OffsiteBinary.run(["-r", repo] + args, password: password, environment: ["TZ": zoneName, "RESTIC_PROGRESS_FPS": nil])
    }

    // MARK: Tests

    /// The policy engine against restic on random sets and policies.
    @Test func randomSetsAndPoliciesMatchRestic() async throws {
        try await Self.withFastScratchDirectory { dir in
            var rng = Random(state: 0x0FF5_17E0)
            var sets: [(path: String, snapshots: [(id: ID, snapshot: Snapshot)], cases: [Case])] = []
            for n in 0..<Self.sets {
                let path = dir + "/repo\(n)"
                let (snapshots, durations) = try await Self.makeRepository(path, &rng, ties: true)
                sets.append((path, snapshots, Self.cases(&rng, durations: durations)))
            }
            // restic's runs, one task per set.
            let jobs = sets
            let all = await withTaskGroup(of: (Int, [Result<ProcessRunner.Result, any Error>]).self) { group in
                for (n, set) in jobs.enumerated() {
                    group.addTask {
                        var out: [Result<ProcessRunner.Result, any Error>] = []
                        for c in set.cases {
                            do {
                                out.append(
                                    .success(
                                        try await Self.restic(
                                            ["--no-lock", "-o", "local.connections=1", "forget", "--dry-run", "--json"] + c.args,
                                            repo: set.path)))
                            } catch {
                                out.append(.failure(error))
                            }
                        }
                        return (n, out)
                    }
                }
                var all: [Int: [Result<ProcessRunner.Result, any Error>]] = [:]
                for await (n, out) in group { all[n] = out }
                return all
            }
            var compared = 0
            var failures = 0
            for (n, set) in sets.enumerated() {
                for (i, c) in set.cases.enumerated() {
                    let r = try all[n]![i].get()
                    guard r.status == 0 else {
                        Issue.record("set \(n): restic forget \(c) failed: \(r.stderr)")
                        continue
                    }
                    let theirs = try Self.resticGroups(r.stdout)
                    let ours = Self.offsiteGroups(set.snapshots, c)
                    compared += 1
                    if theirs != ours {
                        failures += 1
                        if failures <= 5 {
                            Issue.record(
                                "set \(n), forget \(c):\nrestic:\n\(theirs.map(\.description).joined(separator: "\n"))\noffsite:\n\(ours.map(\.description).joined(separator: "\n"))"
                            )
                        }
                    }
                }
            }
            #expect(failures == 0, "\(failures) of \(compared) policies differ from restic")
            #expect(compared >= Self.sets * 20)
        }
    }
}
