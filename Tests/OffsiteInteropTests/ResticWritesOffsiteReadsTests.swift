import Foundation
import OffsiteTesting
import Testing

/// Interoperability 2: restic init + backup → offsite snapshots, ls and restore.
@Suite struct ResticWritesOffsiteReadsTests {
    @Test(arguments: ["1", "2"])
    func offsiteReadsResticRepository(version: String) async throws {
        try await withScratchDirectory { dir in
            try InteropFixture.build(at: dir + "/src", large: version == "2")
            let repo = dir + "/repo"
            expectStatus(try await Restic.run(["init", "--repository-version", version], repo: repo, password: password), 0, "restic init")
            expectStatus(
                try await Restic.run(["backup", "src", "--tag", "x", "--host", "h"], repo: repo, password: password, cwd: dir), 0,
                "restic backup"
            )
            expectStatus(try await Restic.run(["backup", "src/nested"], repo: repo, password: password, cwd: dir), 0, "restic backup 2")

            let theirs = try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout)
            let ours = try jsonArray(
                expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots", "--json"], password: password), 0, "offsite snapshots")
                    .stdout)
            #expect(ours.count == 2)
            #expect(ours.map { $0["id"] as? String } == theirs.map { $0["id"] as? String })
            for (a, b) in zip(ours, theirs) {
                #expect(NSDictionary(dictionary: a).isEqual(to: b))
            }

            for ref in ["latest", String((theirs[0]["id"] as? String ?? "").prefix(8))] {
                let resticLs = try await Restic.run(["ls", ref, "--json"], repo: repo, password: password).stdoutString
                let offsiteLs = expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "ls", ref, "--json"], password: password), 0, "offsite ls"
                )
                .stdoutString
                #expect(offsiteLs == resticLs)
                let resticText = try await Restic.run(["ls", ref], repo: repo, password: password).stdoutString
                let offsiteText = try await OffsiteBinary.run(["-r", repo, "ls", ref], password: password).stdoutString
                #expect(offsiteText == resticText)
            }

            let firstID = try #require(theirs[0]["id"] as? String)
            expectStatus(
                try await OffsiteBinary.run(
                    ["-r", repo, "restore", String(firstID.prefix(10)), "--target", dir + "/out"], password: password), 0,
                "offsite restore")
            let original = try TreeFixture.describe(dir + "/src")
            let restored = try TreeFixture.describe(dir + "/out/src")
            for (path, desc) in original { #expect(restored[path] == desc, "\(path)") }
            #expect(Set(restored.keys) == Set(original.keys))
        }
    }
}
