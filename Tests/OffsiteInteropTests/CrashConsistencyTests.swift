import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The crash-consistency driver: `backup`, `forget --prune`, `prune`, `copy` and
/// `key add` are killed with SIGKILL at random moments. After each kill the stale lock is
/// removed with `offsite unlock` (as restic 0.14, offsite leaves a dead process's lock in
/// place until then), `offsite check` and `restic check` must exit 0 (unreferenced packs are
/// notes, not errors), and every snapshot in the repository must restore with restic,
/// byte-identical to the source tree it was taken from. Then the same command runs to the end
/// and everything is verified again (prune and forget --prune must leave no unreferenced
/// pack behind).
///
/// `CRASH_KILLS` (default 3) is the number of kills per command; `CRASH_SEED` replays a
/// seed (delays and generated data); `CRASH_REPORT` names a file that gets one JSON line per
/// command with the figures (`make crash` runs 30 kills and writes docs/RELIABILITY.md).
@Suite struct CrashConsistencyTests {
    @Test func backup() async throws {
        try await withScratchDirectory { dir in
            var d = try await CrashDriver(command: "backup", dir: dir)
            try await d.initRepository(d.repo)
            try await d.backupGeneration(into: d.repo)
            try await d.run(
                prepare: { d in
                    try await d.newGeneration()
                    // Few snapshots to restore after each kill; the data stays (no prune).
                    try await d.restic(["forget", "--keep-last", "3"], d.repo)
                },
                args: { d in ["-r", d.repo, "backup", "src", "--tag", d.tag, "--pack-size", "4"] })
        }
    }

    /// Before each run a new generation is backed up; for `prune` the oldest snapshot is then
    /// forgotten, so prune has packs to delete and to repack (`forget --prune` forgets itself).
    /// A `forget --prune` killed after the snapshot files went leaves a re-run that removes
    /// nothing and so (as in restic) does not prune: the next removal's prune cleans up.
    @Test(arguments: [["prune", "--max-unused", "0"], ["forget", "--keep-last", "2", "--prune"]])
    func maintenance(_ command: [String]) async throws {
        try await withScratchDirectory { dir in
            let isPrune = command[0] == "prune"
            var d = try await CrashDriver(command: isPrune ? "prune" : "forget --prune", dir: dir)
            try await d.initRepository(d.repo)
            try await d.backupNewGenerations(2, into: d.repo)
            try await d.run(
                prepare: { d in
                    try await d.backupNewGenerations(1, into: d.repo)
                    if isPrune { try await d.restic(["forget", "--keep-last", "2"], d.repo) }
                },
                args: { d in ["-r", d.repo] + command }, cleansUnreferenced: isPrune, cleansUnreferencedAtEnd: true)
        }
    }

    @Test func copy() async throws {
        try await withScratchDirectory { dir in
            var d = try await CrashDriver(command: "copy", dir: dir)
            let source = dir + "/source"
            try await d.initRepository(source, password: d.sourcePassword)
            try await d.initRepository(d.repo)
            try await d.backupNewGenerations(2, into: source, password: d.sourcePassword)
            try await d.run(
                prepare: { d in
                    try await d.backupNewGenerations(1, into: source, password: d.sourcePassword)
                    // The same snapshots leave both sides, so the next copy only adds the new one.
                    try await d.restic(["forget", "--keep-last", "3"], source, password: d.sourcePassword)
                    try await d.restic(["forget", "--keep-last", "3"], d.repo)
                },
                args: { d in ["-r", d.repo, "copy", "--from-repo", source, "--pack-size", "4"] },
                environment: ["RESTIC_FROM_PASSWORD": crashSourcePassword], alsoLocked: [source: crashSourcePassword])
        }
    }

