import Foundation
import OffsiteTesting
import Testing

/// Interoperability 3: the same chunk boundaries and blob IDs in both tools.
@Suite struct DeduplicationTests {
    @Test func offsiteBackupIntoResticRepositoryAddsNoDataBlobs() async throws {
        try await withScratchDirectory { dir in
            try InteropFixture.build(at: dir + "/src")
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
            expectStatus(try await Restic.run(["backup", "src"], repo: repo, password: password, cwd: dir), 0, "restic backup")
            let resticSnap = try #require(
                try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout).first)
            let packsBefore = try await Restic.run(["list", "packs"], repo: repo, password: password).stdoutString

            let first = try summary(
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "backup", "src", "--json"], password: password, cwd: dir), 0, "offsite backup")
            )
            #expect(first["data_blobs"] as? Int == 0)
            #expect(first["data_added"] as? Int == 0)
            // Byte-identical trees: same root tree ID as restic's snapshot of the same files.
            let ours = try jsonArray(try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"], password: password).stdout)
            #expect(ours.count == 2)
            #expect(ours.last?["tree"] as? String == resticSnap["tree"] as? String)
            #expect(first["tree_blobs"] as? Int == 0)
            #expect(try await Restic.run(["list", "packs"], repo: repo, password: password).stdoutString == packsBefore)

            let second = try summary(
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "backup", "src", "--json"], password: password, cwd: dir), 0,
                    "offsite backup 2"))
            #expect(second["data_blobs"] as? Int == 0)
            #expect(second["tree_blobs"] as? Int == 0)
            let check = expectStatus(try await Restic.run(["check", "--read-data"], repo: repo, password: password), 0, "restic check")
            #expect(check.stdoutString.contains("no errors were found"))
        }
    }

    @Test func secondOffsiteBackupOfUnchangedDataAddsNothing() async throws {
        try await withScratchDirectory { dir in
            try InteropFixture.build(at: dir + "/src", large: false)
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            let first = try summary(
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src", "--json"], password: password), 0, "backup 1"))
            #expect((first["data_blobs"] as? Int ?? 0) > 10)
            let second = try summary(
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src", "--json"], password: password), 0, "backup 2"))
            #expect(second["data_blobs"] as? Int == 0)
            // Tree blobs may be new: the scratch directory's parents in /tmp change while other
            // tests run. No file content is stored twice.
        }
    }
}
