import Foundation
import OffsiteFormat
import OffsiteTesting
import Testing

@testable import OffsiteEngine

#if canImport(Glibc)
import Glibc
#endif

/// `dump`, `find` and `diff` against restic 0.14 on the same repositories: file bytes, tar and
/// zip archives byte for byte (and readable by GNU tar, unzip and Python), find's text and JSON,
/// diff's text and JSON.
@Suite struct BrowseTests {
    // MARK: dump

    @Test func dumpFileIsByteIdenticalToResticAndTheOriginal() async throws {
        try await withScratchDirectory { dir in
            try InteropFixture.build(at: dir + "/src", large: true)
            let repo = try await Self.resticRepository(dir, paths: ["src"])
            let files = ["mixed-40MiB", "sizes-0", "sizes-8MiB+1", "odd/ünïcødé-日本語-😀", "odd/new\nline"]
            for file in files {
                let original = try Data(contentsOf: URL(fileURLWithPath: dir + "/src/" + file))
                let theirs = expectStatus(
                    try await Restic.run(["dump", "latest", "/src/" + file], repo: repo, password: password), 0, "restic dump")
                let ours = expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "dump", "latest", "/src/" + file], password: password), 0,
                    "offsite dump \(file)")
                #expect(ours.stdout == original, "\(file)")
                #expect(ours.stdout == theirs.stdout, "\(file)")
            }
            // A subfolder reference (restic 0.17) makes the path relative to it.
            let leaf = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "dump", "latest:/src/nested", "deeper/deepest/leaf.txt"], password: password), 0,
                "dump with subfolder")
            #expect(leaf.stdoutString == "leaf\n")
        }
    }

    @Test func dumpDirectoryAsTarIsByteIdenticalToResticAndExtracts() async throws {
        try await withScratchDirectory { dir in
            try Self.buildDumpFixture(dir)
            let repo = try await Self.resticRepository(dir, paths: ["src", "meta", "raw"])
            for path in ["/", "/src", "/meta", "/raw", "/src/nested", "/src/long"] {
                let theirs = expectStatus(
                    try await Restic.run(["dump", "latest", path], repo: repo, password: password), 0, "restic dump \(path)")
                let ours = expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "dump", "latest", path], password: password), 0, "dump \(path)")
                #expect(ours.stdout.count > 1024)
                #expect(ours.stdout == theirs.stdout, "tar of \(path) differs from restic's")
            }

            // GNU tar reads it back into the same tree (times to the second, as tar keeps them).
            let archive = dir + "/all.tar"
            try await OffsiteBinary.run(["-r", repo, "dump", "latest", "/"], password: password).stdout.write(
                to: URL(fileURLWithPath: archive))
            try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
            expectStatus(
                try await ProcessRunner.run("/usr/bin/tar", ["--xattrs", "--xattrs-include=*", "-xf", archive, "-C", dir + "/out"]), 0,
                "tar -x")
            for top in ["src", "meta"] {
                // Below the top level restic leaves FIFOs and devices out of archives.
                let original = try Self.describe(dir + "/" + top, times: .rounded, owners: true).filter { $0.value != "other" }
                let extracted = try Self.describe(dir + "/out/" + top, times: .rounded, owners: true)
                #expect(original.count > 10)
                for (path, want) in original { #expect(extracted[path] == want, "\(top)/\(path)") }
                #expect(Set(extracted.keys) == Set(original.keys), "\(top)")
            }
            // Dumping /meta makes its FIFO and device top-level entries: restic writes those as
            // empty regular files with their permissions.
            try await OffsiteBinary.run(["-r", repo, "dump", "latest", "/meta"], password: password).stdout.write(
                to: URL(fileURLWithPath: dir + "/meta.tar"))
            let listing = expectStatus(
                try await ProcessRunner.run("/usr/bin/tar", ["-tvf", dir + "/meta.tar"], environment: ["TZ": "UTC"]), 0, "tar -t"
            ).stdoutString
            #expect(listing.contains("-rw-r----- root/root         0 2005-03-18 01:58 meta/special-fifo\n"), "\(listing)")
            #expect(TreeFixture.xattrs(dir + "/out/meta/attrs/with-xattrs") == TreeFixture.xattrs(dir + "/meta/attrs/with-xattrs"))
            #expect(TreeFixture.xattrs(dir + "/out/meta/attrs")["user.dir-attr"] == Array("on a directory".utf8))
        }
    }

    @Test func dumpDirectoryAsZipIsByteIdenticalToResticAndExtracts() async throws {
        try await withScratchDirectory { dir in
            try Self.buildDumpFixture(dir)
            let repo = try await Self.resticRepository(dir, paths: ["src", "meta", "raw"])
            for path in ["/", "/src", "/meta", "/raw"] {
                let theirs = expectStatus(
                    try await Restic.run(["dump", "--archive", "zip", "latest", path], repo: repo, password: password), 0, "restic dump zip"
                )
                let ours = expectStatus(
                    try await OffsiteBinary.run(["-r", repo, "dump", "-a", "zip", "latest", path], password: password), 0,
                    "dump zip \(path)")
                #expect(ours.stdout == theirs.stdout, "zip of \(path) differs from restic's")
            }
            let archive = dir + "/src.zip"
            try await OffsiteBinary.run(["-r", repo, "dump", "--archive", "zip", "latest", "/src"], password: password).stdout.write(
                to: URL(fileURLWithPath: archive))

            // Python checks every CRC and extracts names exactly; symlinks become files holding the target.
            let script = """
                import sys, zipfile
                z = zipfile.ZipFile(sys.argv[1])
                bad = z.testzip()
                if bad is not None: sys.exit("bad CRC: " + bad)
                z.extractall(sys.argv[2])
                """
            expectStatus(try await ProcessRunner.run(try Self.python(), ["-c", script, archive, dir + "/py"]), 0, "python zipfile")
            let original = try Self.describe(dir + "/src", times: .none, owners: false, linksAsFiles: true)
            let extracted = try Self.describe(dir + "/py/src", times: .none, owners: false, linksAsFiles: true, modes: false)
            #expect(original.count > 10)
            #expect(extracted == original.mapValues { Self.withoutMode($0) })

            // Info-ZIP unzip restores modes, symlinks and times (to the second); it rewrites
            // control characters in names, so those are left out of this comparison, as is the
            // file from 1960 (zip's timestamp is unsigned).
            expectStatus(try await ProcessRunner.run("/usr/bin/unzip", ["-K", "-q", archive, "-d", dir + "/uz"]), 0, "unzip")
            let unzipped = try Self.describe(dir + "/uz/src", times: .truncated, owners: false)
            let plain = try Self.describe(dir + "/src", times: .truncated, owners: false).filter { entry in
                !entry.key.unicodeScalars.contains { $0.value < 0x20 } && entry.key != "long/old"
            }
            #expect(plain.count > 10)
            for (path, want) in plain { #expect(unzipped[path] == want, "\(path)") }
        }
    }

    /// A repository written by offsite dumps the same bytes through both tools.
    @Test func dumpOfAnOffsiteRepositoryMatchesRestic() async throws {
        try await withScratchDirectory { dir in
            try Self.buildDumpFixture(dir)
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            expectStatus(
                try await OffsiteBinary.run(["-r", repo, "backup", "src", "meta", "raw"], password: password, cwd: dir), 0, "offsite backup"
            )
            for args in [["latest", "/"], ["-a", "zip", "latest", "/"], ["latest", "/src/sizes-8MiB+1"]] {
                let theirs = expectStatus(try await Restic.run(["dump"] + args, repo: repo, password: password), 0, "restic dump \(args)")
                let ours = expectStatus(try await OffsiteBinary.run(["-r", repo, "dump"] + args, password: password), 0, "dump \(args)")
                #expect(!ours.stdout.isEmpty)
                #expect(ours.stdout == theirs.stdout, "\(args)")
            }
        }
    }

    @Test func dumpReportsWhatIsWrongWithThePath() async throws {
        try await withScratchDirectory { dir in
            try InteropFixture.build(at: dir + "/src", large: false)
            let repo = try await Self.resticRepository(dir, paths: ["src"])
            let cases: [([String], String)] = [
                (["latest", "/src/nope"], "cannot dump file: path \"/src/nope\" not found in snapshot"),
                (["latest", "/src/link-relative"], "cannot dump file: \"/src/link-relative\" should be a file, but is a \"symlink\""),
                (["latest", "/src/sizes-1/x"], "cannot dump file: \"/src/sizes-1\" should be a dir, but is a \"file\""),
                (["--archive", "rar", "latest", "/src"], "unknown archive format \"rar\""),
                (["deadbeef", "/src"], "failed to find snapshot"),
            ]
            for (args, message) in cases {
                let r = expectStatus(try await OffsiteBinary.run(["-r", repo, "dump"] + args, password: password), 1, "dump \(args)")
                #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
                #expect(r.stdout.isEmpty)
            }
        }
    }

    /// Entries of 4 GiB and more need ZIP64 records; the output must still be restic's, and the
    /// dump must stream (memory far below the file size).
    @Test func zip64ArchiveOfAHugeSparseFileMatchesRestic() async throws {
        try await withScratchDirectory { dir in
            try FileManager.default.createDirectory(atPath: dir + "/big", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: dir + "/big/zeros", contents: nil)
            guard truncate(dir + "/big/zeros", (1 << 32) + 1) == 0 else { throw FixtureError(message: "cannot create the sparse file") }
            try Data("small\n".utf8).write(to: URL(fileURLWithPath: dir + "/big/small"))
            let repo = try await Self.resticRepository(dir, paths: ["big"])
            // Both dumps are read in step and compared chunk by chunk; only the last bytes are kept.
            let script = """
                import subprocess, sys
                offsite, restic, repo, rss = sys.argv[1:5]
                ours = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss, offsite, "-r", repo, "dump", "-a", "zip", "latest", "/big"],
                                        stdout=subprocess.PIPE)
                theirs = subprocess.Popen([restic, "-r", repo, "--no-cache", "dump", "-a", "zip", "latest", "/big"], stdout=subprocess.PIPE)
                total, tail = 0, b""
                while True:
                    a, b = ours.stdout.read(1 << 20), theirs.stdout.read(1 << 20)
                    if a != b: sys.exit("the archives differ after %d bytes" % total)
                    if not a: break
                    total += len(a)
                    tail = (tail + a)[-200:]
                if ours.wait() != 0 or theirs.wait() != 0: sys.exit("a dump failed")
                print(total, tail.hex())
                """
            let r = expectStatus(
                try await ProcessRunner.run(
                    try Self.python(), ["-c", script, try OffsiteBinary.path(), try Restic.path(), repo, dir + "/rss"],
                    environment: ["RESTIC_PASSWORD": password, "TZ": "UTC", "RESTIC_REPOSITORY": nil]), 0, "zip64 comparison")
            let fields = r.stdoutString.split(separator: " ")
            #expect(fields.count == 2)
            #expect((Int(fields.first ?? "") ?? 0) > 1 << 32)
            let rssKiB =
                Int(try String(contentsOfFile: dir + "/rss", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            #expect(rssKiB > 0 && rssKiB < 400 * 1024, "peak RSS \(rssKiB) KiB while dumping a 4 GiB file")
            // The archive ends with a ZIP64 end-of-central-directory record (56 bytes), its
            // locator (20) and the classic record (22).
            let tail = Hex.decode(String(fields.last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? []
            #expect(tail.count == 200)
            if tail.count == 200 {
                #expect(Array(tail[(200 - 22 - 20 - 56)..<(200 - 22 - 20 - 52)]) == [0x50, 0x4b, 0x06, 0x06])
                #expect(Array(tail[(200 - 22 - 20)..<(200 - 22 - 16)]) == [0x50, 0x4b, 0x06, 0x07])
            }
        }
    }

    /// Fields that no fixture reaches in a test run: sizes of 8 GiB and more go to a PAX record.
    @Test func tarHeaderForHugeFilesUsesPAXSize() async throws {
        try await withScratchDirectory { dir in
            var h = TarHeader(
                name: Array("huge".utf8), kind: .regular, mode: 0o644, uid: 0, gid: 0, size: 9 << 30,
                modificationTime: GoTime(seconds: 1_700_000_000, nanoseconds: 600_000_000))
            h.userName = Array("a-user-name-much-longer-than-thirty-two-bytes".utf8)
            let bytes = try h.encode()
            #expect(bytes.count == 3 * 512)
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/h.tar"))
            let script = """
                import sys, tarfile
                t = tarfile.open(sys.argv[1], mode="r|")
                m = t.next()
                print(m.name, m.size, m.mtime, m.uname, sorted(m.pax_headers.items()))
                """
            let r = expectStatus(try await ProcessRunner.run(try Self.python(), ["-c", script, dir + "/h.tar"]), 0, "python tarfile")
            #expect(
                r.stdoutString
                    == "huge 9663676416 1700000001 a-user-name-much-longer-than-thirty-two-bytes [('size', '9663676416'), ('uname', 'a-user-name-much-longer-than-thirty-two-bytes')]\n"
            )
        }
    }

    // MARK: find

    @Test func findMatchesRestic() async throws {
        try await withScratchDirectory { dir in
            try await Self.buildTwoSnapshots(dir)
            let repo = dir + "/repo"
            let ids = try await Self.snapshotIDs(repo)
            // Each query runs as text, as JSON or both.
            let queries: [([String], [Bool])] = [
                (["*.txt"], [false, true]),
                (["-i", "LEAF*", "/src/nested", "**/deepest/*"], [false, true]),
                (["--long", "*"], [false]),
                (["*", "--oldest", "2001-09-09", "--newest", "09.02.2009 00:00"], [true]),
                (["*", "--oldest", "Fri Feb 13 23:31:30 +0000 UTC 2009", "--newest", "2009-02-13 23:31:31 -0000"], [false]),
                (["--host", "first-host", "--tag", "first", "sizes-*", "odd"], [false, true]),
                (["--path", "/nope", "*"], [true]),
                (["-s", String(ids[0].prefix(8)), "--long", "odd"], [false, true]),
                (["nothing-matches-this"], [false]),
            ]
            for (q, modes) in queries {
                for json in modes {
                    let args = ["find"] + q + (json ? ["--json"] : [])
                    let theirs = expectStatus(try await Restic.run(args, repo: repo, password: password), 0, "restic \(args)")
                    let ours = expectStatus(try await OffsiteBinary.run(["-r", repo] + args, password: password), 0, "offsite \(args)")
                    // restic 0.14 lists snapshots in directory order; offsite oldest first (as
                    // restic 0.16+). Within a snapshot the output must be identical.
                    if json {
                        #expect(try Self.jsonGroups(ours.stdout).sorted() == Self.jsonGroups(theirs.stdout).sorted(), "\(args)")
                        #expect(ours.stdoutString.hasSuffix("]\n"))
                    } else {
                        #expect(Self.textGroups(ours.stdoutString).sorted() == Self.textGroups(theirs.stdoutString).sorted(), "\(args)")
                    }
                    if q.contains("-s") || q.contains("--path") || q == ["nothing-matches-this"] {
                        #expect(ours.stdout == theirs.stdout, "\(args)")
                    }
                    #expect(ours.stdout.count > 10 || q.contains("--path") || q == ["nothing-matches-this"], "\(args)")
                }
            }
            // Oldest snapshot first.
            let all = try await OffsiteBinary.run(["-r", repo, "find", "*.txt"], password: password).stdoutString
            let headings = all.split(separator: "\n").filter { $0.hasPrefix("Found matching entries") }
            #expect(headings.count == 2)
            #expect(headings.first?.contains(String(ids[0].prefix(8))) == true)

            let bad = expectStatus(try await OffsiteBinary.run(["-r", repo, "find", "[z-"], password: password), 1, "bad pattern")
            #expect(bad.stderr.contains("pattern \"[z-\" is malformed"))
            let badTime = expectStatus(
                try await OffsiteBinary.run(["-r", repo, "find", "x", "--oldest", "yesterday"], password: password), 1, "bad time")
            #expect(badTime.stderr.contains("unable to parse time: \"yesterday\""))
        }
    }

    /// restic 0.14 skips a directory whose contents equal a directory it already searched
    /// without a match (its `ignoreTrees`), which misses matches; restic 0.17 removed that, and
    /// offsite finds them.
    @Test func findLooksIntoIdenticalDirectories() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/t")
            try f.dir("a")
            try f.dir("b")
            try f.file("a/x", Array("same".utf8))
            try f.file("b/x", Array("same".utf8))
            let repo = try await Self.resticRepository(dir, paths: ["t"])
            let ours = expectStatus(try await OffsiteBinary.run(["-r", repo, "-q", "find", "b"], password: password), 0, "find b")
            #expect(ours.stdoutString == "/t/b\n/t/b/x\n")
        }
    }

    @Test func findTimesParseLikeGo() {
        let utc: [(String, Int64, Int32)] = [
            ("2024-01-02 03:04:05 +0100", 1_704_161_045, 0), ("02.01.2024 03:04:05 -0230", 1_704_173_645, 0),
            ("Tue Jan 2 03:04:05 +0000 UTC 2024", 1_704_164_645, 0), ("2024-01-02 03:04:05.25 UTC", 1_704_164_645, 250_000_000),
            ("2024-01-02 03:04:05   +0000", 1_704_164_645, 0),
        ]
        for (text, seconds, nanos) in utc {
            let t = FindTime.parse(text)
            #expect(t?.seconds == seconds && t?.nanoseconds == nanos, "\(text)")
        }
        for local in ["2024-02-29", "2024-01-02 3:04", "02.01.2024", "02.01.2024 03:04:05"] {
            #expect(FindTime.parse(local) != nil, "\(local)")
        }
        for bad in ["2024-02-30", "2023-02-29", "2024-1-02", "2024-01-02 03:4", "02.01.24", "2024-01-02T03:04:05", "2024-01-02 24:00", ""] {
            #expect(FindTime.parse(bad) == nil, "\(bad)")
        }
    }

    // MARK: diff

    @Test func diffMatchesRestic() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/d")
            try f.dir("gone-dir/inner")
            try f.dir("same/deeper")
            try f.dir("changes/nested")
            try f.dir("dir-to-file")
            try f.file("keep.txt", Array("keep".utf8))
            try f.file("content.txt", Array("before".utf8))
            try f.file("mode.txt", Array("mode".utf8))
            try f.file("time.txt", Array("time".utf8))
            try f.file("gone.txt", Array("gone".utf8))
            try f.file("gone-dir/inner/a", TreeFixture.randomBytes(3000, seed: 1))
            try f.file("same/deeper/s", TreeFixture.randomBytes(5000, seed: 2))
            try f.file("changes/nested/deep.txt", Array("deep before".utf8))
            try f.file("file-to-link", Array("was a file".utf8))
            try f.file("dir-to-file/x", Array("x".utf8))
            try f.symlink("link-retarget", to: "keep.txt")
            f.setTimes("time.txt", seconds: 1_500_000_000, nanoseconds: 0)
            let repo = try await Self.resticRepository(dir, paths: ["d"])

            try f.file("content.txt", Array("after, longer".utf8))
            chmod(dir + "/d/mode.txt", 0o600)
            f.setTimes("time.txt", seconds: 1_600_000_000, nanoseconds: 5)
            try FileManager.default.removeItem(atPath: dir + "/d/gone.txt")
            try FileManager.default.removeItem(atPath: dir + "/d/gone-dir")
            try f.file("changes/nested/deep.txt", Array("deep after".utf8))
            try f.dir("new-dir/sub")
            try f.file("new-dir/sub/n", TreeFixture.randomBytes(70_000, seed: 3))
            try f.file("new.txt", Array("new".utf8))
            try FileManager.default.removeItem(atPath: dir + "/d/file-to-link")
            try f.symlink("file-to-link", to: "keep.txt")
            try FileManager.default.removeItem(atPath: dir + "/d/dir-to-file")
            try f.file("dir-to-file", Array("now a file".utf8))
            try FileManager.default.removeItem(atPath: dir + "/d/link-retarget")
            try f.symlink("link-retarget", to: "new.txt")
            expectStatus(try await Restic.run(["backup", "d"], repo: repo, password: password, cwd: dir), 0, "restic backup 2")

            let ids = try await Self.snapshotIDs(repo)
            let (a, b) = (String(ids[0].prefix(8)), ids[1])
            let runs: [[String]] = [
                ["diff", a, b], ["diff", "--metadata", a, b], ["--json", "diff", a, b], ["diff", "--json", "--metadata", b, a],
                ["-q", "diff", a, b], ["diff", a, a],
            ]
            for args in runs {
                let theirs = expectStatus(try await Restic.run(args, repo: repo, password: password), 0, "restic \(args)")
                let ours = expectStatus(try await OffsiteBinary.run(["-r", repo] + args, password: password), 0, "offsite \(args)")
                #expect(ours.stdoutString == theirs.stdoutString, "\(args)")
            }
            let text = try await OffsiteBinary.run(["-r", repo, "diff", "--metadata", a, b], password: password).stdoutString
            for line in [
                "M    /d/content.txt", "U    /d/mode.txt", "U    /d/time.txt", "-    /d/gone-dir/inner/a", "+    /d/new-dir/sub/n",
                "TU   /d/file-to-link", "TU   /d/dir-to-file", "U    /d/link-retarget", "M    /d/changes/nested/deep.txt",
            ] {
                #expect(text.contains(line + "\n"), "\(line)")
            }
            let missing = expectStatus(try await OffsiteBinary.run(["-r", repo, "diff", a], password: password), 1, "one snapshot")
            #expect(missing.stderr.contains("specify two snapshot IDs"))
        }
    }

    // MARK: Fixtures

    /// restic init and a backup of `paths` (relative to `dir`), so the trees start at `/<path>`.
    static func resticRepository(_ dir: String, paths: [String], extra: [String] = []) async throws -> String {
        let repo = dir + "/repo"
        try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
        expectStatus(try await Restic.run(["backup"] + extra + paths, repo: repo, password: password, cwd: dir), 0, "restic backup")
        return repo
    }

    /// Full snapshot IDs, oldest first.
    static func snapshotIDs(_ repo: String) async throws -> [String] {
        let list = try jsonArray(try await Restic.run(["snapshots", "--json"], repo: repo, password: password).stdout)
        return list.sorted { ($0["time"] as? String ?? "") < ($1["time"] as? String ?? "") }.compactMap { $0["id"] as? String }
    }

    /// The interop tree plus the metadata tree, and names and values that need PAX records or
    /// USTAR's prefix field: long and non-UTF-8 names, a long link target, a large uid, a time
    /// before 1970.
    static func buildDumpFixture(_ dir: String) throws {
        try InteropFixture.build(at: dir + "/src", large: false)
        try MetadataFixture.build(at: dir + "/meta")
        let f = TreeFixture(root: dir + "/src")
        let (d60, e60) = (String(repeating: "d", count: 60), String(repeating: "e", count: 60))
        try f.dir("long/\(d60)/\(e60)")
        try f.file("long/\(d60)/\(e60)/" + String(repeating: "f", count: 80), Array("splits into prefix and name".utf8))
        try f.file("long/" + String(repeating: "g", count: 120), Array("name over 100 bytes, no slash to split at".utf8))
        let h = String(repeating: "h", count: 120), i = String(repeating: "i", count: 120)
        try f.dir("long/\(h)/\(i)")
        try f.file("long/\(h)/\(i)/" + String(repeating: "j", count: 50), Array("path over 256 bytes".utf8))
        try f.symlink("long/link", to: String(repeating: "t", count: 150))
        try f.file("long/big-uid", Array("owned".utf8), mode: 0o640)
        guard lchown(dir + "/src/long/big-uid", 3_000_000, 5) == 0 else { throw FixtureError(message: "cannot chown") }
        try f.file("long/old", Array("1960".utf8), mode: 0o4755)
        f.setTimes("long/old", seconds: -315_619_200, nanoseconds: 0)
        try FileManager.default.createDirectory(atPath: dir + "/raw", withIntermediateDirectories: true)
        let raw = Array((dir + "/raw/bad").utf8) + [0xFF] + Array("name".utf8) + [0]
        let fd = raw.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) } }
        guard fd >= 0 else { throw FixtureError(message: "cannot create a non-UTF-8 name") }
        _ = write(fd, "not utf-8", 9)
        close(fd)
    }

    /// Two restic snapshots of `src` (the interop tree), with fixed times, hosts and tags; the
    /// second after a few changes.
    static func buildTwoSnapshots(_ dir: String) async throws {
        try InteropFixture.build(at: dir + "/src", large: false)
        _ = try await resticRepository(
            dir, paths: ["src"], extra: ["--time", "2024-01-01 10:00:00", "--host", "first-host", "--tag", "first"])
        let f = TreeFixture(root: dir + "/src")
        try f.file("added.txt", Array("added".utf8))
        try f.file("nested/deeper/deepest/leaf.txt", Array("leaf changed\n".utf8))
        try FileManager.default.removeItem(atPath: dir + "/src/sizes-1")
        expectStatus(
            try await Restic.run(
                ["backup", "--time", "2024-02-01 10:00:00", "--host", "second-host", "--tag", "second", "src"], repo: dir + "/repo",
                password: password, cwd: dir), 0, "restic backup 2")
    }

    static func python() throws -> String {
        guard let p = ProcessRunner.which("python3") else { throw FixtureError(message: "python3 is not installed") }
        return p
    }

    /// find's text output as one string per snapshot.
    static func textGroups(_ s: String) -> [String] {
        s.components(separatedBy: "Found matching entries in snapshot ").filter { !$0.isEmpty }.map {
            $0.hasSuffix("\n\n") ? String($0.dropLast()) : $0
        }
    }

    /// find's JSON output as the raw text of each top-level array element.
    static func jsonGroups(_ data: Data) throws -> [String] {
        let b = Array(data)
        guard b.first == UInt8(ascii: "["), b.count >= 3 else { throw FixtureError(message: "not a JSON array") }
        var out: [String] = []
        var depth = 0, start = 1, inString = false, escaped = false
        for (i, c) in b.enumerated() {
            if inString {
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                continue
            }
            switch c {
            case 0x22: inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                if depth == 0, i > start { out.append(String(decoding: b[start..<i], as: UTF8.self)) }
            case UInt8(ascii: ","):
                if depth == 1 {
                    out.append(String(decoding: b[start..<i], as: UTF8.self))
                    start = i + 1
                }
            default: break
            }
        }
        return out
    }

    enum Times { case none, rounded, truncated }

    /// Per relative path: type, permission bits, owner, size and content hash (or link target),
    /// and the modification time in whole seconds as tar (`rounded`) or zip (`truncated`) keeps it.
    static func describe(
        _ root: String, times: Times, owners: Bool, linksAsFiles: Bool = false, modes: Bool = true
    ) throws -> [String: String] {
        var out: [String: String] = [:]
        func walk(_ rel: String) throws {
            let path = rel.isEmpty ? root : root + "/" + rel
            var st = stat()
            guard lstat(path, &st) == 0 else { throw FixtureError(message: "cannot stat \(path)") }
            let kind = st.st_mode & S_IFMT
            var desc: String
            let mode = modes ? " mode=\(String(st.st_mode & 0o7777, radix: 8))" : ""
            let owner = owners ? " owner=\(st.st_uid):\(st.st_gid)" : ""
            switch kind {
            case S_IFDIR:
                desc = "dir" + mode + owner
            case S_IFLNK:
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
                desc = linksAsFiles ? "file size=\(target.utf8.count) fnv=\(fnv(Data(target.utf8)))" : "symlink -> \(target)"
            case S_IFREG:
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                desc = "file" + mode + " size=\(data.count) fnv=\(fnv(data))" + owner
                switch times {
                case .none: break
                case .rounded: desc += " mtime=\(st.st_mtim.tv_sec + (st.st_mtim.tv_nsec >= 500_000_000 ? 1 : 0))"
                case .truncated: desc += " mtime=\(st.st_mtim.tv_sec)"
                }
            default:
                desc = "other"
            }
            if !rel.isEmpty { out[rel] = desc }
            if kind == S_IFDIR {
                for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() {
                    try walk(rel.isEmpty ? name : rel + "/" + name)
                }
            }
        }
        try walk("")
        return out
    }

    static func fnv(_ data: Data) -> String {
        var h: UInt64 = 1_469_598_103_934_665_603
        for b in data { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
        return String(h, radix: 16)
    }

    static func withoutMode(_ s: String) -> String {
        s.split(separator: " ").filter { !$0.hasPrefix("mode=") }.joined(separator: " ")
    }
}