    @Test func keyAdd() async throws {
        try await withScratchDirectory { dir in
            var d = try await CrashDriver(command: "key add", dir: dir)
            try await d.initRepository(d.repo)
            try await d.backupGeneration(into: d.repo)
            let passwordFile = dir + "/new-password"
            try await d.run(
                prepare: { d in
                    // Only the original key stays between rounds (restic tries at most 20 keys).
                    let keys = try await jsonArray(try d.restic(["key", "list", "--json"], d.repo).stdout)
                    for k in keys where (k["current"] as? Bool) != true {
                        try await d.restic(["key", "remove", k["id"] as? String ?? ""], d.repo)
                    }
                    d.addedPassword = "added password \(d.rng.next() % 1_000_000)"
                    try Data((d.addedPassword + "\n").utf8).write(to: URL(fileURLWithPath: passwordFile))
                },
                args: { d in ["-r", d.repo, "key", "add", "--new-password-file", passwordFile, "--user", "crash", "--host", "test"] },
                afterKill: { d, rerun in
                    // Every key file is whole: restic lists them all, and the new password opens
                    // the repository exactly when a key for it was written (always after the re-run).
                    var problems: [String] = []
                    let list = try await Restic.run(["key", "list", "--json"], repo: d.repo, password: password)
                    if list.status != 0 { problems.append("restic key list: exit \(list.status): \(list.stderr.prefix(1000))") }
                    let keys = (try? jsonArray(list.stdout))?.count ?? 0
                    let opens = try await Restic.run(["cat", "config"], repo: d.repo, password: d.addedPassword).status == 0
                    if rerun && !opens { problems.append("the added password does not open the repository") }
                    if !rerun && opens != (keys == 2) {
                        problems.append("\(keys) keys, the added password \(opens ? "opens" : "does not open") it")
                    }
                    return problems
                })
        }
    }
}

let crashSourcePassword = "crash source password"

/// One command's crash run: a repository at `dir/repo` (the destination for copy), a source
/// tree at `dir/src` that changes by generation (each backed up with tag `g<n>`, its contents
/// kept at `dir/trees/g<n>` to compare restores with), and a seeded generator for delays and
/// data.
struct CrashDriver {
    let command: String
    let dir: String
    let repo: String
    let seed: UInt64
    let kills: Int
    var rng: SplitMix64
    var generation = 0
    let sourcePassword = crashSourcePassword
    var addedPassword = ""

