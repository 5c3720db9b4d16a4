import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `check` against restic 0.14: clean repositories written by either tool pass; every kind of
/// damage is found by both tools alike (same verdict, and offsite names the damaged object);
/// `--read-data-subset n/t` reads the same group of packs as restic.
@Suite struct CheckTests {
    /// A repository of several data packs (4 MiB packs, ~20 MB of random files) written by `tool`.
    func makeRepository(_ dir: String, tool: String) async throws -> String {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        var random = TreeFixture.RandomBytes(seed: 1001)
        for i in 0..<10 { try f.file("file-\(i)", random.next(2 << 20)) }
        try f.dir("sub")
        try f.file("sub/small.txt", Array("small\n".utf8))
        let repo = dir + "/repo"
        if tool == "restic" {
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
            expectStatus(
                try await Restic.run(["backup", "src", "--pack-size", "4"], repo: repo, password: password, cwd: dir), 0, "backup")
        } else {
            try await TestRepository.makeLocal(at: repo, password: password)
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", "src", "--pack-size", "4"], password: password, cwd: dir), 0, "backup")
        }
        return repo
    }

    /// Data packs as (relative path, size), largest first.
    func packs(_ repo: String) -> [(path: String, size: Int)] {
        let names = (FileManager.default.enumerator(atPath: repo + "/data")?.allObjects as? [String] ?? []).filter { $0.count == 67 }
        return names.map { name -> (String, Int) in
            var st = stat()
            stat(repo + "/data/" + name, &st)
            return ("data/" + name, Int(st.st_size))
        }.sorted { $0.1 > $1.1 }
    }

    func flipByte(_ path: String, at offset: Int) throws {
        chmod(path, 0o600)
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try h.seek(toOffset: UInt64(offset))
        let b = try h.read(upToCount: 1)![0]
        try h.seek(toOffset: UInt64(offset))
        try h.write(contentsOf: Data([b ^ 0x40]))
        try h.close()
    }

    /// Runs check with both tools; their verdicts (success or not) must agree. Returns offsite's result.
    @discardableResult
    func bothCheck(_ repo: String, _ args: [String], expectOK: Bool, _ what: String) async throws -> ProcessRunner.Result {
        let theirs = try await Restic.run(["check"] + args, repo: repo, password: password)
        let ours = try await OffsiteBinary.run(["-r", repo, "check"] + args, password: password)
        #expect((theirs.status == 0) == expectOK, "restic check \(args) on \(what): \(theirs.stderr)")
        #expect((ours.status == 0) == expectOK, "offsite check \(args) on \(what): \(ours.stderr)")
        if !expectOK {
            #expect(ours.status == 1)
            #expect(ours.stderr.contains("repository contains errors"))
        } else {
            #expect(ours.stdoutString.contains("no errors were found"))
        }
        return ours
    }

