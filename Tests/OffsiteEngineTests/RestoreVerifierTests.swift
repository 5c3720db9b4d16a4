import Foundation
import OffsiteFormat
import OffsiteTesting
import Testing

@testable import OffsiteEngine

/// `restore --verify` and the overwrite modes' content check: a file matches only when every
/// chunk hashes to the snapshot's blob ID and nothing follows the last chunk.
@Suite struct RestoreVerifierTests {
    @Test func detectsChangedTruncatedAndExtendedFiles() async throws {
        try await withScratchDirectory { dir in
            _ = try BackupRestoreTests.makeSource(dir)
            // Over the chunker's 8 MiB maximum, so always more than one chunk: the shared 3 MiB
            // file is a single chunk under about 8% of the random polynomials a new repository
            // gets (no boundary in its last 2.5 MiB), which failed this test now and then.
            try TreeFixture(root: dir + "/src").file("big.bin", TreeFixture.randomBytes(9 << 20, seed: 7), mode: 0o600)
            let repo = try await TestRepository.make()
            let report = try await Backup(repository: repo, options: Backup.Options(paths: [dir + "/src"])).run()
            let id = try #require(report.snapshotID)
            let restored = try await Restore(repository: repo, options: .init(snapshotID: id, target: dir + "/out")).run()
            #expect(restored.errors.isEmpty)
            let node = try #require(try await repo.findNode(tree: report.snapshot.tree, subpath: dir + "/src/big.bin"))
            let content = try #require(node.content)
            #expect(content.count > 1)
            let path = dir + "/out" + dir + "/src/big.bin"
            func matches() -> Bool { RestoreVerifier.matches(path: FSPath(path), content: content, index: repo.index) }
            #expect(matches())

            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            chmod(path, 0o600)
            var changed = original
            changed[changed.count - 10] ^= 1  // in the last chunk
            try changed.write(to: URL(fileURLWithPath: path))
            #expect(!matches())
            try original.dropLast().write(to: URL(fileURLWithPath: path))
            #expect(!matches())
            try (original + Data([0])).write(to: URL(fileURLWithPath: path))
            #expect(!matches())
            try original.write(to: URL(fileURLWithPath: path))
            #expect(matches())

            // --verify runs the same check over every restored file.
            var options = Restore.Options(snapshotID: id, target: dir + "/again")
            options.verify = true
            let verified = try await Restore(repository: repo, options: options).run()
            #expect(verified.verifyFailures.isEmpty && verified.errors.isEmpty)
            #expect(verified.filesRestored == 5)
        }
    }
}

/// Owners after a restore as root: files keep the snapshot's owner whether or not it is the
/// restoring user, also below a setgid directory (whose group new directories inherit).
@Suite struct RestoreOwnerTests {
    @Test func ownersAreExactEvenBelowASetgidDirectory() async throws {
        guard geteuid() == 0 else { return }  // owners are only restored as root (the CI runs as root)
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("")
            try f.file("mine", Array("root's\n".utf8))
            try f.file("theirs", Array("someone else's\n".utf8))
            #expect(chown(dir + "/src/theirs", 1234, 5678) == 0)
            let repo = try await TestRepository.make()
            let report = try await Backup(repository: repo, options: Backup.Options(paths: [dir + "/src"])).run()
            let id = try #require(report.snapshotID)
            // A setgid parent owned by another group: new directories below inherit both.
            try FileManager.default.createDirectory(atPath: dir + "/sg", withIntermediateDirectories: true)
            #expect(chown(dir + "/sg", 0, 4321) == 0)
            #expect(chmod(dir + "/sg", 0o2775) == 0)
            for target in [dir + "/plain", dir + "/sg/out"] {
                let r = try await Restore(repository: repo, options: .init(snapshotID: id, target: target)).run()
                #expect(r.errors.isEmpty)
                var st = stat()
                #expect(lstat(target + dir + "/src/mine", &st) == 0)
                #expect(st.st_uid == 0 && st.st_gid == 0, "\(target): mine is \(st.st_uid):\(st.st_gid)")
                #expect(lstat(target + dir + "/src/theirs", &st) == 0)
                #expect(st.st_uid == 1234 && st.st_gid == 5678, "\(target): theirs is \(st.st_uid):\(st.st_gid)")
            }
        }
    }
}
