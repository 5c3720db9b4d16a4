import Foundation
import OffsiteEngine
import OffsiteTesting
import Testing

/// Bad input gets a clear error and restic's exit code, and never wrong data.
@Suite struct CLIErrorTests {
    /// A small repository made by offsite, with one snapshot of a small tree.
    func makeRepo(_ dir: String) async throws -> String {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        try f.file("a.txt", Array("hello\n".utf8))
        try f.file("big.bin", TreeFixture.randomBytes(700_000, seed: 5))
        let repo = dir + "/repo"
        expectStatus(try await OffsiteBinary.run(["init", "-r", repo], password: password), 0, "init")
        expectStatus(try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src"], password: password), 0, "backup")
        await makeWritable(repo)
        return repo
    }

    func onlyFile(_ dir: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }
        guard names.count == 1 else { throw FixtureError(message: "expected one file in \(dir), found \(names)") }
        return dir + "/" + names[0]
    }

    @Test func wrongPasswordExits12() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepo(dir)
            let r = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "snapshots"], password: "not the password"), 12, "wrong password")
            #expect(r.stderr.contains("wrong password or no key found"))
        }
    }

    @Test func noRepositoryExits10() async throws {
        try await withScratchDirectory { dir in
            let r = expectStatus(
                try await OffsiteBinary.run(["-r", dir + "/nothing-here", "snapshots"], password: password), 10, "no repo")
            #expect(r.stderr.contains("config"))
            expectStatus(try await OffsiteBinary.run(["snapshots"], password: password), 1, "no -r")
        }
    }

    @Test func passwordSources() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepo(dir)
            try Data((password + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/pw"))
            expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots", "--password-file", dir + "/pw"]), 0, "--password-file")
            expectStatus(
                try await OffsiteBinary.run(["snapshots"], environment: ["RESTIC_REPOSITORY": repo, "RESTIC_PASSWORD_FILE": dir + "/pw"]),
                0,
                "env file")
            expectStatus(
                try await OffsiteBinary.run(
                    ["snapshots"], environment: ["RESTIC_REPOSITORY": "local:" + repo, "RESTIC_PASSWORD_COMMAND": "cat \(dir)/pw"]), 0,
                "env command")
            try Data(repo.utf8).write(to: URL(fileURLWithPath: dir + "/repofile"))
            expectStatus(
                try await OffsiteBinary.run(["--repository-file", dir + "/repofile", "snapshots"], password: password), 0,
                "--repository-file")
            expectStatus(
                try await OffsiteBinary.run(["snapshots", "--password-file", dir + "/pw", "--password-command", "true", "-r", repo]), 1,
                "both sources")
        }
    }

    /// Global flags before the command, as restic takes them: flags and options with values in
    /// any order, before a command with subcommands, and `--repo=` with its value attached.
    @Test func globalFlagsBeforeTheCommand() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepo(dir)
            let r = expectStatus(
                try await OffsiteBinary.run(
                    [
                        "--json", "-q", "--limit-download", "100", "-o", "s3.region=eu-west-1", "--repo=" + repo, "--compression", "max",
                        "snapshots",
                    ],
                    password: password), 0, "flags before snapshots")
            #expect(try jsonArray(r.stdout).count == 1)
            let keys = expectStatus(try await OffsiteBinary.run(["--json", "-r", repo, "key", "list"], password: password), 0, "key list")
            #expect(try jsonArray(keys.stdout).count == 1)
            // An unknown flag or a missing value is a usage error: exit 1 from both tools.
            for args in [["--no-such-flag", "snapshots"], ["snapshots", "--no-such-flag"], ["snapshots", "--host"]] {
                let ours = expectStatus(try await OffsiteBinary.run(["-r", repo] + args, password: password), 1, "usage error \(args)")
                #expect(ours.stderr.contains(args.contains("--host") ? "--host" : "--no-such-flag"))
                expectStatus(try await Restic.run(args, repo: repo, password: password), 1, "restic usage error \(args)")
            }
        }
    }

    @Test func flippedPackByteFailsNamingPackAndBlob() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepo(dir)
            // The data pack is the larger one.
            let packs = try FileManager.default.subpathsOfDirectory(atPath: repo + "/data").filter { $0.count > 60 }
            let sized = try packs.map { ($0, try FileManager.default.attributesOfItem(atPath: repo + "/data/" + $0)[.size] as? Int ?? 0) }
            let (pack, _) = try #require(sized.max { $0.1 < $1.1 })
            let path = repo + "/data/" + pack
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[1000] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: path))
            let packID = String(pack.split(separator: "/").last!)

            let r = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", dir + "/out"], password: password), 1, "restore")
            #expect(r.stderr.contains(packID))
            #expect(r.stderr.contains("data blob"))
            // The damaged file is not left behind with wrong bytes; the intact one is restored.
            #expect(!FileManager.default.fileExists(atPath: dir + "/out" + dir + "/src/big.bin"))
            #expect(FileManager.default.contents(atPath: dir + "/out" + dir + "/src/a.txt") == Data("hello\n".utf8))
        }
    }

    @Test func damagedObjectsAreNamed() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepo(dir)
            let snapshot = try onlyFile(repo + "/snapshots")
            try Data("garbage".utf8).write(to: URL(fileURLWithPath: snapshot))
            let r1 = expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots"], password: password), 1, "garbage snapshot")
            #expect(r1.stderr.contains("snapshots/" + (snapshot as NSString).lastPathComponent))

            let index = try onlyFile(repo + "/index")
            let data = try Data(contentsOf: URL(fileURLWithPath: index))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: index))
            let r2 = expectStatus(try await OffsiteBinary.run(["-r", repo, "ls", "latest"], password: password), 1, "truncated index")
            #expect(r2.stderr.contains("index/" + (index as NSString).lastPathComponent))

            let key = try onlyFile(repo + "/keys")
            try Data("{\"kdf\":".utf8).write(to: URL(fileURLWithPath: key))
            let r3 = expectStatus(try await OffsiteBinary.run(["-r", repo, "snapshots"], password: password), 1, "garbage key")
            #expect(r3.stderr.contains("keys/" + (key as NSString).lastPathComponent))

            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: repo + "/config"))
            let r4 = try await OffsiteBinary.run(["-r", repo, "snapshots"], password: password)
            #expect(r4.status != 0)
            #expect(r4.stderr.contains("key") || r4.stderr.contains("config"))
        }
    }

    @Test func missingBackupPathSavesNothing() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepo(dir)
            let before = try FileManager.default.contentsOfDirectory(atPath: repo + "/snapshots")
            let r = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", dir + "/does-not-exist"], password: password), 1, "missing path")
            #expect(r.stderr.contains("do not exist"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: repo + "/snapshots") == before)
            // One missing path among existing ones: saved, warned, exit 3.
            let partial = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src", dir + "/nope"], password: password), 3, "partial")
            #expect(partial.stderr.contains("nope does not exist, skipping"))
        }
    }

    /// `offsite dump … | head`: the reader leaves after 10 bytes of 700 KB. The command ends as
    /// restic's does, by SIGPIPE (141 under pipefail) and silently, and releases its lock.
    @Test func aReaderThatStopsEarlyEndsTheCommandQuietly() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepo(dir)
            let offsite = try OffsiteBinary.path()
            for command in ["dump latest \(dir)/src/big.bin", "dump latest \(dir)/src", "dump --archive zip latest \(dir)/src"] {
                let script = "set -o pipefail; \"$0\" -r \"$1\" \(command) | head -c 10 >/dev/null; echo $?"
                let r = try await ProcessRunner.run(
                    "/bin/bash", ["-c", script, offsite, repo],
                    environment: ["RESTIC_PASSWORD": password, "RESTIC_PASSWORD_FILE": nil, "RESTIC_PASSWORD_COMMAND": nil])
                #expect(r.stdoutString == "141\n", "offsite \(command) | head")
                #expect(r.stderr == "", "offsite \(command) | head")
                #expect(try FileManager.default.contentsOfDirectory(atPath: repo + "/locks").isEmpty, "offsite \(command) | head")
            }
        }
    }

    @Test func initRefusesExistingRepositoryAndHelpTeaches() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepo(dir)
            let r = expectStatus(try await OffsiteBinary.run(["init", "-r", repo], password: password), 1, "re-init")
            #expect(r.stderr.contains("already"))
            let help = expectStatus(try await OffsiteBinary.run(["backup", "--help"]), 0, "help")
            #expect(help.stdoutString.contains("Examples"))
            let version = expectStatus(try await OffsiteBinary.run(["version"]), 0, "version")
            #expect(version.stdoutString.hasPrefix("offsite "))
        }
    }

    @Test func catAndKeyListAgreeWithRestic() async throws {
        try await withScratchDirectory { dir in
            let repo = try await makeRepo(dir)
            let snapshotID = try #require(
                try await Restic.run(["list", "snapshots"], repo: repo, password: password).stdoutString.split(separator: "\n").first)
            let config = expectStatus(try await OffsiteBinary.run(["-r", repo, "cat", "config"], password: password), 0, "cat config")
            #expect(config.stdoutString == (try await Restic.run(["cat", "config"], repo: repo, password: password)).stdoutString)
            for args in [["cat", "snapshot", String(snapshotID)], ["cat", "snapshot", String(snapshotID.prefix(8))]] {
                let ours = expectStatus(
                    try await OffsiteBinary.run(["-r", repo] + args, password: password), 0, args.joined(separator: " "))
                let theirs = try await Restic.run(args, repo: repo, password: password)
                // restic 0.14 predates `program_version` (0.16) and `summary` (0.17) and drops them
                // when it prints; everything else must be the same.
                var ourObject = try #require(try JSONSerialization.jsonObject(with: ours.stdout) as? [String: Any])
                #expect(ourObject.removeValue(forKey: "program_version") as? String == "offsite \(OffsiteVersion.current)")
                #expect(ourObject.removeValue(forKey: "summary") != nil)
                let theirObject = try #require(try JSONSerialization.jsonObject(with: theirs.stdout) as? [String: Any])
                #expect(NSDictionary(dictionary: ourObject).isEqual(to: theirObject), "\(args)")
                #expect(ours.stdoutString.hasPrefix("{\n  \"time\": "))
            }
            // restic 0.14 prints mac.r clamped; offsite prints it as stored (as newer restic does).
            let ourKey =
                try JSONSerialization.jsonObject(
                    with: try await OffsiteBinary.run(["-r", repo, "cat", "masterkey"], password: password).stdout)
                as? [String: Any]
            let theirKey =
                try JSONSerialization.jsonObject(with: try await Restic.run(["cat", "masterkey"], repo: repo, password: password).stdout)
                as? [String: Any]
            #expect(ourKey?["encrypt"] as? String == theirKey?["encrypt"] as? String)
            #expect((ourKey?["mac"] as? [String: String])?["k"] == (theirKey?["mac"] as? [String: String])?["k"])
            let index = try #require(
                try await Restic.run(["list", "index"], repo: repo, password: password).stdoutString.split(separator: "\n").first)
            #expect(
                try await OffsiteBinary.run(["-r", repo, "cat", "index", String(index)], password: password).stdout
                    == (try await Restic.run(["cat", "index", String(index)], repo: repo, password: password).stdout))
            let keys = try jsonArray(
                expectStatus(try await OffsiteBinary.run(["-r", repo, "key", "list", "--json"], password: password), 0, "key list").stdout)
            let resticKeys = try jsonArray(try await Restic.run(["key", "list", "--json"], repo: repo, password: password).stdout)
            #expect(keys.map { $0["id"] as? String } == resticKeys.map { $0["id"] as? String })
            #expect(keys.first?["current"] as? Bool == true)
        }
    }
}