    init(command: String, dir: String) async throws {
        self.command = command
        self.dir = dir
        self.repo = dir + "/repo"
        let env = ProcessInfo.processInfo.environment
        seed = env["CRASH_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(Int64.max))
        kills = env["CRASH_KILLS"].flatMap { Int($0) } ?? 3
        rng = SplitMix64(seed: seed)
        try TreeFixture(root: dir + "/src").dir("")
        try FileManager.default.createDirectory(atPath: dir + "/trees", withIntermediateDirectories: true)
        try await newGeneration()
    }

    var tag: String { "g\(generation)" }

    /// The next source tree: three new files of 0.3 to 1.5 MB of seeded random data, the
    /// files of three generations ago removed, a text file rewritten. Kept under trees/.
    mutating func newGeneration() async throws {
        generation += 1
        let f = TreeFixture(root: dir + "/src")
        for i in 0..<3 {
            let size = 300_000 + Int(rng.next() % 1_200_000)
            try f.file("gen\(generation)-\(i).bin", TreeFixture.randomBytes(size, seed: rng.next()))
            try? FileManager.default.removeItem(atPath: dir + "/src/gen\(generation - 3)-\(i).bin")
        }
        try f.file("notes.txt", Array((0..<2000).map { "generation \(generation) line \($0)\n" }.joined().utf8))
        let copy = try await ProcessRunner.run("/bin/cp", ["-a", dir + "/src", dir + "/trees/" + tag])
        guard copy.status == 0 else { throw FixtureError(message: "cp: \(copy.stderr)") }
    }

    func initRepository(_ path: String, password pw: String = password) async throws {
        try await TestRepository.makeLocal(at: path, password: pw)
    }

    func backupGeneration(into path: String, password pw: String = password) async throws {
        try must(
            try await OffsiteBinary.run(["-r", path, "backup", "src", "--tag", tag, "--pack-size", "4"], password: pw, cwd: dir),
            "backup \(tag) into \(path)")
    }

    mutating func backupNewGenerations(_ n: Int, into path: String, password pw: String = password) async throws {
        for _ in 0..<n {
            try await newGeneration()
            try await backupGeneration(into: path, password: pw)
        }
    }

    @discardableResult
    func restic(_ args: [String], _ path: String, password pw: String = password) async throws -> ProcessRunner.Result {
        try must(try await Restic.run(args, repo: path, password: pw), "restic \(args.joined(separator: " "))")
    }

    @discardableResult
    func must(_ r: ProcessRunner.Result, _ what: String) throws -> ProcessRunner.Result {
        guard r.status == 0 else {
            throw FixtureError(message: "seed \(seed): \(what): exit \(r.status): \(r.stdoutString.prefix(1000)) \(r.stderr.prefix(1000))")
        }
        return r
    }

    /// Per kill: what was found and whether everything held.
    struct Figures {
        var attempts = 0, kills = 0, survived = 0, finishedBeforeKill = 0, killsHoldingLock = 0
        var staleLocks = 0, tmpFilesAfterKill = 0, tmpFilesAtEnd = 0
        var unreferencedAfterKill = 0, unreferencedAfterRerun = 0, unreferencedAtEnd = 0
        var snapshotsRestored = 0
        var delays: [UInt32] = []
    }

    /// Measures one unkilled run, then kills the command until `kills` kills hit it (at most
    /// three times as many attempts, plus six), verifying after each kill and after each re-run.
    mutating func run(
        prepare: (inout CrashDriver) async throws -> Void, args: (CrashDriver) -> [String], environment: [String: String] = [:],
        alsoLocked: [String: String] = [:], cleansUnreferenced: Bool = false, cleansUnreferencedAtEnd: Bool = false,
        afterKill: ((CrashDriver, Bool) async throws -> [String])? = nil
    ) async throws {
        let started = Date()
        let env = environment.merging(["RESTIC_PASSWORD": password, "TZ": "UTC"]) { $1 }
        var envOptional: [String: String?] = [:]
        for (k, v) in env { envOptional[k] = v }
        // The typical duration, from one run to the end.
        try await prepare(&self)
        let (typicalMicros, lockedMicros) = try await measure(args(self), environment: env)
        for p in await verify(phase: "after the unkilled run", cleansUnreferenced: cleansUnreferencedAtEnd).problems {
            Issue.record("\(command), seed \(seed): \(p)")
        }
        var fig = Figures()
        // Load changes while the driver runs: when a run finishes before its delay, later delays
        // are drawn from a window shrunk by 30% (in a short run, a machine that got faster after
        // the measurement left too few kills).
        var scale = 1.0
        while fig.kills < kills && fig.attempts < kills * 3 + 6 {
            fig.attempts += 1
            try await prepare(&self)
            let window = max(1, UInt64(Double(typicalMicros - lockedMicros) * scale))
            let delay = UInt32(Double(lockedMicros) * scale) + UInt32(rng.next() % window)
            let temporaryBefore = temporaryFiles().count
            let killed = try await runOffsiteAndKill(args(self), environment: env, cwd: dir, after: delay)
            let context =
                "\(command), seed \(seed), attempt \(fig.attempts), killed after \(delay) µs (typical run \(typicalMicros) µs, locked after \(lockedMicros) µs)"
            guard killed else {
                fig.finishedBeforeKill += 1
                scale *= 0.7
                continue
            }
            fig.kills += 1
            fig.delays.append(delay)
            var problems: [String] = []
            // The dead process's lock is stale: `unlock` removes it (checks and exclusive
            // commands would otherwise refuse to run, as with restic).
            let locks = files(in: repo + "/locks").count
            fig.staleLocks += locks
            if locks > 0 { fig.killsHoldingLock += 1 }
            let unlock = try await OffsiteBinary.run(["-r", repo, "unlock"], password: password)
            if unlock.status != 0 { problems.append("unlock: exit \(unlock.status): \(unlock.stderr.prefix(1000))") }
            if !files(in: repo + "/locks").isEmpty { problems.append("unlock left \(files(in: repo + "/locks")) behind") }
            for (other, pw) in alsoLocked {
                fig.staleLocks += files(in: other + "/locks").count
                let r = try await OffsiteBinary.run(["-r", other, "unlock"], password: pw)
                if r.status != 0 { problems.append("unlock \(other): exit \(r.status): \(r.stderr.prefix(1000))") }
            }
            fig.tmpFilesAfterKill += temporaryFiles().count - temporaryBefore
            var v = await verify(phase: "after the kill", cleansUnreferenced: false)
            fig.unreferencedAfterKill += v.unreferenced
            fig.snapshotsRestored += v.restored
            problems += v.problems
            if let afterKill { problems += try await afterKill(self, false).map { "after the kill: \($0)" } }
            // The same command again, to the end.
            let rerun = try await OffsiteBinary.run(args(self), environment: envOptional, cwd: dir)
            if rerun.status != 0 {
                problems.append("the re-run failed: exit \(rerun.status): \(rerun.stdoutString.suffix(1000)) \(rerun.stderr.prefix(1500))")
            }
            if !files(in: repo + "/locks").isEmpty {
                problems.append("the re-run left locks behind: \(files(in: repo + "/locks"))")
                // A re-run that crashed: its lock must not stop the remaining rounds.
                _ = try await OffsiteBinary.run(["-r", repo, "unlock"], password: password)
            }
            v = await verify(phase: "after the re-run", cleansUnreferenced: cleansUnreferenced)
            problems += v.problems
            fig.unreferencedAfterRerun += v.unreferenced
            if let afterKill { problems += try await afterKill(self, true).map { "after the re-run: \($0)" } }
            fig.snapshotsRestored += v.restored
            for p in problems { Issue.record("\(context): \(p)") }
            if problems.isEmpty { fig.survived += 1 }
        }
        // One more round to the end: whatever the kills left is cleaned up.
        try await prepare(&self)
        try must(try await OffsiteBinary.run(args(self), environment: envOptional, cwd: dir), "\(command) (final run)")
        let final = await verify(phase: "after the final run", cleansUnreferenced: cleansUnreferencedAtEnd)
        for p in final.problems { Issue.record("\(command), seed \(seed): \(p)") }
        fig.unreferencedAtEnd = final.unreferenced
        fig.tmpFilesAtEnd = temporaryFiles().count
        #expect(fig.kills >= kills, "\(command), seed \(seed): only \(fig.kills) of \(fig.attempts) attempts hit the running command")
        try report(fig, typicalMicros: typicalMicros, lockedMicros: lockedMicros, seconds: Date().timeIntervalSince(started))
    }

    /// Runs the command to the end once: how long it takes, and how long until its lock file
    /// appears (before that it only starts and derives the key, writing nothing), both in µs.
    /// Kills are spread from the second to the first.
    func measure(_ args: [String], environment: [String: String]) async throws -> (typical: UInt32, locked: UInt32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try OffsiteBinary.path())
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let clock = ContinuousClock()
        let start = clock.now
        func micros() -> UInt32 {
            let d = clock.now - start
            return UInt32(d.components.seconds * 1_000_000 + d.components.attoseconds / 1_000_000_000_000)
        }
        try p.run()
        var locked: UInt32?
        while p.isRunning {
            if locked == nil && !files(in: repo + "/locks").isEmpty { locked = micros() }
            await pause(.milliseconds(2))
        }
        p.waitUntilExit()
        let typical = max(1000, micros())
        guard p.terminationStatus == 0 else {
            throw FixtureError(message: "seed \(seed): \(command) (unkilled): exit \(p.terminationStatus)")
        }
        return (typical, min(locked ?? 0, typical / 2))
    }

