import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `stats` and `tag` against restic 0.14: the same output for the same repository, and
/// snapshots retagged by one tool read back by the other.
@Suite struct StatsTagTests {
    static let modes = ["restore-size", "files-by-contents", "raw-data", "blobs-per-file"]

    /// A tree with everything the counting modes treat specially: identical files at several
    /// paths, a hard-linked file (three names), empty files, symlinks, a multi-blob file, a
    /// directory, and a file whose content changes between snapshots.
    static func buildSource(_ root: String) throws {
        let f = TreeFixture(root: root)
        try f.dir("")
        try f.dir("dir1/deeper")
        try f.dir("hard/sub")
        try f.dir("empty-dir")
        let big = TreeFixture.randomBytes(3 << 20, seed: 21)
        try f.file("dup-big.bin", big)
        try f.file("dir1/dup-big-copy.bin", big)
        try f.file("dir1/deeper/dup-small", Array("same small content\n".utf8))
        try f.file("dup-small", Array("same small content\n".utf8))
        try f.file("hard/orig", TreeFixture.randomBytes(70_000, seed: 22))
        guard link(root + "/hard/orig", root + "/hard/link1") == 0, link(root + "/hard/orig", root + "/hard/sub/link2") == 0 else {
            throw FixtureError(message: "cannot create hard links under \(root)")
        }
        try f.file("empty-1", [])
        try f.file("dir1/empty-2", [])
        try f.file("exactly-1024", TreeFixture.randomBytes(1024, seed: 23))
        try f.file("changing.txt", Array("first version\n".utf8))
        try f.symlink("link-to-big", to: "dup-big.bin")
        try f.symlink("dir1/link-dangling", to: "nowhere")
    }

    /// restic init + three restic backups (two hosts, two tags, a second path set).
    static func makeResticRepository(_ dir: String, version: String) async throws -> String {
        try buildSource(dir + "/src")
        let repo = dir + "/repo"
        try await TestRepository.makeLocal(at: repo, password: password, tool: "restic", version: Int(version)!)
        expectStatus(
            try await Restic.run(
                ["backup", "src", "--host", "h1", "--tag", "t1", "--time", "2024-01-01 10:00:00"], repo: repo, password: password, cwd: dir),
            0,
            "restic backup 1")
        try Data("second version, longer\n".utf8).write(to: URL(fileURLWithPath: dir + "/src/changing.txt"))
        try Data(TreeFixture.randomBytes(5000, seed: 24)).write(to: URL(fileURLWithPath: dir + "/src/dir1/new.bin"))
        expectStatus(
            try await Restic.run(
                ["backup", "src", "--host", "h2", "--tag", "t2", "--time", "2024-01-02 10:00:00"], repo: repo, password: password, cwd: dir),
            0,
            "restic backup 2")
        expectStatus(
            try await Restic.run(
                ["backup", "src/dir1", "--host", "h1", "--tag", "t1,t3", "--time", "2024-01-03 10:00:00"], repo: repo, password: password,
                cwd: dir), 0,
            "restic backup 3")
        return repo
    }

