import Foundation
import OffsiteSync
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The concurrency driver: four clients, each with its own `--host` and its own
/// changing seeded tree, back up into ONE repository at the same time (three with offsite, one
/// with restic 0.14), while `offsite forget --keep-last N --group-by host --prune` runs again and
/// again in between, on the locks' terms (`--retry-lock`; restic 0.14 has no `--retry-lock`, so
/// its client tries again when told the repository is locked). Every source tree is kept per
/// snapshot (host and tag). Afterwards no lock is left, `offsite check --read-data` and
/// `restic check --read-data` exit 0, each host's newest backup is still there, and EVERY
/// snapshot kept restores byte-identically to the tree it was taken from, with restic and with
/// offsite.
///
/// `CONCURRENCY_ROUNDS` (default 2) is the number of backups per client (N is 1 for 2 rounds or
/// fewer, else 2); forget --prune runs until every client is done, at least that many times;
/// `CONCURRENCY_SEED` replays a seed (data and pauses; the interleaving still depends on the
/// machine); `CONCURRENCY_REPORT` names a file that gets one JSON line per storage with the
/// figures (`make concurrency` runs more rounds and writes docs/RELIABILITY.md).
@Suite struct ConcurrencyTests {
    @Test(arguments: ["local", "rest"])
    func clientsAndPrunesShareOneRepository(_ storage: String) async throws {
        try await withScratchDirectory { dir in
            var server: TestServer?
            defer { server?.stop() }
            let repo: String
            let locksDirectory: String
            if storage == "rest" {
                let s = try await TestServer.rclone(directory: dir + "/served")
                server = s
                repo = "rest:\(s.url())/repo"
                locksDirectory = dir + "/served/repo/locks"
            } else {
                repo = dir + "/repo"
                locksDirectory = repo + "/locks"
            }
            let driver = try ConcurrencyDriver(storage: storage, dir: dir, repo: repo, locksDirectory: locksDirectory)
            try await driver.run()
        }
    }
}

/// The figures of one run, shared by the workers.
struct ConcurrencyFigures {
    var backups = 0, resticBackups = 0, lockRetries = 0, backupsThatWaited = 0
    var prunes = 0, prunesThatWaited = 0, snapshotsForgotten = 0
    var snapshotsKept = 0, restoresVerified = 0, clientsDone = 0
    var problems: [String] = []
}

final class ConcurrencyDriver: Sendable {
    struct Client: Sendable {
        var host: String
        var restic: Bool
        var root: String  // the working directory; the tree backed up is root/src
    }

    let storage: String
    let dir: String
    let repo: String
    let locksDirectory: String
    let seed: UInt64
    let rounds: Int
    let clients: [Client]
    /// forget's --keep-last: 1 in the short form (2 rounds), so that it forgets something.
    let keepLast: Int
    let figures = Mutex(ConcurrencyFigures())

