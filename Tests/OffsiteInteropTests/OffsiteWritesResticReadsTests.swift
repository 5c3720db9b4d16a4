import Foundation
import OffsiteTesting
import Testing

/// Interoperability 1: offsite init + backup → restic check --read-data, snapshots, restore.
@Suite struct OffsiteWritesResticReadsTests {
    @Test(arguments: ["1", "2"])
    func offsiteBackupPassesResticCheckAndRestores(version: String) async throws {
        try await withScratchDirectory { dir in
            let src = dir + "/src"
            try InteropFixture.build(at: src, large: version == "2")
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password, version: Int(version)!)
            expectStatus(
                try await OffsiteBinary.run(
                    [
                        "-r", repo, "backup", src, "--tag", "t1", "--tag", "t2", "--host", "host-a",
                        "--time", "2024-03-04 05:06:07",
                    ], password: password), 0, "offsite backup")

            let check = expectStatus(try await Restic.run(["check", "--read-data"], repo: repo, password: password), 0, "restic check")
            #expect(check.stdoutString.contains("no errors were found"))

            let resticSnaps = try jsonArray(
                expectStatus(try await Restic.run(["snapshots", "--json"], repo: repo, password: password), 0, "restic snapshots").stdout)
            #expect(resticSnaps.count == 1)
            let s = try #require(resticSnaps.first)
            #expect(s["paths"] as? [String] == [src])
            #expect(s["hostname"] as? String == "host-a")
            #expect(s["tags"] as? [String] == ["t1", "t2"])
            #expect(s["time"] as? String == "2024-03-04T05:06:07Z")
            let ours = try jsonArray(
                expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"], password: password), 0, "offsite snapshots")
                    .stdout)
            #expect(ours.first?["id"] as? String == s["id"] as? String)

            expectStatus(
                try await Restic.run(["restore", "latest", "--target", dir + "/out"], repo: repo, password: password), 0, "restic restore")
            let original = try TreeFixture.describe(src)
            let restored = try TreeFixture.describe(dir + "/out" + src)
            #expect(original.count > 20)
            for (path, desc) in original { #expect(restored[path] == desc, "\(path)") }
            #expect(Set(restored.keys) == Set(original.keys))
        }
    }
}
