import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `repair snapshots` against restic 0.16+'s rules, with restic 0.14 as the judge: repositories
/// written by either tool lose a data pack or a tree pack, `repair index` drops it from the
/// index, and after `repair snapshots --forget` restic's check passes and restic restores the
/// repaired snapshot: files keep exactly the chunks that still exist, directories whose tree is
/// gone are empty, everything else is byte-identical.
@Suite struct RepairSnapshotsTests {
    /// A blob as the index lists it.
    struct IndexedBlob {
        var pack: String
        var type: String
        /// Plaintext length.
        var length: Int
    }

    /// `src/`: a 12 MB file (a dozen chunks over several 4 MiB packs), six single-chunk files,
    /// a small file in a subdirectory and an empty file, backed up by `tool`.
    func makeRepository(_ dir: String, tool: String) async throws -> String {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        try f.file("big.bin", TreeFixture.randomBytes(12_000_000, seed: 1))
        for i in 0..<6 { try f.file("file-\(i)", TreeFixture.randomBytes(300_000, seed: UInt64(10 + i))) }
        try f.file("empty", [])
        try f.dir("sub")
        try f.file("sub/nested.txt", Array("nested\n".utf8))
        return try await initAndBackUp(dir, tool: tool)
    }

    /// Creates `dir/repo` with `tool` and backs up `dir/src` into it.
    func initAndBackUp(_ dir: String, tool: String) async throws -> String {
        let repo = dir + "/repo"
        if tool == "restic" {
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
        } else {
            try await TestRepository.makeLocal(at: repo, password: password)
        }
        try await backup(repo, dir, tool: tool)
        return repo
    }

    func backup(_ repo: String, _ dir: String, tool: String) async throws {
        if tool == "restic" {
            expectStatus(
                try await Restic.run(["backup", "src", "--pack-size", "4"], repo: repo, password: password, cwd: dir), 0, "backup")
        } else {
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", "src", "--pack-size", "4"], password: password, cwd: dir), 0, "backup")
        }
    }

    func offsite(_ repo: String, _ args: [String]) async throws -> ProcessRunner.Result {
        try await OffsiteBinary.run(["-r", repo] + args, password: password)
    }