    @Test(arguments: ["offsite", "restic"])
    func cleanRepositoriesPass(writer: String) async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir, tool: writer)
            #expect(packs(repo).count >= 4)
            let r = try await bothCheck(repo, [], expectOK: true, "a clean repository")
            #expect(r.stdoutString.contains("check snapshots, trees and blobs"))
            let full = try await bothCheck(repo, ["--read-data"], expectOK: true, "a clean repository")
            #expect(full.stdoutString.contains("read all data"))
            // check holds an exclusive lock and releases it.
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: repo + "/locks")) ?? []).isEmpty)
        }
    }

    @Test func damagedPackIsFoundByReadingData() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir, tool: "restic")
            let (pack, size) = packs(repo)[0]
            try flipByte(repo + "/" + pack, at: size / 3)
            // Sizes still match: only reading the data finds it.
            try await bothCheck(repo, [], expectOK: true, "a flipped byte without --read-data")
            let r = try await bothCheck(repo, ["--read-data"], expectOK: false, "a flipped byte")
            let id = String(pack.suffix(64))
            #expect(r.stderr.contains("Pack ID does not match, want \(id)"), "\(r.stderr)")
        }
    }

    @Test func missingTruncatedAndExtraPacks() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir, tool: "offsite")
            let all = packs(repo)
            // An extra pack no index knows: reported, not an error.
            let extra = repo + "/data/00/" + String(repeating: "0", count: 64)
            try FileManager.default.createDirectory(atPath: repo + "/data/00", withIntermediateDirectories: true)
            try Data("not a pack".utf8).write(to: URL(fileURLWithPath: extra))
            let r = try await bothCheck(repo, [], expectOK: true, "an unreferenced pack")
            #expect(r.stdoutString.contains("1 additional files were found in the repo"))
            // Each one is named without -v, as restic does (a lost index file shows as its packs).
            #expect(r.stdoutString.contains("pack \(String(repeating: "0", count: 64)): not referenced in any index"))
            try FileManager.default.removeItem(atPath: extra)

            // A truncated pack: the size no longer matches the index.
            let truncated = repo + "/" + all[1].path
            chmod(truncated, 0o600)
            #expect(truncate(truncated, off_t(all[1].size - 100)) == 0)
            let t = try await bothCheck(repo, [], expectOK: false, "a truncated pack")
            #expect(
                t.stderr.contains("pack \(all[1].path.suffix(64)): unexpected file size: got \(all[1].size - 100), expected \(all[1].size)")
            )

            // A missing pack.
            try FileManager.default.removeItem(atPath: repo + "/" + all[0].path)
            let m = try await bothCheck(repo, [], expectOK: false, "a missing pack")
            #expect(m.stderr.contains("pack \(all[0].path.suffix(64)): does not exist"))
        }
    }

    @Test func damagedIndexAndSnapshotAreNamed() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir, tool: "offsite")
            let snapshot = try FileManager.default.contentsOfDirectory(atPath: repo + "/snapshots")[0]
            try flipByte(repo + "/snapshots/" + snapshot, at: 40)
            let s = try await bothCheck(repo, [], expectOK: false, "a damaged snapshot")
            #expect(s.stderr.contains("snapshots/\(snapshot)"), "\(s.stderr)")

            let repo2 = try await makeRepository(dir + "/two", tool: "offsite")
            let index = try FileManager.default.contentsOfDirectory(atPath: repo2 + "/index")[0]
            try flipByte(repo2 + "/index/" + index, at: 40)
            let i = try await bothCheck(repo2, [], expectOK: false, "a damaged index file")
            #expect(i.stderr.contains("index/\(index)"), "\(i.stderr)")
        }
    }

    @Test func readDataSubsetSelectsTheSameGroupsAsRestic() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir, tool: "offsite")
            let (pack, size) = packs(repo)[0]
            try flipByte(repo + "/" + pack, at: size / 2)
            let firstByte = Int(String(pack.suffix(64).prefix(2)), radix: 16)!
            var detectedIn: [Int] = []
            for n in 1...4 {
                let damagedGroup = firstByte % 4 == n - 1
                let r = try await bothCheck(repo, ["--read-data-subset", "\(n)/4"], expectOK: !damagedGroup, "subset \(n)/4")
                if r.status != 0 { detectedIn.append(n) }
                #expect(r.stdoutString.contains("read group #\(n) of "))
            }
            #expect(detectedIn == [firstByte % 4 + 1])
            // Every pack: 100% and a size larger than the repository find it too.
            try await bothCheck(repo, ["--read-data-subset", "100%"], expectOK: false, "subset 100%")
            try await bothCheck(repo, ["--read-data-subset", "1G"], expectOK: false, "subset 1G")
            for bad in ["0/4", "5/4", "abc", "0%", "101%"] {
                let r = expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "check", "--read-data-subset", bad], password: password), 1, bad)
                #expect(r.stderr.contains("invalid --read-data-subset"))
            }
        }
    }
}