    init(storage: String, dir: String, repo: String, locksDirectory: String) throws {
        self.storage = storage
        self.dir = dir
        self.repo = repo
        self.locksDirectory = locksDirectory
        let env = ProcessInfo.processInfo.environment
        seed = env["CONCURRENCY_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(Int64.max))
        rounds = max(1, env["CONCURRENCY_ROUNDS"].flatMap { Int($0) } ?? 2)
        keepLast = rounds <= 2 ? 1 : 2
        clients = (1...4).map { Client(host: "client\($0)", restic: $0 == 4, root: dir + "/client\($0)") }
        for c in clients { try TreeFixture(root: c.root + "/src").dir("") }
        try FileManager.default.createDirectory(atPath: dir + "/trees", withIntermediateDirectories: true)
    }

    func note(_ problem: String) {
        figures.withLock { $0.problems.append("\(storage), seed \(seed): \(problem)") }
    }

    func run() async throws {
        let started = Date()
        // The repository's directory (served by rclone for "rest"), with a cheap key.
        try await TestRepository.makeLocal(at: (locksDirectory as NSString).deletingLastPathComponent, password: password)
        // The clients and the pruner, each a task of its own (every step runs a process).
        await withTaskGroup(of: Void.self) { group in
            for (n, client) in clients.enumerated() {
                group.addTask {
                    var rng = SplitMix64(seed: self.seed &+ UInt64(n + 1) &* 0x9E37_79B9)
                    await self.backUp(client, rng: &rng)
                }
            }
            group.addTask {
                var rng = SplitMix64(seed: self.seed ^ 0x5052_554E_45)
                await self.prune(rng: &rng)
            }
        }
        await verify()
        let fig = figures.withLock { $0 }
        for p in fig.problems { Issue.record("\(p)") }
        #expect(fig.backups == clients.count * rounds, "\(storage), seed \(seed): \(fig.backups) backups")
        #expect(fig.prunes >= rounds, "\(storage), seed \(seed): \(fig.prunes) prunes")
        #expect(fig.restoresVerified == 2 * fig.snapshotsKept && fig.snapshotsKept >= clients.count * min(keepLast, rounds))
        try report(fig, seconds: Date().timeIntervalSince(started))
    }

    /// One client: `rounds` times, change the tree, keep a copy, back it up (tag `g<round>`).
    func backUp(_ client: Client, rng: inout SplitMix64) async {
        defer { figures.withLock { $0.clientsDone += 1 } }
        for round in 1...rounds {
            do {
                try await changeTree(client, round: round, rng: &rng)
            } catch {
                note("\(client.host) round \(round): preparing the tree: \(error)")
                return
            }
            let tag = "g\(round)"
            var attempts = 0
            while true {
                attempts += 1
                let r: ProcessRunner.Result
                do {
                    if client.restic {
                        r = try await Restic.run(
                            ["backup", "src", "--host", client.host, "--tag", tag], repo: repo, password: password, cwd: client.root)
                    } else {
                        r = try await OffsiteBinary.run(
                            ["-r", repo, "backup", "src", "--host", client.host, "--tag", tag, "--retry-lock", "30m"], password: password,
                            cwd: client.root)
                    }
                } catch {
                    note("\(client.host) \(tag): \(error)")
                    return
                }
                // restic 0.14 has no --retry-lock: it exits 1 naming the lock; try again shortly.
                if client.restic && r.status != 0 && r.stderr.contains("already locked") && attempts < 2000 {
                    figures.withLock { $0.lockRetries += 1 }
                    try? await Task.sleep(nanoseconds: UInt64(200_000 + rng.next() % 800_000) * 1_000)
                    continue
                }
                guard r.status == 0 else {
                    note("\(client.host) \(tag): backup exit \(r.status): \(r.stderr.prefix(1500))")
                    return
                }
                figures.withLock {
                    $0.backups += 1
                    if client.restic { $0.resticBackups += 1 }
                    if attempts > 1 || r.stderr.contains("waiting up to") { $0.backupsThatWaited += 1 }
                }
                break
            }
            try? await Task.sleep(nanoseconds: UInt64(rng.next() % 600_000) * 1_000)
        }
    }

    /// The next tree of a client: two new files of seeded data (one of them the same on every
    /// client, so packs are shared across hosts), part of an older file rewritten, the files of
    /// two rounds ago removed, a text file rewritten. A copy goes to trees/<host>-g<round>.
    func changeTree(_ client: Client, round: Int, rng: inout SplitMix64) async throws {
        let f = TreeFixture(root: client.root + "/src")
        try f.dir("r\(round)")
        try f.file("r\(round)/own.bin", TreeFixture.randomBytes(20_000 + Int(rng.next() % 600_000), seed: rng.next()))
        try f.file("r\(round)/common.bin", TreeFixture.randomBytes(300_000, seed: seed &+ UInt64(round)))
        if round > 1 {
            var older = TreeFixture.randomBytes(20_000, seed: rng.next())
            older += Array("rewritten in round \(round)\n".utf8)
            try f.file("r\(round - 1)/own.bin", older)
        }
        if round > 2 { try FileManager.default.removeItem(atPath: client.root + "/src/r\(round - 2)") }
        try f.file("notes.txt", Array((0..<500).map { "\(client.host) round \(round) line \($0)\n" }.joined().utf8))
        let copy = try await ProcessRunner.run("/bin/cp", ["-a", client.root + "/src", dir + "/trees/\(client.host)-g\(round)"])
        guard copy.status == 0 else { throw FixtureError(message: "cp: \(copy.stderr)") }
    }

    /// Until every client is done, and at least `rounds` times: a pause, then forget (the last
    /// `keepLast` per host) and prune, waiting for the clients' locks.
    func prune(rng: inout SplitMix64) async {
        var runs = 0
        while runs < rounds || figures.withLock({ $0.clientsDone < clients.count }) {
            runs += 1
            try? await Task.sleep(nanoseconds: UInt64(300_000 + rng.next() % 1_500_000) * 1_000)
            let r: ProcessRunner.Result
            do {
                r = try await OffsiteBinary.run(
                    [
                        "-r", repo, "forget", "--keep-last", String(keepLast), "--group-by", "host", "--prune", "--retry-lock", "30m",
                        "--json",
                    ], password: password)
            } catch {
                note("forget --prune: \(error)")
                return
            }
            guard r.status == 0 else {
                note("forget --prune: exit \(r.status): \(r.stdoutString.suffix(1000)) \(r.stderr.prefix(1500))")
                continue
            }
            // The first line is forget's JSON (one object per group); prune's report follows.
            let groups = (try? jsonArray(Data((r.stdoutString.split(separator: "\n").first ?? "").utf8))) ?? []
            let removed = groups.reduce(0) { $0 + (($1["remove"] as? [Any])?.count ?? 0) }
            figures.withLock {
                $0.prunes += 1
                $0.snapshotsForgotten += removed
                if r.stderr.contains("waiting up to") { $0.prunesThatWaited += 1 }
            }
        }
    }

    /// After the run: no lock left, both checks read every pack, each host's last backup is
    /// there, and every snapshot restores (restic and offsite) identically to its tree.
    func verify() async {
        let locks = ((try? FileManager.default.contentsOfDirectory(atPath: locksDirectory)) ?? []).filter { !$0.hasPrefix(".") }
        if !locks.isEmpty { note("locks left behind: \(locks)") }
        do {
            let ours = try await OffsiteBinary.run(["-r", repo, "check", "--read-data"], password: password)
            if ours.status != 0 {
                note("offsite check --read-data: exit \(ours.status): \(ours.stdoutString.suffix(1500)) \(ours.stderr.prefix(1500))")
            }
            let theirs = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
            if theirs.status != 0 {
                note("restic check --read-data: exit \(theirs.status): \(theirs.stdoutString.suffix(1500)) \(theirs.stderr.prefix(1500))")
            }
            let list = try await Restic.run(["snapshots", "--json"], repo: repo, password: password)
            guard list.status == 0 else {
                note("restic snapshots: exit \(list.status): \(list.stderr.prefix(1000))")
                return
            }
            let snapshots = try jsonArray(list.stdout)
            var kept = 0, restored = 0
            var newest: [String: Int] = [:]
            for s in snapshots {
                let id = s["short_id"] as? String ?? "?"
                let host = s["hostname"] as? String ?? "?"
                guard let tag = (s["tags"] as? [String])?.first, let round = Int(tag.dropFirst()) else {
                    note("snapshot \(id) of \(host) has no round tag")
                    continue
                }
                kept += 1
                newest[host] = max(newest[host] ?? 0, round)
                let want = try TreeFixture.describe(dir + "/trees/\(host)-\(tag)", includeDirectoryTimes: false)
                for tool in ["restic", "offsite"] {
                    let out = dir + "/restore-\(tool)-\(id)"
                    defer { removeTree(out) }
                    let r =
                        tool == "restic"
                        ? try await Restic.run(["restore", id, "--target", out], repo: repo, password: password)
                        : try await OffsiteBinary.run(["-r", repo, "restore", id, "--target", out], password: password)
                    guard r.status == 0 else {
                        note("\(tool) restore \(id) (\(host) \(tag)): exit \(r.status): \(r.stderr.prefix(1500))")
                        continue
                    }
                    let got = try TreeFixture.describe(out + "/src", includeDirectoryTimes: false)
                    if got == want {
                        restored += 1
                    } else {
                        let differing = Set(want.keys).union(got.keys).filter { want[$0] != got[$0] }.sorted()
                        note("\(tool) restore \(id) (\(host) \(tag)) differs from its tree: \(differing.prefix(5))")
                    }
                }
            }
            for c in clients where newest[c.host] != rounds {
                note("\(c.host): the newest snapshot left is of round \(newest[c.host] ?? 0), not \(rounds)")
            }
            figures.withLock {
                $0.snapshotsKept = kept
                $0.restoresVerified = restored
            }
        } catch {
            note("verifying: \(error)")
        }
    }

    /// Appends the figures as one JSON line to `$CONCURRENCY_REPORT`.
    func report(_ fig: ConcurrencyFigures, seconds: Double) throws {
        let line: [String: Any] = [
            "storage": storage, "seed": String(seed), "rounds": rounds, "keep_last": keepLast, "clients": clients.count,
            "restic_clients": clients.filter(\.restic).count, "backups": fig.backups, "restic_backups": fig.resticBackups,
            "backups_waited": fig.backupsThatWaited, "restic_lock_retries": fig.lockRetries, "prunes": fig.prunes,
            "prunes_waited": fig.prunesThatWaited, "snapshots_forgotten": fig.snapshotsForgotten,
            "snapshots_kept": fig.snapshotsKept, "restores_verified": fig.restoresVerified, "failures": fig.problems.count,
            "problems": fig.problems.prefix(20).map { String($0.prefix(500)) }, "seconds": Int(seconds.rounded()),
        ]
        try appendReportLine(line, toFileIn: "CONCURRENCY_REPORT")
    }
}
