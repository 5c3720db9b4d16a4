import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `prune` against restic 0.14: the same plan (restic's dry-run statistics, line for line), a
/// repository restic checks and restores afterwards, and a prune killed at random moments
/// always leaves a repository restic accepts, which the next prune finishes cleaning.
@Suite struct PruneTests {
    /// A repository with churn: four backups of a changing tree (4 MiB packs), the first two
    /// forgotten. Returns the repository and the source directory of the last backup.
    func makeChurnedRepository(_ dir: String, writer: String) throws -> String {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        let random = FileHandle(forReadingAtPath: "/dev/urandom")!
        defer { try? random.close() }
        let repo = dir + "/repo"
        func run(_ args: [String]) throws {
            if writer == "restic" {
                expectStatus(try Restic.run(args, repo: repo, password: password, cwd: dir), 0, "restic \(args)")
            } else {
                expectStatus(try OffsiteBinary.run(["-r", repo] + args, password: password, cwd: dir), 0, "offsite \(args)")
            }
        }
        if writer == "restic" {
            expectStatus(try Restic.run(["init"], repo: repo, password: password), 0, "init")
        } else {
            expectStatus(try OffsiteBinary.run(["init", "-r", repo], password: password), 0, "init")
        }
        for round in 0..<4 {
            for i in 0..<4 { try f.file("r\(round)-\(i)", [UInt8](random.readData(ofLength: 1_500_000))) }
            if round > 0 { try FileManager.default.removeItem(atPath: dir + "/src/r\(round - 1)-0") }
            try f.file("notes.txt", Array("round \(round)\n".utf8))
            try run(["backup", "src", "--pack-size", "4"])
        }
        let snaps = try jsonArray(
            expectStatus(try Restic.run(["snapshots", "--json"], repo: repo, password: password), 0, "snapshots").stdout)
        let oldest = snaps.compactMap { $0["id"] as? String }.prefix(2)
        expectStatus(try Restic.run(["forget"] + oldest, repo: repo, password: password), 0, "forget")
        return repo
    }

    /// The statistics block of a prune run: from "to repack:" to "unused size after prune".
    func statistics(_ output: String) -> [String] {
        let lines = output.split(separator: "\n").map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("to repack:") }) else { return [] }
        return Array(lines[start...].prefix { !$0.isEmpty }.prefix(6))
    }

    func verifyEverySnapshotRestores(_ repo: String, _ dir: String) throws {
        let check = try Restic.run(["check", "--read-data"], repo: repo, password: password)
        #expect(check.status == 0, "restic check --read-data: \(check.stderr)")
        let snaps = try jsonArray(
            expectStatus(try Restic.run(["snapshots", "--json"], repo: repo, password: password), 0, "snapshots").stdout)
        #expect(snaps.count == 2)
        for (n, s) in snaps.enumerated() {
            let id = try #require(s["id"] as? String)
            expectStatus(
                try Restic.run(["restore", id, "--target", dir + "/restore-\(n)"], repo: repo, password: password), 0,
                "restic restore \(id)")
        }
        // The newest snapshot is the source as it is now.
        let latest = try TreeFixture.describe(dir + "/restore-1" + "/src", includeDirectoryTimes: false)
        let source = try TreeFixture.describe(dir + "/src", includeDirectoryTimes: false)
        #expect(latest.filter { !$0.value.hasPrefix("dir") } == source.filter { !$0.value.hasPrefix("dir") })
    }

    @Test(arguments: ["offsite", "restic"])
    func planMatchesResticAndResultChecks(writer: String) async throws {
        try await withScratchDirectory { dir in
            let repo = try makeChurnedRepository(dir, writer: writer)
            let theirs = expectStatus(try Restic.run(["prune", "--dry-run"], repo: repo, password: password), 0, "restic prune --dry-run")
            let ours = expectStatus(
                try OffsiteBinary.run(["-r", repo, "prune", "--dry-run"], password: password), 0, "offsite prune --dry-run")
            #expect(statistics(ours.stdoutString).count == 6)
            #expect(statistics(ours.stdoutString) == statistics(theirs.stdoutString), "\(ours.stdoutString)\n---\n\(theirs.stdoutString)")
            // Other limits give the same plan too.
            for flags in [["--max-unused", "0"], ["--max-unused", "50%"], ["--max-repack-size", "2M"], ["--repack-cacheable-only"]] {
                let t = expectStatus(try Restic.run(["prune", "--dry-run"] + flags, repo: repo, password: password), 0, "restic \(flags)")
                let o = expectStatus(
                    try OffsiteBinary.run(["-r", repo, "prune", "--dry-run"] + flags, password: password), 0, "offsite \(flags)")
                #expect(statistics(o.stdoutString) == statistics(t.stdoutString), "\(flags)")
            }
            let before = try FileManager.default.subpathsOfDirectory(atPath: repo).count
            let pruned = expectStatus(try OffsiteBinary.run(["-r", repo, "prune"], password: password), 0, "offsite prune")
            #expect(pruned.stdoutString.contains("done"))
            #expect(try FileManager.default.subpathsOfDirectory(atPath: repo).count < before)
            try verifyEverySnapshotRestores(repo, dir)
            // Nothing is left to do, by either tool's account.
            let again = expectStatus(try Restic.run(["prune", "--dry-run"], repo: repo, password: password), 0, "restic prune after")
            #expect(statistics(again.stdoutString).first?.hasSuffix(" 0 blobs / 0 B") == true, "\(again.stdoutString)")
            let check = expectStatus(try OffsiteBinary.run(["-r", repo, "check"], password: password), 0, "offsite check")
            #expect(!check.stdoutString.contains("additional files"))
        }
    }

    /// `forget --prune`: the dry run's prune plan leaves out the snapshots that would be
    /// removed (restic's numbers), and the real run removes them and prunes.
    @Test func forgetWithPrune() async throws {
        try await withScratchDirectory { dir in
            let repo = try makeChurnedRepository(dir, writer: "offsite")
            let args = ["forget", "--keep-last", "1", "--prune", "--dry-run"]
            let theirs = expectStatus(try Restic.run(args, repo: repo, password: password), 0, "restic forget --prune -n")
            let ours = expectStatus(try OffsiteBinary.run(["-r", repo] + args, password: password), 0, "offsite forget --prune -n")
            #expect(ours.stdoutString.contains("1 snapshots have been removed, running prune"))
            #expect(statistics(ours.stdoutString).count == 6)
            #expect(statistics(ours.stdoutString) == statistics(theirs.stdoutString), "\(ours.stdoutString)\n---\n\(theirs.stdoutString)")
            let run = expectStatus(
                try OffsiteBinary.run(["-r", repo, "forget", "--keep-last", "1", "--prune"], password: password), 0, "forget --prune")
            #expect(run.stdoutString.contains("done"))
            let check = try Restic.run(["check", "--read-data"], repo: repo, password: password)
            #expect(check.status == 0, "\(check.stderr)")
            let after = expectStatus(try Restic.run(["prune", "--dry-run"], repo: repo, password: password), 0, "restic prune after")
            #expect(statistics(after.stdoutString).first?.hasSuffix(" 0 blobs / 0 B") == true, "\(after.stdoutString)")
            expectStatus(try Restic.run(["restore", "latest", "--target", dir + "/out"], repo: repo, password: password), 0, "restore")
        }
    }

    @Test func killedPruneLeavesAValidRepository() async throws {
        try await withScratchDirectory { dir in
            let repo = try makeChurnedRepository(dir, writer: "offsite")
            let seed = UInt64.random(in: 1...UInt64.max)
            var rng = SplitMix64(seed: seed)
            for attempt in 0..<4 {
                let delay = UInt32(rng.next() % 1_500_000)
                try runOffsiteAndKill(["-r", repo, "prune", "--max-unused", "0"], environment: ["RESTIC_PASSWORD": password], after: delay)
                // The kill left the lock behind: it is stale (dead PID on this host).
                expectStatus(try OffsiteBinary.run(["-r", repo, "unlock"], password: password), 0, "unlock")
                let check = try Restic.run(["check"], repo: repo, password: password)
                #expect(check.status == 0, "seed \(seed), attempt \(attempt), killed after \(delay) µs: \(check.stderr)")
            }
            expectStatus(try OffsiteBinary.run(["-r", repo, "prune", "--max-unused", "0"], password: password), 0, "prune to the end")
            try verifyEverySnapshotRestores(repo, dir)
            let after = expectStatus(try OffsiteBinary.run(["-r", repo, "check"], password: password), 0, "offsite check")
            #expect(!after.stdoutString.contains("additional files"), "seed \(seed)")
        }
    }

    @Test func refusesWhenDataIsMissing() async throws {
        try await withScratchDirectory { dir in
            let repo = try makeChurnedRepository(dir, writer: "offsite")
            // Remove a pack the latest snapshot needs (the last one written): prune must change
            // nothing and say why.
            let packs = (FileManager.default.enumerator(atPath: repo + "/data")?.allObjects as? [String] ?? []).filter { $0.count == 67 }
            let newest = try #require(
                packs.max { a, b in
                    var sa = stat(), sb = stat()
                    stat(repo + "/data/" + a, &sa)
                    stat(repo + "/data/" + b, &sb)
                    return (sa.st_mtim.tv_sec, sa.st_mtim.tv_nsec) < (sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec)
                })
            let path = repo + "/data/" + newest
            let saved = try Data(contentsOf: URL(fileURLWithPath: path))
            try FileManager.default.removeItem(atPath: path)
            let before = try FileManager.default.subpathsOfDirectory(atPath: repo).sorted()
            let r = expectStatus(try OffsiteBinary.run(["-r", repo, "prune"], password: password), 1, "prune with a needed pack missing")
            #expect(r.stderr.contains(String(newest.suffix(64))) && r.stderr.contains("nothing was changed"), "\(r.stderr)")
            #expect(try FileManager.default.subpathsOfDirectory(atPath: repo).sorted() == before)
            try saved.write(to: URL(fileURLWithPath: path))
            expectStatus(try OffsiteBinary.run(["-r", repo, "prune"], password: password), 0, "prune with the pack back")
        }
    }
}