    /// Files in a directory (not recursive), without the dot files (a killed write's
    /// `.tmp-*` file is no lock; `temporaryFiles` counts those).
    func files(in path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Temporary files a killed write left in the repository (`.tmp-*`).
    func temporaryFiles() -> [String] {
        (FileManager.default.enumerator(atPath: repo)?.allObjects as? [String] ?? []).filter {
            ($0 as NSString).lastPathComponent.hasPrefix(".tmp")
        }
    }

    /// offsite check and restic check exit 0; every snapshot restores (restic) identically to
    /// its generation's tree. With `cleansUnreferenced`, restic must report no additional files.
    func verify(phase: String, cleansUnreferenced: Bool) async -> (problems: [String], unreferenced: Int, restored: Int) {
        var problems: [String] = []
        var unreferenced = 0, restored = 0
        do {
            let ours = try await OffsiteBinary.run(["-r", repo, "check"], password: password)
            if ours.status != 0 {
                problems.append(
                    "\(phase): offsite check: exit \(ours.status): \(ours.stdoutString.suffix(1500)) \(ours.stderr.prefix(1500))")
            }
            let theirs = try await Restic.run(["check"], repo: repo, password: password)
            if theirs.status != 0 {
                problems.append(
                    "\(phase): restic check: exit \(theirs.status): \(theirs.stdoutString.suffix(1500)) \(theirs.stderr.prefix(1500))")
            }
            unreferenced = theirs.stdoutString.split(separator: "\n").filter { $0.contains("not referenced in any index") }.count
            if cleansUnreferenced && (unreferenced > 0 || theirs.stdoutString.contains("additional files")) {
                problems.append("\(phase): unreferenced packs remain: \(theirs.stdoutString.suffix(1500))")
            }
            let snaps = try jsonArray(
                try must(try await Restic.run(["snapshots", "--json"], repo: repo, password: password), "snapshots").stdout)
            for s in snaps {
                let id = s["short_id"] as? String ?? "?"
                guard let tag = (s["tags"] as? [String])?.first else {
                    problems.append("\(phase): snapshot \(id) has no generation tag")
                    continue
                }
                let out = dir + "/restore-\(id)"
                defer { removeTree(out) }
                let r = try await Restic.run(["restore", id, "--target", out], repo: repo, password: password)
                if r.status != 0 {
                    problems.append("\(phase): restic restore \(id) (\(tag)): exit \(r.status): \(r.stderr.prefix(1500))")
                    continue
                }
                let want = try TreeFixture.describe(dir + "/trees/" + tag, includeDirectoryTimes: false)
                let got = try TreeFixture.describe(out + "/src", includeDirectoryTimes: false)
                if want != got {
                    let differing = Set(want.keys).union(got.keys).filter { want[$0] != got[$0] }.sorted()
                    problems.append("\(phase): snapshot \(id) (\(tag)) restores differently: \(differing.prefix(5))")
                } else {
                    restored += 1
                }
            }
        } catch {
            problems.append("\(phase): \(error)")
        }
        return (problems, unreferenced, restored)
    }

    /// Appends this command's figures as one JSON line to `$CRASH_REPORT`.
    func report(_ fig: Figures, typicalMicros: UInt32, lockedMicros: UInt32, seconds: Double) throws {
        let line: [String: Any] = [
            "command": command, "seed": String(seed), "attempts": fig.attempts, "kills": fig.kills, "survived": fig.survived,
            "kills_holding_lock": fig.killsHoldingLock,
            "finished_before_kill": fig.finishedBeforeKill, "typical_us": Int(typicalMicros), "locked_us": Int(lockedMicros),
            "delay_min_us": Int(fig.delays.min() ?? 0), "delay_max_us": Int(fig.delays.max() ?? 0),
            "stale_locks_removed": fig.staleLocks, "tmp_files_after_kills": fig.tmpFilesAfterKill,
            "tmp_files_at_end": fig.tmpFilesAtEnd, "unreferenced_packs_after_kills": fig.unreferencedAfterKill,
            "unreferenced_packs_after_reruns": fig.unreferencedAfterRerun, "unreferenced_packs_at_end": fig.unreferencedAtEnd,
            "snapshots_restored": fig.snapshotsRestored, "seconds": Int(seconds.rounded()),
        ]
        try appendReportLine(line, toFileIn: "CRASH_REPORT")
    }
}
