import Foundation
import OffsiteTesting
import Testing

/// The backup engine against restic: metadata both ways, incremental backups, selection,
/// streams, dry runs and interruption.
@Suite struct BackupFeatureTests {
    func snapshots(_ repo: String) async throws -> [[String: Any]] {
        try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout)
    }

    @Test func metadataOffsiteToRestic() async throws {
        try await withScratchDirectory { dir in
            try MetadataFixture.build(at: dir + "/src")
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
            // restic first, then offsite of the same files: identical tree blobs prove identical metadata.
            expectStatus(try await Restic.run(["backup", "src"], repo: repo, password: password, cwd: dir), 0, "restic backup")
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", "src", "--force"], password: password, cwd: dir), 0, "offsite backup")
            let snaps = try await snapshots(repo)
            #expect(snaps.count == 2)
            #expect(snaps[0]["tree"] as? String == snaps[1]["tree"] as? String)
            let offsiteID = try #require(snaps[1]["id"] as? String)
            expectStatus(
                try await Restic.run(["restore", offsiteID, "--target", dir + "/out"], repo: repo, password: password), 0, "restic restore")
            try expectSameTree(dir + "/src", dir + "/out/src")
            #expect(try await Restic.run(["check", "--read-data"], repo: repo, password: password).status == 0)
        }
    }

    @Test func metadataResticToOffsite() async throws {
        try await withScratchDirectory { dir in
            try MetadataFixture.build(at: dir + "/src")
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
            expectStatus(try await Restic.run(["backup", "src"], repo: repo, password: password, cwd: dir), 0, "restic backup")
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "restore", "latest", "--target", dir + "/out"], password: password), 0,
                "offsite restore"
            )
            try expectSameTree(dir + "/src", dir + "/out/src")
        }
    }

    @Test func incrementalBackupReadsOnlyChangedFiles() async throws {
        try await withScratchDirectory { dir in
            try InteropFixture.build(at: dir + "/src", large: false)
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            let first = try summary(
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "backup", "src", "--json"], password: password, cwd: dir), 0, "backup 1"))
            let total = first["total_files_processed"] as? Int ?? 0
            #expect(total >= 15)
            #expect(first["files_new"] as? Int == total)

            // Change one file's content (size changes too) and add one.
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/src/sizes-8MiB"))
            handle.seekToEndOfFile()
            handle.write(Data("appended".utf8))
            try handle.close()
            try Data("new".utf8).write(to: URL(fileURLWithPath: dir + "/src/new-file"))
            let second = try summary(
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "backup", "src", "--json"], password: password, cwd: dir), 0, "backup 2"))
            #expect(second["files_new"] as? Int == 1)
            #expect(second["files_changed"] as? Int == 1)
            #expect(second["files_unmodified"] as? Int == total - 1)
            // Only the changed tail of the 8 MiB file and the new file are new data.
            #expect((second["data_blobs"] as? Int ?? 99) <= 3)
            let snaps = try await snapshots(repo)
            #expect(snaps.last?["parent"] as? String == snaps.first?["id"] as? String)

            let forced = try summary(
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "backup", "src", "--json", "--force"], password: password, cwd: dir), 0,
                    "forced"))
            #expect(forced["files_unmodified"] as? Int == 0)
            #expect(forced["data_blobs"] as? Int == 0)

            expectStatus(
                try await Restic.run(["restore", "latest", "--target", dir + "/out"], repo: repo, password: password), 0, "restic restore")
            try expectSameTree(dir + "/src", dir + "/out/src")
            // restic 0.14 reads snapshots with `summary` and `program_version`.
            #expect(try await Restic.run(["check"], repo: repo, password: password).status == 0)
            let cat =
                try JSONSerialization.jsonObject(
                    with: try await OffsiteBinary.run(["-r", repo, "cat", "snapshot", "latest"], password: password).stdout)
                as? [String: Any]
            let s = try #require(cat?["summary"] as? [String: Any])
            #expect(s["files_unmodified"] as? Int == 0)
            #expect(s["total_files_processed"] as? Int == total + 1)
            #expect(s["backup_start"] is String && s["backup_end"] is String)
        }
    }

    @Test func excludesSelectWhatResticSelects() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("logs/old")
            try f.dir("cache")
            try f.dir("keep/deep/tmp")
            try f.file("logs/app.log", Array("log".utf8))
            try f.file("logs/old/app.log.1", Array("old".utf8))
            try f.file("logs/keep.log", Array("keep".utf8))
            try f.file("cache/CACHEDIR.TAG", Array("Signature: 8a477f597d28d172789f06886806bc55".utf8))
            try f.file("cache/blob", Array("cached".utf8))
            try f.file("keep/deep/tmp/x", Array("x".utf8))
            try f.file("keep/deep/data.bin", TreeFixture.randomBytes(5000, seed: 1))
            try f.file("keep/small.txt", Array("small".utf8))
            try f.file("keep/.nobackup", [])
            try f.file("README.TXT", Array("readme".utf8))
            try Data("# comment\n*.TXT\n".utf8).write(to: URL(fileURLWithPath: dir + "/iexcludes"))
            let flags = [
                "--exclude", "*.log", "--exclude", "!keep.log", "--exclude", "**/deep/tmp", "--exclude-caches",
                "--exclude-larger-than", "4k", "--iexclude-file", dir + "/iexcludes",
            ]
            var listings: [[String]] = []
            for tool in ["restic", "offsite"] {
                let repo = dir + "/repo-" + tool
                if tool == "restic" {
                    try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
                    expectStatus(
                        try await Restic.run(["backup", "src"] + flags, repo: repo, password: password, cwd: dir), 0, "restic backup")
                } else {
                    try await TestRepository.makeLocal(at: repo, password: password)
                    expectStatus(
                        try await OffsiteBinary.run(["-r", repo, "backup", "src"] + flags, password: password, cwd: dir), 0,
                        "offsite backup")
                }
                let ls = try await Restic.run(["ls", "latest"], repo: repo, password: password).stdoutString
                listings.append(ls.split(separator: "\n").dropFirst().map(String.init))
            }
            #expect(listings[0] == listings[1])
            #expect(listings[1].contains("/src/logs/keep.log"))
            #expect(!listings[1].contains("/src/logs/app.log"))
            #expect(!listings[1].contains("/src/cache/blob"))
        }
    }

    /// Relative targets as restic records them: the same tree (so the same layout and
    /// metadata), the same absolute `paths` (`snapshots --json` prints them sorted), and the
    /// next backup finds restic's snapshot as its parent. `.` and `..` stand for their entries; a working directory entered through a
    /// symlink is recorded as `$PWD` names it.
    @Test func relativeTargetsAsRestic() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("sub/deep")
            try f.file("file", Array("top".utf8))
            try f.file(".hidden", Array("hidden".utf8))
            try f.file("sub/a", TreeFixture.randomBytes(3000, seed: 2))
            try f.file("sub/deep/b", Array("b".utf8))
            try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: "src")
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
            let src = dir + "/src"
            let cases: [(cwd: String, args: [String], paths: [String])] = [
                (src, ["."], [src]),
                (src, ["./"], [src]),
                (src + "/sub", [".."], [src]),
                (src + "/sub/deep", ["../.."], [src]),
                (src, ["./sub", "file"], [src + "/file", src + "/sub"]),
                (src, ["sub/../file", "sub/deep"], [src + "/file", src + "/sub/deep"]),
                (src + "/sub", ["../file", "deep"], [src + "/file", src + "/sub/deep"]),
                (src, [".", src + "/sub"], [src, src + "/sub"]),
                (dir + "/link", ["."], [dir + "/link"]),
                (dir + "/link", ["sub"], [dir + "/link/sub"]),
            ]
            for c in cases {
                let env: [String: String?] = ["PWD": c.cwd]
                let what = "backup \(c.args.joined(separator: " ")) in \(c.cwd)"
                expectStatus(
                    try await Restic.run(["backup"] + c.args, repo: repo, password: password, cwd: c.cwd, environment: env), 0,
                    "restic " + what)
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "backup"] + c.args, password: password, environment: env, cwd: c.cwd),
                    0, "offsite " + what)
                let snaps = try await snapshots(repo).suffix(2)
                let restic = try #require(snaps.first), offsite = try #require(snaps.last)
                #expect(restic["paths"] as? [String] == c.paths, "restic \(what)")
                #expect(offsite["paths"] as? [String] == c.paths, "offsite \(what)")
                if c.args.contains(where: { $0.hasPrefix("/") }) {
                    // An absolute target's intermediate directories include /tmp, which other
                    // tests change between the two backups: the layouts are compared instead.
                    var listings: [String] = []
                    for snap in [restic, offsite] {
                        let id = try #require(snap["id"] as? String)
                        let ls = try await Restic.run(["ls", id], repo: repo, password: password).stdoutString
                        listings.append(ls.split(separator: "\n").dropFirst().joined(separator: "\n"))
                    }
                    #expect(listings[0] == listings[1], "layout of \(what)")
                } else {
                    #expect(offsite["tree"] as? String == restic["tree"] as? String, "tree of \(what)")
                }
                #expect(offsite["parent"] as? String == restic["id"] as? String, "parent of \(what)")
            }
            #expect(try await Restic.run(["check", "--read-data"], repo: repo, password: password).status == 0)
        }
    }

    @Test func stdinAndCommandStreams() async throws {
        try await withScratchDirectory { dir in
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            let payload = Data(TreeFixture.randomBytes(3_000_000, seed: 9)) + Data(repeating: 65, count: 2_000_000)
            let r1 = try await ProcessRunner.run(
                try OffsiteBinary.path(), ["-r", repo, "backup", "--stdin", "--stdin-filename", "db.sql"],
                environment: ["RESTIC_PASSWORD": password, "TZ": "UTC"], stdin: payload)
            expectStatus(r1, 0, "backup --stdin")
            let dump = try await Restic.run(["dump", "latest", "/db.sql"], repo: repo, password: password)
            #expect(dump.stdout == payload)
            await #expect(try snapshots(repo).first?["paths"] as? [String] == ["/db.sql"])

            expectStatus(
                try await OffsiteBinary.run(
                    [
                        "-r", repo, "backup", "--stdin-filename", "cmd.out", "--stdin-from-command", "--",
                        "sh", "-c", "printf 'from a command'",
                    ], password: password), 0, "command ok")
            #expect(try await Restic.run(["dump", "latest", "/cmd.out"], repo: repo, password: password).stdoutString == "from a command")

            // A command that fails halfway: its stderr is shown, no snapshot is saved.
            let before = try await snapshots(repo).count
            let failing = try await OffsiteBinary.run(
                [
                    "-r", repo, "backup", "--stdin-filename", "broken.sql", "--stdin-from-command", "--",
                    "sh", "-c", "head -c 3000000 /dev/zero; echo 'dump failed: disk on fire' >&2; exit 7",
                ],
                password: password)
            #expect(failing.status == 1)
            #expect(failing.stderr.contains("dump failed: disk on fire"))
            #expect(failing.stderr.contains("status 7"))
            await #expect(try snapshots(repo).count == before)
            #expect(try await Restic.run(["check"], repo: repo, password: password).status == 0)
        }
    }

    @Test func dryRunWritesNothing() async throws {
        try await withScratchDirectory { dir in
            try InteropFixture.build(at: dir + "/src", large: false)
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            let before = try FileManager.default.subpathsOfDirectory(atPath: repo).sorted()
            let s = try summary(
                expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "backup", dir + "/src", "--dry-run", "--json"], password: password), 0,
                    "dry run"))
            #expect((s["data_blobs"] as? Int ?? 0) > 10)
            #expect(s["snapshot_id"] == nil)
            #expect(try FileManager.default.subpathsOfDirectory(atPath: repo).sorted() == before)
        }
    }

    @Test func interruptExits130AndLeavesRepositoryValid() async throws {
        try await withScratchDirectory { dir in
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try OffsiteBinary.path())
            // A stream that produces 40 MiB and then stalls, so the backup is mid-way when interrupted.
            p.arguments = [
                "-r", repo, "backup", "--stdin-filename", "slow", "--stdin-from-command", "--",
                "sh", "-c", "head -c 41943040 /dev/urandom; exec sleep 600",
            ]
            p.environment = ProcessInfo.processInfo.environment.merging(["RESTIC_PASSWORD": password]) { $1 }
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            // Wait until the backup has stored data, so the interrupt lands mid-way.
            _ = await eventuallyOnOwnThread(timeout: .seconds(120)) { packCount(repo) > 0 }
            #expect(packCount(repo) > 0)
            kill(p.processIdentifier, SIGINT)
            p.waitUntilExit()
            #expect(p.terminationStatus == 130)
            #expect(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("interrupt"))
            await #expect(try snapshots(repo).isEmpty)
            let check = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
            #expect(check.status == 0, "\(check.stdoutString) \(check.stderr)")
        }
    }

    func packCount(_ repo: String) -> Int {
        (FileManager.default.enumerator(atPath: repo + "/data")?.allObjects as? [String] ?? []).filter { $0.count == 67 }.count
    }
}