    static func snapshotIDs(_ repo: String) async throws -> [String] {
        try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout).compactMap {
            $0["id"] as? String
        }
    }

    /// Runs `stats` with both tools and expects the same stdout, stderr and exit status.
    static func expectSameStats(_ args: [String], repo: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let theirs = try await Restic.run(["stats"] + args, repo: repo, password: password)
        let ours = try await OffsiteBinary.run(["-r", repo, "stats"] + args, password: password)
        #expect(theirs.status == 0, "restic stats \(args): \(theirs.stderr)", sourceLocation: sourceLocation)
        #expect(ours.status == theirs.status, "stats \(args): exit \(ours.status), restic \(theirs.status)", sourceLocation: sourceLocation)
        #expect(
            ours.stdoutString == theirs.stdoutString, "stats \(args)\noffsite:\n\(ours.stdoutString)\nrestic:\n\(theirs.stdoutString)",
            sourceLocation: sourceLocation)
        #expect(
            ours.stderr == theirs.stderr, "stats \(args) stderr\noffsite: \(ours.stderr)\nrestic: \(theirs.stderr)",
            sourceLocation: sourceLocation)
    }

    @Test(arguments: ["1", "2"])
    func statsMatchesResticInEveryMode(version: String) async throws {
        try await withScratchDirectory { dir in
            let repo = try await Self.makeResticRepository(dir, version: version)
            let ids = try await Self.snapshotIDs(repo)
            try #require(ids.count == 3)
            // Every selection form on v2; the v1 repository (uncompressed blobs) with the main ones.
            let selections: [[String]] =
                version == "1"
                ? [[], ["latest"], ["--host", "h1"]]
                : [
                    [], ["latest"], [String(ids[0].prefix(8))], [ids[1], String(ids[0].prefix(10)), ids[1]], ["--host", "h1"],
                    ["--tag", "t1"], ["--tag", "t2", "latest"], ["--host", "nope", "latest"], ["deadbeef"], ["--host", "h2", ids[0]],
                ]
            for mode in Self.modes {
                for selection in selections {
                    try await Self.expectSameStats(["--mode", mode] + selection, repo: repo)
                }
                // JSON comes from the same totals: its shape is checked on two selections.
                for selection in [[], ["--host", "h1"]] {
                    try await Self.expectSameStats(["--mode", mode, "--json"] + selection, repo: repo)
                }
            }
            // `snapshots` selects as stats does: the same snapshots, the same notices, exit 0.
            if version == "2" {
                for selection in [["deadbeef", ids[2]], ["--host", "h2", ids[0]], ["--host", "nope", "latest"], ["--tag", "t1"]] {
                    let theirs = try await Restic.run(["snapshots", "--json"] + selection, repo: repo, password: password)
                    let ours = try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"] + selection, password: password)
                    #expect(ours.status == theirs.status, "snapshots \(selection): exit \(ours.status), restic \(theirs.status)")
                    #expect(ours.stderr == theirs.stderr, "snapshots \(selection)\noffsite: \(ours.stderr)\nrestic: \(theirs.stderr)")
                    #expect(
                        try jsonArray(ours.stdout).map { $0["id"] as? String }
                            == (try jsonArray(theirs.stdout).map { $0["id"] as? String }),
                        "snapshots \(selection)")
                }
            }
            // The default mode, and a bad one.
            try await Self.expectSameStats([], repo: repo)
            let bad = try await OffsiteBinary.run(["-r", repo, "stats", "--mode", "bogus"], password: password)
            let badRestic = try await Restic.run(["stats", "--mode", "bogus"], repo: repo, password: password)
            #expect(bad.status == 1 && badRestic.status == 1)
            #expect(bad.stderr == badRestic.stderr)

            // Spot-check the numbers themselves, not only the agreement: restore-size of the
            // first snapshot counts the hard-linked file once.
            let first =
                try JSONSerialization.jsonObject(
                    with: expectStatus(
                        try await OffsiteBinary.run(["-r", repo, "stats", "--json", ids[0]], password: password), 0, "offsite stats --json"
                    ).stdout) as? [String: Any]
            // Directory and symlink nodes have no size; the hard-linked file counts once.
            #expect(first?["total_size"] as? Int == 2 * (3 << 20) + 2 * 19 + 70_000 + 1024 + 14)
            // Nodes: "src" (restic 0.14 roots a relative target at its own name), then 18
            // items inside it (5 directories, 11 file names, 2 symlinks).
            #expect(first?["total_file_count"] as? Int == 1 + 18)
            #expect(first?["snapshots_count"] as? Int == 1)
        }
    }

    @Test func statsOnARepositoryWrittenByOffsite() async throws {
        try await withScratchDirectory { dir in
            try Self.buildSource(dir + "/src")
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", "src", "--tag", "a"], password: password, cwd: dir), 0, "offsite backup")
            try Data("changed\n".utf8).write(to: URL(fileURLWithPath: dir + "/src/changing.txt"))
            expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", "src"], password: password, cwd: dir), 0, "offsite backup 2")
            for mode in Self.modes {
                try await Self.expectSameStats(["--mode", mode], repo: repo)
                try await Self.expectSameStats(["--mode", mode, "--json", "latest"], repo: repo)
            }
        }
    }

    /// restic's size formatting at its edges: "0 B" padded to five columns, 1024 bytes still in
    /// bytes, one more byte in KiB.
    @Test func statsSizeFormattingEdges() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir)
            try f.dir("zero")
            try f.file("zero/empty", [])
            try f.dir("kib")
            try f.file("kib/exact", TreeFixture.randomBytes(1024, seed: 31))
            try f.dir("over")
            try f.file("over/one-more", TreeFixture.randomBytes(1025, seed: 32))
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
            for sub in ["zero", "kib", "over"] {
                expectStatus(
                    try await Restic.run(["backup", sub, "--tag", sub], repo: repo, password: password, cwd: dir), 0, "restic backup \(sub)"
                )
            }
            for sub in ["zero", "kib", "over"] {
                try await Self.expectSameStats(["--tag", sub], repo: repo)
            }
            let text = try await OffsiteBinary.run(["-r", repo, "stats", "--tag", "zero"], password: password).stdoutString
            #expect(text.hasSuffix("         Total Size:   0 B  \n"))
            let kib = try await OffsiteBinary.run(["-r", repo, "stats", "--tag", "kib"], password: password).stdoutString
            #expect(kib.hasSuffix("         Total Size:   1024 B\n"))
            let over = try await OffsiteBinary.run(["-r", repo, "stats", "--tag", "over"], password: password).stdoutString
            #expect(over.hasSuffix("         Total Size:   1.001 KiB\n"))
        }
    }

    // MARK: tag

    /// Lists snapshots with restic, without the fields that depend on the snapshot file's ID.
    static func snapshotsWithoutIDs(_ repo: String) async throws -> [NSDictionary] {
        try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout).map { s in
            var s = s
            s["id"] = nil
            s["short_id"] = nil
            return NSDictionary(dictionary: s)
        }
    }

    static func snapshotFiles(_ repo: String) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: repo + "/snapshots"))
    }

    @Test func offsiteTagsLikeRestic() async throws {
        try await withScratchDirectory { dir in
            let repo = try await Self.makeResticRepository(dir, version: "2")
            let copy = dir + "/repo-offsite"
            expectStatus(try await ProcessRunner.run("/bin/cp", ["-a", repo, copy]), 0, "cp -a")
            let originalIDs = try await Self.snapshotIDs(repo)

            // The same changes, one after the other, by restic on `repo` and offsite on `copy`.
            let steps: [[String]] = [
                ["--add", "a, b", "--add", "c"],  // every snapshot
                ["--remove", "b", "--remove", "t1", "--tag", "c", "--host", "h1"],  // swap-remove order
                ["--set", "x,y,x", "latest"],
                ["--add", "a", "--host", "h2"],  // already there: nothing changes
                ["--set", ""],  // restic 0.14: empty tags are dropped, nothing changes
                ["--add", "z", "--host", "h1", "--path", dir + "/src/dir1"],
                ["nosuchid", "--add", "q"],
                ["--add", "late", "--host", "nohost", "latest"],
            ]
            for step in steps {
                let before = try Self.snapshotFiles(copy)
                let theirs = try await Restic.run(["tag"] + step, repo: repo, password: password)
                let ours = try await OffsiteBinary.run(["-r", copy, "tag"] + step, password: password)
                #expect(ours.status == theirs.status, "tag \(step)")
                // restic also says "create exclusive lock for repository"; offsite takes no lock.
                let theirLines = theirs.stdoutString.split(separator: "\n").filter { $0 != "create exclusive lock for repository" }
                #expect(ours.stdoutString.split(separator: "\n") == theirLines, "tag \(step): \(ours.stdoutString)")
                #expect(ours.stderr == theirs.stderr, "tag \(step)")
                await #expect(try Self.snapshotsWithoutIDs(copy) == Self.snapshotsWithoutIDs(repo), "tag \(step)")
                // Every rewritten snapshot replaced its old file: the count never changes.
                let after = try Self.snapshotFiles(copy)
                #expect(after.count == before.count, "tag \(step)")
            }

            // Every snapshot was rewritten at least once: new files only, each pointing at the
            // first version, and the snapshot documents are exactly restic's.
            let final = try jsonArray(try await Restic.run(["snapshots", "--json"], repo: copy, password: password).stdout)
            #expect(Set(final.compactMap { $0["id"] as? String }).isDisjoint(with: originalIDs))
            #expect(Set(final.compactMap { $0["original"] as? String }) == Set(originalIDs))
            let finalRestic = try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout)
            // The stored documents, decrypted: byte for byte what restic wrote for the same change.
            let ourRepo = try await Repository.open(backend: LocalBackend(path: copy), password: password)
            let theirRepo = try await Repository.open(backend: LocalBackend(path: repo), password: password)
            #expect(final.count == finalRestic.count)
            for (ours, theirs) in zip(final, finalRestic) {
                let a = try await ourRepo.loadJSON(.snapshots, try #require(ID(hex: ours["id"] as? String ?? "")))
                let b = try await theirRepo.loadJSON(.snapshots, try #require(ID(hex: theirs["id"] as? String ?? "")))
                #expect(a == b, "\(String(decoding: a, as: UTF8.self))\n\(String(decoding: b, as: UTF8.self))")
            }
            // --set keeps order and duplicates; the later --add appended to them.
            #expect(final.last?["tags"] as? [String] == ["x", "y", "x", "z"])
            #expect(final.first?["tags"] as? [String] == ["c", "a"])
            expectStatus(
                try await Restic.run(["check", "--read-data"], repo: copy, password: password), 0, "restic check after offsite tag")
        }
    }

    @Test func resticTagsOffsiteReadsAndRetags() async throws {
        try await withScratchDirectory { dir in
            try Self.buildSource(dir + "/src")
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", "src", "--tag", "one"], password: password, cwd: dir), 0,
                "offsite backup")
            let first = try await #require(try Self.snapshotIDs(repo).first)

            // restic rewrites the offsite-made snapshot; offsite lists exactly what restic lists.
            expectStatus(try await Restic.run(["tag", "--add", "two", first], repo: repo, password: password), 0, "restic tag")
            let theirs = try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout)
            let ours = try jsonArray(
                expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"], password: password), 0, "offsite snapshots")
                    .stdout)
            #expect(theirs.count == 1)
            #expect(ours.map(NSDictionary.init(dictionary:)) == theirs.map(NSDictionary.init(dictionary:)))
            #expect(ours.first?["tags"] as? [String] == ["one", "two"])
            #expect(ours.first?["original"] as? String == first)
            let second = try #require(ours.first?["id"] as? String)

            // offsite retags restic's rewrite: `original` still names the first version.
            let out = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "tag", "--remove", "one", "latest"], password: password), 0, "offsite tag")
            #expect(out.stdoutString == "modified tags on 1 snapshots\n")
            let after = try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout)
            #expect(after.count == 1)
            #expect(after.first?["tags"] as? [String] == ["two"])
            #expect(after.first?["original"] as? String == first)
            #expect(after.first?["id"] as? String != second)
            #expect(try Self.snapshotFiles(repo) == [try #require(after.first?["id"] as? String)])
            expectStatus(try await Restic.run(["check", "--read-data"], repo: repo, password: password), 0, "restic check")

            // -q silences the summary line; stats still sees one snapshot.
            let quiet = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "-q", "tag", "--add", "three"], password: password), 0, "tag -q")
            #expect(quiet.stdoutString.isEmpty)
            #expect(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdoutString.contains("\"three\""))
            try await Self.expectSameStats(["--json"], repo: repo)
        }
    }

    @Test func tagRefusesWhatResticRefuses() async throws {
        try await withScratchDirectory { dir in
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
            for args in [[String](), ["--set", "a", "--add", "b"], ["--set", "a", "--remove", "b"]] {
                let theirs = try await Restic.run(["tag"] + args, repo: repo, password: password)
                let ours = try await OffsiteBinary.run(["-r", repo, "tag"] + args, password: password)
                #expect(theirs.status == 1)
                #expect(ours.status == 1)
                #expect(ours.stderr == theirs.stderr, "tag \(args)")
            }
            // An empty repository: nothing to tag.
            let ours = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "tag", "--add", "x"], password: password), 0, "tag on empty repo")
            #expect(ours.stdoutString == "no snapshots were modified\n")
        }
    }
}
