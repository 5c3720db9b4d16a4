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
    func makeChurnedRepository(_ dir: String, writer: String) async throws -> String {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        var random = TreeFixture.RandomBytes(seed: 1002)
        let repo = dir + "/repo"
        func run(_ args: [String]) async throws {
            if writer == "restic" {
                expectStatus(try await Restic.run(args, repo: repo, password: password, cwd: dir), 0, "restic \(args)")
            } else {
                expectStatus(try await OffsiteBinary.run(["-r", repo] + args, password: password, cwd: dir), 0, "offsite \(args)")
            }
        }
        if writer == "restic" {
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
        } else {
            try await TestRepository.makeLocal(at: repo, password: password)
        }
        for round in 0..<4 {
            for i in 0..<4 { try f.file("r\(round)-\(i)", random.next(1_500_000)) }
            if round > 0 { try FileManager.default.removeItem(atPath: dir + "/src/r\(round - 1)-0") }
            try f.file("notes.txt", Array("round \(round)\n".utf8))
            try await run(["backup", "src", "--pack-size", "4"])
        }
        let snaps = try jsonArray(
            expectStatus(try await Restic.run(["snapshots", "--json"], repo: repo, password: password), 0, "snapshots").stdout)
        let oldest = snaps.compactMap { $0["id"] as? String }.prefix(2)
        expectStatus(try await Restic.run(["forget"] + oldest, repo: repo, password: password), 0, "forget")
        return repo
    }

    /// The statistics block of a prune run: from "to repack:" to "unused size after prune".
    func statistics(_ output: String) -> [String] {
        let lines = output.split(separator: "\n").map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("to repack:") }) else { return [] }
        return Array(lines[start...].prefix { !$0.isEmpty }.prefix(6))
    }

    func verifyEverySnapshotRestores(_ repo: String, _ dir: String) async throws {
        let check = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
        #expect(check.status == 0, "restic check --read-data: \(check.stderr)")
        let snaps = try jsonArray(
            expectStatus(try await Restic.run(["snapshots", "--json"], repo: repo, password: password), 0, "snapshots").stdout)
        #expect(snaps.count == 2)
        for (n, s) in snaps.enumerated() {
            let id = try #require(s["id"] as? String)
            expectStatus(
                try await Restic.run(["restore", id, "--target", dir + "/restore-\(n)"], repo: repo, password: password), 0,
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
            let repo = try await makeChurnedRepository(dir, writer: writer)
            let theirs = expectStatus(
                try await Restic.run(["prune", "--dry-run"], repo: repo, password: password), 0, "restic prune --dry-run")
            let ours = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "prune", "--dry-run"], password: password), 0, "offsite prune --dry-run")
            #expect(statistics(ours.stdoutString).count == 6)
            #expect(statistics(ours.stdoutString) == statistics(theirs.stdoutString), "\(ours.stdoutString)\n---\n\(theirs.stdoutString)")
            // Other limits give the same plan too.
            for flags in [["--max-unused", "0"], ["--max-unused", "50%"], ["--max-repack-size", "2M"], ["--repack-cacheable-only"]] {
                let t = expectStatus(
                    try await Restic.run(["prune", "--dry-run"] + flags, repo: repo, password: password), 0, "restic \(flags)")
                let o = expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "prune", "--dry-run"] + flags, password: password), 0, "offsite \(flags)")
                #expect(statistics(o.stdoutString) == statistics(t.stdoutString), "\(flags)")
            }
            let before = try FileManager.default.subpathsOfDirectory(atPath: repo).count
            let pruned = expectStatus(try await OffsiteBinary.run(["-r", repo, "prune"], password: password), 0, "offsite prune")
            #expect(pruned.stdoutString.contains("done"))
            #expect(try FileManager.default.subpathsOfDirectory(atPath: repo).count < before)
            try await verifyEverySnapshotRestores(repo, dir)
            // Nothing is left to do, by either tool's account.
            let again = expectStatus(try await Restic.run(["prune", "--dry-run"], repo: repo, password: password), 0, "restic prune after")
            #expect(statistics(again.stdoutString).first?.hasSuffix(" 0 blobs / 0 B") == true, "\(again.stdoutString)")
            let check = expectStatus(try await OffsiteBinary.run(["-r", repo, "check"], password: password), 0, "offsite check")
            #expect(!check.stdoutString.contains("additional files"))
        }
    }

    /// `forget --prune`: the dry run's prune plan leaves out the snapshots that would be
    /// removed (restic's numbers), and the real run removes them and prunes.
    @Test func forgetWithPrune() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeChurnedRepository(dir, writer: "offsite")
            let args = ["forget", "--keep-last", "1", "--prune", "--dry-run"]
            let theirs = expectStatus(try await Restic.run(args, repo: repo, password: password), 0, "restic forget --prune -n")
            let ours = expectStatus(try await OffsiteBinary.run(["-r", repo] + args, password: password), 0, "offsite forget --prune -n")
            #expect(ours.stdoutString.contains("1 snapshots have been removed, running prune"))
            #expect(statistics(ours.stdoutString).count == 6)
            #expect(statistics(ours.stdoutString) == statistics(theirs.stdoutString), "\(ours.stdoutString)\n---\n\(theirs.stdoutString)")
            let run = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "forget", "--keep-last", "1", "--prune"], password: password), 0, "forget --prune")
            #expect(run.stdoutString.contains("done"))
            let check = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
            #expect(check.status == 0, "\(check.stderr)")
            let after = expectStatus(try await Restic.run(["prune", "--dry-run"], repo: repo, password: password), 0, "restic prune after")
            #expect(statistics(after.stdoutString).first?.hasSuffix(" 0 blobs / 0 B") == true, "\(after.stdoutString)")
            expectStatus(
                try await Restic.run(["restore", "latest", "--target", dir + "/out"], repo: repo, password: password), 0, "restore")
        }
    }

    @Test func killedPruneLeavesAValidRepository() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeChurnedRepository(dir, writer: "offsite")
            let seed = UInt64.random(in: 1...UInt64.max)
            var rng = SplitMix64(seed: seed)
            for attempt in 0..<4 {
                let delay = UInt32(rng.next() % 1_500_000)
                try await runOffsiteAndKill(
                    ["-r", repo, "prune", "--max-unused", "0"], environment: ["RESTIC_PASSWORD": password], after: delay)
                // The kill left the lock behind: it is stale (dead PID on this host).
                expectStatus(try await OffsiteBinary.run(["-r", repo, "unlock"], password: password), 0, "unlock")
                let check = try await Restic.run(["check"], repo: repo, password: password)
                #expect(check.status == 0, "seed \(seed), attempt \(attempt), killed after \(delay) µs: \(check.stderr)")
            }
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "prune", "--max-unused", "0"], password: password), 0, "prune to the end")
            try await verifyEverySnapshotRestores(repo, dir)
            let after = expectStatus(try await OffsiteBinary.run(["-r", repo, "check"], password: password), 0, "offsite check")
            #expect(!after.stdoutString.contains("additional files"), "seed \(seed)")
        }
    }

    @Test func refusesWhenDataIsMissing() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeChurnedRepository(dir, writer: "offsite")
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
            let r = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "prune"], password: password), 1, "prune with a needed pack missing")
            #expect(r.stderr.contains(String(newest.suffix(64))) && r.stderr.contains("nothing was changed"), "\(r.stderr)")
            #expect(try FileManager.default.subpathsOfDirectory(atPath: repo).sorted() == before)
            try saved.write(to: URL(fileURLWithPath: path))
            expectStatus(try await OffsiteBinary.run(["-r", repo, "prune"], password: password), 0, "prune with the pack back")
        }
    }

    /// The data packs the index files of `repo` list (restic's `cat index`).
    func dataPacks(_ repo: String) async throws -> Set<String> {
        let list = expectStatus(try await Restic.run(["list", "index"], repo: repo, password: password), 0, "restic list index")
        var packs = Set<String>()
        for id in list.stdoutString.split(separator: "\n").map(String.init) {
            let raw = expectStatus(try await Restic.run(["cat", "index", id], repo: repo, password: password), 0, "restic cat index").stdout
            let index = try #require(try JSONSerialization.jsonObject(with: raw) as? [String: Any])
            for pack in index["packs"] as? [[String: Any]] ?? [] {
                let blobs = pack["blobs"] as? [[String: Any]] ?? []
                if blobs.contains(where: { $0["type"] as? String == "data" }), let p = pack["id"] as? String { packs.insert(p) }
            }
        }
        return packs
    }

    /// Two clients stored the same file at the same moment, in copies of different sizes: offsite
    /// uncompressed, alone in its pack A, and restic compressed, in a pack B beside another file,
    /// with A sorting first. The duplicates and what prune removes are counted by the copy kept (A:
    /// a pack made only of duplicates is kept, as restic 0.17+ does), so the figures add up.
    /// restic 0.14's accounting, which offsite followed before, counted A's larger copy as used,
    /// then deleted A and "removed" more than it had counted unused: the wrapped "unused size after
    /// prune" that crashed a forget --prune in the concurrency driver.
    @Test func unequalCopiesOfABlobAreCountedByTheCopyKept() async throws {
        try await withScratchDirectory { dir in
            var attempts = 0
            while true {
                attempts += 1
                try #require(attempts <= 30, "pack A never sorted before pack B in 30 attempts")
                let root = dir + "/a\(attempts)", repo = root + "/repo", other = root + "/other"
                let f = TreeFixture(root: root)
                try f.dir("x")
                try f.dir("y")
                // Compressible, and under the chunker's 512 KiB minimum: one blob.
                let text = Array(String(repeating: "attempt \(attempts) \(UInt64.random(in: 0...UInt64.max)) line\n", count: 4000).utf8)
                try f.file("x/same.txt", text)
                try f.file("y/same.txt", text)
                try f.file("y/other.bin", (0..<50_000).map { _ in UInt8.random(in: 0...255) })
                try await TestRepository.makeLocal(at: repo, password: password)
                try FileManager.default.copyItem(atPath: repo, toPath: other)
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "--compression", "off", "backup", "x"], password: password, cwd: root), 0,
                    "offsite backup")
                expectStatus(try await Restic.run(["backup", "y"], repo: other, password: password, cwd: root), 0, "restic backup")
                let a = try await dataPacks(repo), b = try await dataPacks(other)
                try #require(a.count == 1 && b.count == 1, "\(a) \(b)")
                guard a.first! < b.first! else { continue }
                // The second client's files join the first's, as they would in one shared repository.
                for kind in ["data", "index", "snapshots"] {
                    for rel in listing(other + "/" + kind) where !FileManager.default.fileExists(atPath: repo + "/\(kind)/" + rel) {
                        let target = repo + "/\(kind)/" + rel
                        try FileManager.default.createDirectory(
                            atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                        try FileManager.default.copyItem(atPath: other + "/\(kind)/" + rel, toPath: target)
                    }
                }
                let plan = expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "-v", "prune", "--dry-run"], password: password), 0, "prune --dry-run")
                func figure(_ label: String, in output: String = plan.stdoutString) -> String? {
                    output.split(separator: "\n").first { $0.hasPrefix(label) }.map {
                        $0.dropFirst(label.count).trimmingCharacters(in: .whitespaces)
                    }
                }
                let duplicates = try #require(figure("duplicates:"), "\(plan.stdoutString)")
                #expect(duplicates.hasPrefix("1 blobs / "), "\(plan.stdoutString)")
                // B's copy goes (B is repacked), A's is kept: removed is exactly the duplicate.
                #expect(figure("to delete:") == "0 blobs / 0 B", "\(plan.stdoutString)")
                #expect(figure("this removes:") == duplicates, "\(plan.stdoutString)")
                #expect(figure("unused size after prune:")?.hasPrefix("0 B") == true, "\(plan.stdoutString)")
                expectStatus(try await OffsiteBinary.run(["-r", repo, "prune"], password: password), 0, "prune")
                let check = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
                #expect(check.status == 0, "restic check --read-data: \(check.stderr)")
                for (n, path) in ["x", "y"].enumerated() {
                    let target = root + "/restore-\(n)"
                    expectStatus(
                        try await Restic.run(
                            ["restore", "latest", "--path", root + "/" + path, "--target", target], repo: repo, password: password),
                        0, "restic restore \(path)")
                    #expect(try Data(contentsOf: URL(fileURLWithPath: target + "/\(path)/same.txt")) == Data(text))
                }
                let again = expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "-v", "prune", "--dry-run"], password: password), 0, "again")
                #expect(!again.stdoutString.contains("duplicates:"), "\(again.stdoutString)")
                #expect(figure("total prune:", in: again.stdoutString)?.hasPrefix("0 blobs") == true, "\(again.stdoutString)")
                return
            }
        }
    }

    func listing(_ dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir + "/" + $0, isDirectory: &isDir) && !isDir.boolValue
        }
    }
}
