import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteTesting
import Testing

@Suite struct BackupRestoreTests {
    static func makeSource(_ dir: String) throws -> TreeFixture {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        try f.dir("nested/deeper")
        try f.dir("empty-dir")
        try f.file("nested/deeper/small.txt", Array("hello\n".utf8))
        try f.file("empty", [])
        try f.file("big.bin", TreeFixture.randomBytes(3 << 20, seed: 7), mode: 0o600)
        try f.file("readonly", Array("ro".utf8), mode: 0o444)
        try f.file("exec", Array("#!/bin/sh\n".utf8), mode: 0o755)
        try f.symlink("link-rel", to: "nested/deeper/small.txt")
        try f.symlink("link-dangling", to: "/does/not/exist")
        f.setTimes("nested/deeper/small.txt", seconds: 1_234_567_890, nanoseconds: 123_456_789)
        return f
    }

    @Test(arguments: [1, 2])
    func backupThenRestoreIsIdentical(version: Int) async throws {
        try await withScratchDirectory { dir in
            _ = try Self.makeSource(dir)
            let repo = try await TestRepository.make(version: version)
            var options = Backup.Options(paths: [dir + "/src"])
            options.tags = ["t1"]
            options.hostname = "h1"
            let report = try await Backup(repository: repo, options: options).run()
            #expect(report.isComplete)
            #expect(report.snapshot.paths == [dir + "/src"])
            #expect(report.summary.filesNew == 5)
            #expect(report.summary.dataBlobs >= 4)

            let restored = try await Restore(
                repository: repo, options: .init(snapshotID: try #require(report.snapshotID), target: dir + "/out")
            ).run()
            #expect(restored.errors.isEmpty)
            let original = try TreeFixture.describe(dir + "/src")
            let copy = try TreeFixture.describe(dir + "/out" + dir + "/src")
            #expect(original == copy)

            // A second backup of unchanged data adds no data blobs.
            let second = try await Backup(repository: repo, options: options).run()
            #expect(second.summary.dataBlobs == 0)
            #expect(second.snapshot.tree == report.snapshot.tree || second.summary.treeBlobs > 0)
        }
    }

    @Test func subpathRestoreAndRelativeTargets() async throws {
        try await withScratchDirectory { dir in
            _ = try Self.makeSource(dir)
            let repo = try await TestRepository.make()
            var options = Backup.Options(paths: ["src"])
            options.workingDirectory = dir
            let report = try await Backup(repository: repo, options: options).run()
            #expect(report.snapshot.paths == [dir + "/src"])
            // A relative target keeps its relative shape in the tree, as restic's does.
            let root = try await repo.loadTree(report.snapshot.tree)
            #expect(root.nodes.map(\.nameString) == ["src"])

            var ropts = Restore.Options(snapshotID: try #require(report.snapshotID), target: dir + "/sub")
            ropts.subpath = "src/nested"
            _ = try await Restore(repository: repo, options: ropts).run()
            #expect(FileManager.default.contents(atPath: dir + "/sub/deeper/small.txt") == Data("hello\n".utf8))
        }
    }

    @Test func missingTargets() async throws {
        try await withScratchDirectory { dir in
            _ = try Self.makeSource(dir)
            let repo = try await TestRepository.make()
            do {
                _ = try await Backup(repository: repo, options: .init(paths: [dir + "/nope"])).run()
                Issue.record("backup of a missing path succeeded")
            } catch let e as EngineError {
                #expect(e.code == .invalidArgument)
            }
            #expect(try await repo.listIDs(.snapshots).isEmpty)
            let partial = try await Backup(repository: repo, options: .init(paths: [dir + "/src", dir + "/nope"])).run()
            #expect(partial.skippedTargets == [dir + "/nope"])
            #expect(!partial.isComplete)
        }
    }

    /// A file whose second blob the index lacks is reported once (naming the file and the blob),
    /// is not left behind, not even as a temporary file, and the rest of the restore goes on.
    @Test func aFileMissingABlobIsReportedOnce() async throws {
        try await withScratchDirectory { dir in
            let crafted = try await CraftedRepository.create()
            let present = try await crafted.storeData(Array("present\n".utf8))
            let absent = ID.hash(Array("never stored".utf8))
            var broken = Node(name: "broken", type: .file)
            broken.mode = 0o644
            broken.content = [present, absent, present]
            broken.size = 24
            let id = try await crafted.snapshot([.node(broken), .file("ok", "ok\n")])
            let report = try await Restore(repository: crafted.repository, options: .init(snapshotID: id, target: dir + "/out")).run()
            #expect(report.errors.count == 1, "\(report.errors)")
            #expect(
                report.errors.first?.contains("broken") == true && report.errors.first?.contains(absent.hex) == true, "\(report.errors)")
            #expect(report.filesRestored == 1)
            #expect(report.bytesRestored == 3)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/out") == ["ok"])
        }
    }

    /// `--overwrite never` keeps an existing file at a second name of a hard-linked file, as at
    /// any other name; the default replaces it with a link to the first name.
    @Test func overwriteNeverKeepsAFileWhereAHardLinkGoes() async throws {
        try await withScratchDirectory { dir in
            let crafted = try await CraftedRepository.create()
            let content = Array("linked\n".utf8)
            let id = try await crafted.snapshot([
                .hardlink(Array("a".utf8), content: content, inode: 7), .hardlink(Array("b".utf8), content: content, inode: 7),
            ])
            let out = dir + "/out"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try Data("mine\n".utf8).write(to: URL(fileURLWithPath: out + "/b"))
            var options = Restore.Options(snapshotID: id, target: out)
            options.overwrite = .never
            let kept = try await Restore(repository: crafted.repository, options: options).run()
            #expect(kept.errors.isEmpty, "\(kept.errors)")
            #expect(kept.filesSkipped == 1)
            #expect(FileManager.default.contents(atPath: out + "/b") == Data("mine\n".utf8))
            #expect(FileManager.default.contents(atPath: out + "/a") == Data(content))

            try FileManager.default.removeItem(atPath: out + "/a")
            options.overwrite = .always
            let replaced = try await Restore(repository: crafted.repository, options: options).run()
            #expect(replaced.errors.isEmpty, "\(replaced.errors)")
            #expect(FileManager.default.contents(atPath: out + "/b") == Data(content))
            var a = stat(), b = stat()
            #expect(lstat(out + "/a", &a) == 0 && lstat(out + "/b", &b) == 0)
            #expect(a.st_ino == b.st_ino)
        }
    }

    @Test func laterNamesLinkToAFirstNameLeftInPlace() async throws {
        try await withScratchDirectory { dir in
            let crafted = try await CraftedRepository.create()
            let content = Array("linked\n".utf8)
            let id = try await crafted.snapshot([
                .hardlink(Array("a".utf8), content: content, inode: 7), .hardlink(Array("b".utf8), content: content, inode: 7),
            ])
            let out = dir + "/out"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try Data(content).write(to: URL(fileURLWithPath: out + "/a"))
            var before = stat()
            #expect(lstat(out + "/a", &before) == 0)
            let report = try await Restore(repository: crafted.repository, options: Restore.Options(snapshotID: id, target: out)).run()
            #expect(report.errors.isEmpty, "\(report.errors)")
            var a = stat(), b = stat()
            #expect(lstat(out + "/a", &a) == 0 && lstat(out + "/b", &b) == 0)
            #expect(a.st_ino == before.st_ino, "a had the right content and is left in place")
            #expect(b.st_ino == a.st_ino && a.st_nlink == 2)
            #expect(FileManager.default.contents(atPath: out + "/b") == Data(content))
        }
    }
}
