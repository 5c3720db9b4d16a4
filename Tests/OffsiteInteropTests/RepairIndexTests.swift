import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `repair index` / `rebuild-index`: lost or damaged index files are rebuilt from the packs,
/// and restic then checks and restores the repository.
@Suite struct RepairIndexTests {
    func makeRepository(_ dir: String, tool: String) async throws -> String {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        var random = TreeFixture.RandomBytes(seed: 1003)
        for i in 0..<6 { try f.file("file-\(i)", random.next(1_500_000)) }
        try f.file("small.txt", Array("small\n".utf8))
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

    func indexFiles(_ repo: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: repo + "/index")) ?? []).filter { !$0.hasPrefix(".") }
    }

    func restoresIdentically(_ repo: String, _ dir: String, _ target: String) async throws {
        let check = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
        #expect(check.status == 0, "restic check --read-data: \(check.stderr)")
        expectStatus(try await Restic.run(["restore", "latest", "--target", target], repo: repo, password: password), 0, "restic restore")
        let restored = try TreeFixture.describe(target + "/src", includeDirectoryTimes: false)
        let source = try TreeFixture.describe(dir + "/src", includeDirectoryTimes: false)
        #expect(restored == source)
    }

    @Test(arguments: ["offsite", "restic"])
    func lostIndexIsRebuiltFromThePacks(writer: String) async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir, tool: writer)
            for name in indexFiles(repo) { try FileManager.default.removeItem(atPath: repo + "/index/" + name) }
            expectStatus(try await Restic.run(["check"], repo: repo, password: password), 1, "restic check without an index")
            let r = expectStatus(try await OffsiteBinary.run(["-r", repo, "repair", "index"], password: password), 0, "repair index")
            #expect(r.stderr.contains("adding pack file to index"))
            #expect(!indexFiles(repo).isEmpty)
            try await restoresIdentically(repo, dir, dir + "/out")
        }
    }

    @Test func damagedIndexIsReplacedAndOldNameWorks() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepository(dir, tool: "offsite")
            let damaged = try #require(indexFiles(repo).first)
            let path = repo + "/index/" + damaged
            chmod(path, 0o600)
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[bytes.count / 2] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: path))
            expectStatus(try await OffsiteBinary.run(["-r", repo, "check"], password: password), 1, "check with a damaged index")
            // restic 0.14's name for the command.
            let r = expectStatus(try await OffsiteBinary.run(["-r", repo, "rebuild-index"], password: password), 0, "rebuild-index")
            #expect(r.stderr.contains("removing invalid index \(damaged)"))
            #expect(!indexFiles(repo).contains(damaged))
            try await restoresIdentically(repo, dir, dir + "/out")
            // Reading every pack gives the same index content.
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "repair", "index", "--read-all-packs"], password: password), 0, "--read-all-packs")
            try await restoresIdentically(repo, dir, dir + "/out2")
            // Holding no lock afterwards.
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: repo + "/locks")) ?? []).isEmpty)
        }
    }
}
