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
