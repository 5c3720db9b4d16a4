import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Restore against restic: filters, subpaths, overwrite modes, --delete, --verify, resuming
/// an interrupted restore, damaged packs, sparse files.
@Suite struct RestoreTests {
    /// A repository (made by `tool`) with one snapshot of a small tree; returns (repo, snapshot ID).
    func makeRepo(_ dir: String, tool: String) async throws -> (String, String) {
        try InteropFixture.build(at: dir + "/src", large: false)
        let f = TreeFixture(root: dir + "/src")
        try f.file("nested/data.log", Array("log line\n".utf8))
        try f.file("nested/deeper/UPPER.LOG", Array("LOG\n".utf8))
        let repo = dir + "/repo"
        if tool == "restic" {
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
            expectStatus(try await Restic.run(["backup", "src"], repo: repo, password: password, cwd: dir), 0, "backup")
        } else {
            try await TestRepository.makeLocal(at: repo, password: password)
            expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", "src"], password: password, cwd: dir), 0, "backup")
        }
        let id = try #require(
            try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout).first?["id"] as? String)
        return (repo, id)
    }

    func inode(_ path: String) -> UInt64 {
        var st = stat()
        return lstat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    @Test(arguments: ["offsite", "restic"])
    func filtersMatchRestic(writer: String) async throws {
        try await withScratchDirectory { dir in
            let (repo, _) = try await makeRepo(dir, tool: writer)
            let cases: [[String]] = [
                ["--include", "/src/nested"], ["--include", "*.log"], ["--iinclude", "*.LOG"],
                ["--exclude", "odd"], ["--exclude", "*.log", "--exclude", "sizes-*"], ["--iexclude", "UPPER.log"],
            ]
            for (n, flags) in cases.enumerated() {
                let ours = dir + "/ours-\(n)", theirs = dir + "/theirs-\(n)"
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", ours] + flags, password: password), 0,
                    "offsite \(flags)")
                expectStatus(
                    try await Restic.run(["restore", "latest", "--target", theirs] + flags, repo: repo, password: password), 0,
                    "restic \(flags)")
                let a = try TreeFixture.describe(ours), b = try TreeFixture.describe(theirs)
                #expect(Set(a.keys) == Set(b.keys), "\(flags)")
                for (path, desc) in b where !desc.hasPrefix("dir") { #expect(a[path] == desc, "\(flags) \(path)") }
            }
        }
    }

    @Test func subpathAndDryRun() async throws {
        try await withScratchDirectory { dir in
            let (repo, id) = try await makeRepo(dir, tool: "offsite")
            expectStatus(
                try await OffsiteBinary.run(
                    ["-r", repo, "restore", String(id.prefix(8)) + ":/src/nested", "--target", dir + "/sub"], password: password), 0,
                "subpath")
            #expect(FileManager.default.contents(atPath: dir + "/sub/deeper/deepest/leaf.txt") == Data("leaf\n".utf8))
            #expect(!FileManager.default.fileExists(atPath: dir + "/sub/src"))
            let dry = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", dir + "/dry", "--dry-run"], password: password),
                0,
                "dry run")
            #expect(dry.stdoutString.contains("Would restore"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/dry/src"))
        }
    }

    @Test func overwriteModesAndResume() async throws {
        try await withScratchDirectory { dir in
            let (repo, _) = try await makeRepo(dir, tool: "offsite")
            let out = dir + "/out"
            func restore(_ extra: [String] = []) async throws -> ProcessRunner.Result {
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", out] + extra, password: password), 0,
                    "restore \(extra)")
            }
            _ = try await restore()
            let file = out + "/src/sizes-512KiB", other = out + "/src/mode-0600"
            let original = try Data(contentsOf: URL(fileURLWithPath: file))
            let untouchedInode = inode(other)

            // Same size and mtime, different bytes: if-changed trusts it, always repairs it.
            func corrupt() throws {
                var st = stat()
                lstat(file, &st)
                var bytes = original
                bytes[1000] ^= 0xff
                chmod(file, 0o644)
                try bytes.write(to: URL(fileURLWithPath: file))
                var times = [st.st_atim, st.st_mtim]
                utimensat(AT_FDCWD, file, &times, 0)
            }
            try corrupt()
            _ = try await restore(["--overwrite", "if-changed"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) != original)
            _ = try await restore(["--overwrite", "never"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) != original)
            _ = try await restore()
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == original)
            // Files that were already right are left alone (same inode: not rewritten).
            #expect(inode(other) == untouchedInode)

            // if-newer keeps a file that is newer than the snapshot's.
            try Data("local edit".utf8).write(to: URL(fileURLWithPath: other))
            _ = try await restore(["--overwrite", "if-newer"])
            #expect(FileManager.default.contents(atPath: other) == Data("local edit".utf8))
            let verified = try await restore(["--overwrite", "always", "--verify"])
            #expect(verified.stdoutString.contains("\nverified "), "\(verified.stdoutString)")
            #expect(FileManager.default.contents(atPath: other) == Data("private".utf8))

            // An interrupted restore: a leftover temporary file and a truncated file under a
            // temporary name are cleaned up; re-running finishes the job.
            try Data("partial".utf8).write(to: URL(fileURLWithPath: out + "/src/.offsite-restore-0123456789abcdef"))
            try FileManager.default.removeItem(atPath: file)
            let again = try await restore()
            #expect(again.stdoutString.contains("Summary: Restored"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == original)
            #expect(!FileManager.default.fileExists(atPath: out + "/src/.offsite-restore-0123456789abcdef"))
            let restored = try TreeFixture.describe(out + "/src")
            let source = try TreeFixture.describe(dir + "/src")
            for (path, desc) in source where !desc.hasPrefix("dir") { #expect(restored[path] == desc, "\(path)") }
        }
    }

    @Test func deleteRemovesWhatTheSnapshotLacks() async throws {
        try await withScratchDirectory { dir in
            let (repo, _) = try await makeRepo(dir, tool: "offsite")
            let out = dir + "/out"
            try FileManager.default.createDirectory(atPath: out + "/src/nested/extra-dir", withIntermediateDirectories: true)
            try Data("x".utf8).write(to: URL(fileURLWithPath: out + "/src/nested/extra-dir/file"))
            try Data("y".utf8).write(to: URL(fileURLWithPath: out + "/src/extra-top"))
            // With an include, only the included part is cleaned.
            expectStatus(
                try await OffsiteBinary.run(
                    ["-r", repo, "restore", "latest", "--target", out, "--include", "/src/nested", "--delete"], password: password), 0,
                "delete with include")
            #expect(!FileManager.default.fileExists(atPath: out + "/src/nested/extra-dir"))
            #expect(FileManager.default.fileExists(atPath: out + "/src/extra-top"))
            let dry = expectStatus(
                try await OffsiteBinary.run(
                    ["-r", repo, "restore", "latest", "--target", out, "--delete", "--dry-run", "-v"], password: password), 0, "dry delete")
            #expect(dry.stdoutString.contains("would delete \(out)/src/extra-top"))
            #expect(FileManager.default.fileExists(atPath: out + "/src/extra-top"))
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", out, "--delete"], password: password), 0, "delete"
            )
            #expect(!FileManager.default.fileExists(atPath: out + "/src/extra-top"))
            let restored = try TreeFixture.describe(out + "/src")
            #expect(Set(restored.keys) == Set(try TreeFixture.describe(dir + "/src").keys))
        }
    }

    @Test func damagedPackReportsEveryFileAndRestoresTheRest() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("")
            // Small files share one data pack; damage it and every one of them is named.
            for i in 0..<5 { try f.file("small-\(i)", Array("small file \(i)\n".utf8)) }
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src"], password: password), 0, "backup 1")
            try f.file("later", Array("in a second pack\n".utf8))
            expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src"], password: password), 0, "backup 2")
            await makeWritable(repo)
            // The data pack holding the five small files, found through the index.
            var damaged = ""
            for index in try await Restic.run(["list", "index"], repo: repo, password: password).stdoutString.split(separator: "\n") {
                let json = try await Restic.run(["cat", "index", String(index)], repo: repo, password: password).stdout
                let packs = (try JSONSerialization.jsonObject(with: json) as? [String: Any])?["packs"] as? [[String: Any]] ?? []
                for pack in packs {
                    let blobs = pack["blobs"] as? [[String: Any]] ?? []
                    if blobs.count == 5 && blobs.allSatisfy({ $0["type"] as? String == "data" }) { damaged = pack["id"] as? String ?? "" }
                }
            }
            #expect(!damaged.isEmpty)
            let path = repo + "/data/" + damaged.prefix(2) + "/" + damaged
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            for i in stride(from: 20, to: bytes.count - 40, by: 7) { bytes[i] ^= 0x55 }
            try bytes.write(to: URL(fileURLWithPath: path))
            let r = try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", dir + "/out"], password: password)
            #expect(r.status == 1)
            #expect(r.stderr.contains("There were"))
            let named = (0..<5).filter { r.stderr.contains("small-\($0)") }
            let restored = (0..<5).filter { FileManager.default.fileExists(atPath: dir + "/out" + dir + "/src/small-\($0)") }
            // Every damaged file is named and absent; every other file is there and right.
            #expect(Set(named).isDisjoint(with: restored))
            #expect(named.count + restored.count == 5)
            #expect(
                FileManager.default.contents(atPath: dir + "/out" + dir + "/src/later") == Data("in a second pack\n".utf8)
                    || r.stderr.contains("later"))
        }
    }

    /// A directory whose tree blob is damaged is reported and left empty; everything else in
    /// the snapshot is restored, as restic does (found by CorruptionTests: offsite stopped the
    /// whole restore at the first unreadable subtree).
    @Test func damagedSubtreeIsReportedAndTheRestRestored() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("")
            try f.file("top.txt", Array("top\n".utf8))
            try f.dir("lost")
            try f.file("lost/inside.txt", Array("inside\n".utf8))
            try f.dir("kept")
            try f.file("kept/other.bin", TreeFixture.randomBytes(300_000, seed: 7))
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", "src"], password: password, cwd: dir), 0, "backup")
            await makeWritable(repo)
            // The tree of src/lost, and where the index puts it.
            func cat(_ args: [String]) async throws -> [String: Any] {
                let r = expectStatus(try await Restic.run(["cat"] + args, repo: repo, password: password), 0, "cat \(args)")
                return try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
            }
            func subtree(_ tree: String, _ name: String) async throws -> String {
                let nodes = try #require(try await cat(["blob", tree])["nodes"] as? [[String: Any]])
                return try #require(nodes.first { $0["name"] as? String == name }?["subtree"] as? String)
            }
            let snapshot = try #require(
                try await Restic.run(["list", "snapshots"], repo: repo, password: password).stdoutString.split(separator: "\n").first)
            let root = try #require(try await cat(["snapshot", String(snapshot)])["tree"] as? String)
            let lost = try await subtree(try await subtree(root, "src"), "lost")
            var location: (pack: String, offset: Int, length: Int)?
            for index in try await Restic.run(["list", "index"], repo: repo, password: password).stdoutString.split(separator: "\n") {
                for pack in try await cat(["index", String(index)])["packs"] as? [[String: Any]] ?? [] {
                    for blob in pack["blobs"] as? [[String: Any]] ?? [] where blob["id"] as? String == lost {
                        location = (pack["id"] as! String, blob["offset"] as! Int, blob["length"] as! Int)
                    }
                }
            }
            let (pack, offset, length) = try #require(location)
            let path = repo + "/data/" + pack.prefix(2) + "/" + pack
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[offset + length / 2] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: path))

            for tool in ["offsite", "restic"] {
                let out = dir + "/out-" + tool
                let r =
                    tool == "offsite"
                    ? try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", out], password: password)
                    : try await Restic.run(["restore", "latest", "--target", out], repo: repo, password: password)
                #expect(r.status == 1, "\(tool): \(r.stderr)")
                #expect(r.stderr.contains(tool == "offsite" ? out + "/src/lost: " : "/src/lost: "), "\(tool): \(r.stderr)")
                #expect(FileManager.default.contents(atPath: out + "/src/top.txt") == Data("top\n".utf8), "\(tool)")
                #expect(
                    FileManager.default.contents(atPath: out + "/src/kept/other.bin")
                        == Data(TreeFixture.randomBytes(300_000, seed: 7)), "\(tool)")
                // The directory is there, empty.
                #expect((try? FileManager.default.contentsOfDirectory(atPath: out + "/src/lost")) == [], "\(tool)")
            }
        }
    }

    @Test func sparseRestoreLeavesHoles() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("")
            try f.file("disk.img", Array("header".utf8) + [UInt8](repeating: 0, count: 20 << 20) + Array("trailer".utf8))
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", "src"], password: password, cwd: dir), 0, "backup")
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", dir + "/out", "--sparse"], password: password), 0,
                "restore")
            let restored = dir + "/out/src/disk.img"
            #expect(FileManager.default.contents(atPath: restored) == FileManager.default.contents(atPath: dir + "/src/disk.img"))
            var st = stat()
            lstat(restored, &st)
            #expect(Int(st.st_blocks) * 512 < Int(st.st_size) / 2)
        }
    }
}