    /// Every blob of the index, read with restic.
    func indexedBlobs(_ repo: String) async throws -> [String: IndexedBlob] {
        var out: [String: IndexedBlob] = [:]
        let list = expectStatus(try await Restic.run(["list", "index"], repo: repo, password: password), 0, "list index")
        for id in list.stdoutString.split(separator: "\n") {
            let r = expectStatus(try await Restic.run(["cat", "index", String(id)], repo: repo, password: password), 0, "cat index")
            let doc = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
            for pack in try #require(doc["packs"] as? [[String: Any]]) {
                let packID = try #require(pack["id"] as? String)
                for blob in try #require(pack["blobs"] as? [[String: Any]]) {
                    let stored = try #require(blob["length"] as? Int)
                    let length = (blob["uncompressed_length"] as? Int) ?? stored - 32
                    out[try #require(blob["id"] as? String)] = IndexedBlob(
                        pack: packID, type: try #require(blob["type"] as? String), length: length)
                }
            }
        }
        return out
    }

    func catJSON(_ repo: String, _ args: [String]) async throws -> [String: Any] {
        let r = expectStatus(try await Restic.run(["cat"] + args, repo: repo, password: password), 0, "cat \(args)")
        return try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any])
    }

    /// The nodes of the tree at `path` (names from the root) in `snapshot`, by name.
    func nodes(_ repo: String, snapshot: String, path: [String]) async throws -> [String: [String: Any]] {
        var tree = try await #require(try catJSON(repo, ["snapshot", snapshot])["tree"] as? String)
        var byName: [String: [String: Any]] = [:]
        for step in [nil] + path.map(Optional.some) {
            if let step { tree = try #require(byName[step]?["subtree"] as? String, "no directory \(step)") }
            let list = try await catJSON(repo, ["blob", tree])["nodes"] as? [[String: Any]] ?? []
            byName = Dictionary(uniqueKeysWithValues: list.map { ($0["name"] as! String, $0) })
        }
        return byName
    }

    func snapshotIDs(_ repo: String) -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: repo + "/snapshots")) ?? []).filter { !$0.hasPrefix(".") })
    }

    /// Every file of the repository with its size.
    func repositoryFiles(_ repo: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for case let rel as String in FileManager.default.enumerator(atPath: repo)! {
            var st = stat()
            guard lstat(repo + "/" + rel, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            out[rel] = Int(st.st_size)
        }
        return out
    }

    func removePack(_ repo: String, _ id: String) throws {
        try FileManager.default.removeItem(atPath: "\(repo)/data/\(id.prefix(2))/\(id)")
    }

    func restore(_ repo: String, _ snapshot: String, _ target: String) async throws {
        expectStatus(try await Restic.run(["restore", snapshot, "--target", target], repo: repo, password: password), 0, "restic restore")
    }

    /// A data pack holding part of `src/big.bin`, the files that lose blobs with it, and what
    /// each file under `src` holds when only the blobs outside the pack are kept.
    struct DataLoss {
        var pack: String
        var damagedFiles: Set<String>
        var expected: [String: [UInt8]]
    }

    func planDataLoss(_ repo: String, _ dir: String, snapshot: String) async throws -> DataLoss {
        let blobs = try await indexedBlobs(repo)
        var files: [String: [String: Any]] = [:]
        for (prefix, path) in [("", ["src"]), ("sub/", ["src", "sub"])] {
            for (name, node) in try await nodes(repo, snapshot: snapshot, path: path) where node["type"] as? String == "file" {
                files[prefix + name] = node
            }
        }
        let big = try #require(files["big.bin"]?["content"] as? [String])
        #expect(Set(big.compactMap { blobs[$0]?.pack }).count >= 2, "big.bin should span several packs")
        let pack = try #require(blobs[big[1]]?.pack)
        var loss = DataLoss(pack: pack, damagedFiles: [], expected: [:])
        for (name, node) in files {
            let source = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/src/" + name)))
            var offset = 0
            var kept: [UInt8] = []
            for id in node["content"] as? [String] ?? [] {
                let blob = try #require(blobs[id])
                if blob.pack == pack {
                    loss.damagedFiles.insert(name)
                } else {
                    kept += source[offset..<(offset + blob.length)]
                }
                offset += blob.length
            }
            #expect(offset == source.count, "the chunks of \(name) add up to the file")
            loss.expected[name] = kept
        }
        return loss
    }

    /// A repository of `makeRepository` that lost the pack of `planDataLoss`, with its index
    /// repaired; restic's check fails on it. Returns the snapshot and the plan.
    func repositoryMissingData(_ dir: String, tool: String) async throws -> (repo: String, snapshot: String, loss: DataLoss) {
        let repo = try await makeRepository(dir, tool: tool)
        let old = try #require(snapshotIDs(repo).first)
        let loss = try await planDataLoss(repo, dir, snapshot: old)
        #expect(loss.damagedFiles.contains("big.bin"))
        try removePack(repo, loss.pack)
        expectStatus(try await Restic.run(["check"], repo: repo, password: password), 1, "restic check with a pack gone")
        await expectStatus(try offsite(repo, ["repair", "index"]), 0, "repair index")
        return (repo, old, loss)
    }

    /// Lines of the form `  file "…": removed missing content`, as the set of file names.
    func filesReported(_ output: String) -> Set<String> {
        Set(
            output.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("  file \"/src/"), line.hasSuffix("\": removed missing content") else { return nil }
                return String(line.dropFirst("  file \"/src/".count).dropLast("\": removed missing content".count))
            })
    }

    @Test(arguments: ["offsite", "restic"])
    func lostDataPackIsCutOutOfTheSnapshot(writer: String) async throws {
        try await withScratchDirectory { dir in
            let (repo, old, loss) = try await repositoryMissingData(dir, tool: writer)

            let r = await expectStatus(try offsite(repo, ["repair", "snapshots", "--forget"]), 0, "repair snapshots --forget")
            let out = r.stdoutString
            #expect(filesReported(out) == loss.damagedFiles, "\(out)")
            #expect(out.contains("\nsnapshot \(old.prefix(8)) of ["))
            #expect(out.contains("\nremoved old snapshot \(old.prefix(8))\n"))
            #expect(out.hasSuffix("\nmodified 1 snapshots\n"))
            #expect(!out.contains("dir "))

            let check = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
            #expect(check.status == 0, "restic check after the repair: \(check.stdoutString) \(check.stderr)")
            #expect(check.stdoutString.contains("no errors were found"))
            let now = snapshotIDs(repo)
            #expect(now.count == 1 && !now.contains(old))
            let new = try #require(now.first)
            #expect(out.contains("\nsaved new snapshot \(new.prefix(8))\n"))
            let doc = try await catJSON(repo, ["snapshot", new])
            #expect(doc["original"] as? String == old)
            // restic adds the "repaired" tag only when the original is kept (not with --forget).
            #expect(doc["tags"] == nil)

            try await restore(repo, new, dir + "/out")
            for (name, bytes) in loss.expected {
                let restored = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/out/src/" + name)))
                #expect(restored == bytes, "\(name): \(restored.count) bytes restored, \(bytes.count) expected")
            }
            let big = try #require(loss.expected["big.bin"])
            #expect(big.count > 0 && big.count < 12_000_000, "big.bin keeps its other chunks")
            // The files that lost nothing are identical, metadata included.
            let restored = try TreeFixture.describe(dir + "/out/src", includeDirectoryTimes: false)
            let source = try TreeFixture.describe(dir + "/src", includeDirectoryTimes: false)
            #expect(Set(restored.keys) == Set(source.keys))
            for (path, description) in source where !loss.damagedFiles.contains(path) {
                #expect(restored[path] == description, "\(path)")
            }
            #expect(restored["sub/nested.txt"] != nil && restored["empty"] != nil)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: repo + "/locks")) ?? []).isEmpty)
        }
    }

    @Test(arguments: ["offsite", "restic"])
    func lostTreeBecomesAnEmptyDirectory(writer: String) async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("")
            try f.file("top.txt", Array("top\n".utf8))
            try f.dir("keep")
            try f.file("keep/unchanged.bin", TreeFixture.randomBytes(200_000, seed: 2))
            try f.file("keep/changed.txt", Array("one\n".utf8))
            try f.dir("sub")
            try f.file("sub/lost.txt", Array("lost\n".utf8))
            try f.dir("sub/deeper")
            try f.file("sub/deeper/lost.bin", TreeFixture.randomBytes(100_000, seed: 3))
            let repo = try await initAndBackUp(dir, tool: writer)
            let first = try #require(snapshotIDs(repo).first)
            let blobsAfterFirst = try await indexedBlobs(repo)
            let treePacks = Set(blobsAfterFirst.values.filter { $0.type == "tree" }.map(\.pack))
            #expect(blobsAfterFirst.values.allSatisfy { $0.type == "tree" || !treePacks.contains($0.pack) })

            // The second backup stores new trees for /, src and keep; src/sub's trees are
            // the first backup's.
            try f.file("top.txt", Array("top, changed\n".utf8))
            try f.file("keep/changed.txt", Array("two, longer\n".utf8))
            try await backup(repo, dir, tool: writer)
            let second = try #require(snapshotIDs(repo).subtracting([first]).first)
            for pack in treePacks { try removePack(repo, pack) }
            expectStatus(try await Restic.run(["check"], repo: repo, password: password), 1, "restic check with the trees gone")
            await expectStatus(try offsite(repo, ["repair", "index"]), 0, "repair index")

            let before = repositoryFiles(repo)
            let dry = await expectStatus(try offsite(repo, ["repair", "snapshots", "--forget", "-n"]), 0, "dry run")
            #expect(dry.stdoutString.contains("  dir \"/\": not readable\nwould delete empty snapshot\n"), "\(dry.stdoutString)")
            #expect(
                dry.stdoutString.contains(
                    "  dir \"/src/sub\": replaced with empty directory\nwould save new snapshot\nwould remove old snapshot\n"))
            #expect(dry.stdoutString.hasSuffix("\nwould modify 2 snapshots\n"))
            #expect(repositoryFiles(repo) == before)

            let r = await expectStatus(try offsite(repo, ["repair", "snapshots", "--forget"]), 0, "repair snapshots --forget")
            let out = r.stdoutString
            #expect(out.contains("  dir \"/\": not readable\nremoved empty snapshot \(first.prefix(8))\n"), "\(out)")
            #expect(out.contains("  dir \"/src/sub\": replaced with empty directory\nsaved new snapshot "))
            #expect(out.contains("\nremoved old snapshot \(second.prefix(8))\n"))
            #expect(out.hasSuffix("\nmodified 2 snapshots\n"))
            #expect(!out.contains("file \""))

            let check = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
            #expect(check.status == 0, "restic check after the repair: \(check.stdoutString) \(check.stderr)")
            let now = snapshotIDs(repo)
            #expect(now.count == 1 && now.isDisjoint(with: [first, second]))
            let new = try #require(now.first)

            // The empty directory's tree is restic's empty tree, byte for byte.
            let sub = try await #require(try nodes(repo, snapshot: new, path: ["src"])["sub"])
            let subtree = try #require(sub["subtree"] as? String)
            let blob = expectStatus(try await Restic.run(["cat", "blob", subtree], repo: repo, password: password), 0, "cat blob")
            #expect(blob.stdoutString == "{\"nodes\":null}\n")

            try await restore(repo, new, dir + "/out")
            let restored = try TreeFixture.describe(dir + "/out/src", includeDirectoryTimes: false)
            var source = try TreeFixture.describe(dir + "/src", includeDirectoryTimes: false)
            for lost in ["sub/lost.txt", "sub/deeper", "sub/deeper/lost.bin"] { source[lost] = nil }
            #expect(restored == source)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/out/src/sub").isEmpty)
        }
    }

    @Test func dryRunChangesNothing() async throws {
        try await withScratchDirectory { dir in
            let (repo, _, loss) = try await repositoryMissingData(dir, tool: "restic")
            let before = repositoryFiles(repo)

            for flags in [["--dry-run"], ["-n", "--forget"]] {
                let r = await expectStatus(try offsite(repo, ["repair", "snapshots"] + flags), 0, "repair snapshots \(flags)")
                let out = r.stdoutString
                #expect(filesReported(out) == loss.damagedFiles)
                #expect(out.contains("would save new snapshot\n"))
                #expect(out.contains("would remove old snapshot\n") == flags.contains("--forget"))
                #expect(out.hasSuffix("\nwould modify 1 snapshots\n"))
                #expect(!out.contains("saved new snapshot"))
                #expect(repositoryFiles(repo) == before, "a dry run wrote or removed files")
            }
            // Still damaged: restic's check fails as before.
            expectStatus(try await Restic.run(["check"], repo: repo, password: password), 1, "restic check")
        }
    }

    @Test func withoutForgetTheOriginalStays() async throws {
        try await withScratchDirectory { dir in
            let (repo, old, loss) = try await repositoryMissingData(dir, tool: "offsite")

            let r = await expectStatus(try offsite(repo, ["repair", "snapshots", old.prefix(8).description]), 0, "repair snapshots ID")
            #expect(filesReported(r.stdoutString) == loss.damagedFiles)
            #expect(!r.stdoutString.contains("removed old snapshot"))
            #expect(r.stdoutString.hasSuffix("\nmodified 1 snapshots\n"))
            let now = snapshotIDs(repo)
            #expect(now.count == 2 && now.contains(old))
            let new = try #require(now.subtracting([old]).first)
            let doc = try await catJSON(repo, ["snapshot", new])
            #expect(doc["original"] as? String == old)
            #expect(doc["tags"] as? [String] == ["repaired"])
            await #expect(try catJSON(repo, ["snapshot", old])["tags"] == nil)
            // The original still names the lost blobs: restic's check fails until it is forgotten
            // (restic's own test of this command expects the same).
            expectStatus(try await Restic.run(["check"], repo: repo, password: password), 1, "check with the original kept")

            // The repaired copy needs nothing more.
            let again = await expectStatus(try offsite(repo, ["repair", "snapshots", "--tag", "repaired"]), 0, "repair the repaired")
            #expect(again.stdoutString.hasSuffix("\nno snapshots were modified\n"))
            await expectStatus(try offsite(repo, ["forget", old]), 0, "forget the original")
            let check = try await Restic.run(["check"], repo: repo, password: password)
            #expect(check.status == 0, "restic check: \(check.stderr)")
            try await restore(repo, new, dir + "/out")
            for (name, bytes) in loss.expected {
                #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/out/src/" + name))) == bytes, "\(name)")
            }
        }
    }

    @Test(arguments: ["offsite", "restic"])
    func intactRepositoryIsLeftAlone(writer: String) async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir, tool: writer)
            try TreeFixture(root: dir + "/src").file("added.txt", Array("second backup\n".utf8))
            try await backup(repo, dir, tool: writer)
            let before = repositoryFiles(repo)
            for flags in [[], ["--forget"], ["latest"]] {
                let r = await expectStatus(try offsite(repo, ["repair", "snapshots"] + flags), 0, "repair snapshots \(flags)")
                let out = r.stdoutString
                #expect(out.hasSuffix("\n\nno snapshots were modified\n"), "\(out)")
                #expect(out.components(separatedBy: "\nsnapshot ").count - 1 == (flags == ["latest"] ? 1 : 2))
                #expect(!out.contains("  file ") && !out.contains("  dir "))
                #expect(repositoryFiles(repo) == before, "repair of an intact repository changed it")
            }
            let quiet = await expectStatus(try offsite(repo, ["repair", "snapshots", "-q"]), 0, "quiet")
            #expect(quiet.stdoutString.isEmpty)
            let check = try await Restic.run(["check"], repo: repo, password: password)
            #expect(check.status == 0, "restic check: \(check.stderr)")
        }
    }
}
