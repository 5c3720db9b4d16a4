import Foundation
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `copy` and `init --copy-chunker-params`, against restic 0.14: copies restic can check and
/// restore, snapshot files identical to restic's copies, each tool recognising the other's
/// copies, only missing data transferred, and an interrupted copy leaving a valid destination.
@Suite struct CopyTests {
    let sourcePassword = "source password"

    /// A source repository written by `tool` with three snapshots: host h1, host h2 with tag
    /// x, and h1 again after a small change (so the last one shares most of its data).
    func makeSource(_ dir: String, tool: String) async throws -> String {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        for i in 0..<4 { try f.file("file-\(i)", TreeFixture.randomBytes(1_200_000, seed: UInt64(200 + i))) }
        try f.file("text.txt", Array((0..<50_000).map { "line \($0)\n" }.joined().utf8))
        let repo = dir + "/source"
        func run(_ args: [String]) async throws {
            if tool == "restic" {
                expectStatus(try await Restic.run(args, repo: repo, password: sourcePassword, cwd: dir), 0, "restic \(args)")
            } else {
                expectStatus(try await OffsiteBinary.run(["-r", repo] + args, password: sourcePassword, cwd: dir), 0, "offsite \(args)")
            }
        }
        try await TestRepository.makeLocal(at: repo, password: sourcePassword, tool: tool)
        try await run(["backup", "src", "--host", "h1", "--pack-size", "4"])
        try await run(["backup", "src", "--host", "h2", "--tag", "x", "--pack-size", "4"])
        try f.file("new-file", TreeFixture.randomBytes(300_000, seed: 300))
        try await run(["backup", "src", "--host", "h1", "--pack-size", "4"])
        return repo
    }

    func offsite(_ args: [String], _ dest: String, env: [String: String?] = [:], cwd: String? = nil) async throws -> ProcessRunner.Result {
        try await OffsiteBinary.run(
            ["-r", dest] + args, password: password, environment: ["RESTIC_FROM_PASSWORD": sourcePassword].merging(env) { $1 }, cwd: cwd)
    }

    func restic(_ args: [String], _ dest: String) async throws -> ProcessRunner.Result {
        try await ProcessRunner.run(
            try Restic.path(), ["-r", dest, "--no-cache"] + args,
            environment: [
                "RESTIC_PASSWORD": password, "RESTIC_FROM_PASSWORD": sourcePassword, "TZ": "UTC", "RESTIC_REPOSITORY": nil,
                "RESTIC_PASSWORD_FILE": nil,
            ])
    }

    /// Snapshot ID → (original, parsed JSON) from `restic snapshots --json`.
    func snapshots(_ repo: String, _ pw: String) async throws -> [[String: Any]] {
        try jsonArray(expectStatus(try await Restic.run(["snapshots", "--json"], repo: repo, password: pw), 0, "snapshots").stdout)
    }

    func files(_ repo: String) -> Set<String> {
        Set((FileManager.default.enumerator(atPath: repo)?.allObjects as? [String] ?? []).filter { !$0.hasPrefix("locks") })
    }

    /// copy's text with the new snapshot IDs and elapsed times blanked, one entry per source
    /// snapshot (restic visits them in listing order, offsite oldest first).
    func normalized(_ out: String) -> [String] {
        var text = out.replacing(#/snapshot [0-9a-f]{8} saved/#, with: "snapshot ID saved").replacing(#/\[\d+:\d\d\]/#, with: "[T]")
        text = text.replacing(#/copied to snapshot [0-9a-f]{8}/#, with: "copied to snapshot ID")
        return text.components(separatedBy: "\nsnapshot ").sorted()
    }

    @Test(arguments: ["restic", "offsite"])
    func copiesLikeRestic(sourceWriter: String) async throws {
        try await withScratchDirectory { dir in
            let source = try await makeSource(dir, tool: sourceWriter)
            let ours = dir + "/ours", theirs = dir + "/theirs"
            await expectStatus(
                try offsite(["init", "--copy-chunker-params", "--from-repo", source], ours), 0, "offsite init --copy-chunker-params")
            await expectStatus(
                try restic(["init", "--copy-chunker-params", "--from-repo", source], theirs), 0, "restic init --copy-chunker-params")
            var polynomials: [String] = []
            for repo in [source, ours] {
                let pw = repo == source ? sourcePassword : password
                let config =
                    try JSONSerialization.jsonObject(
                        with: expectStatus(try await Restic.run(["cat", "config"], repo: repo, password: pw), 0, "cat config").stdout)
                    as? [String: Any]
                polynomials.append(config?["chunker_polynomial"] as? String ?? "")
            }
            #expect(polynomials[0] == polynomials[1] && !polynomials[0].isEmpty)

            // One snapshot at a time, oldest first, so both tools copy the same packs in the same
            // order (with no IDs restic visits snapshots in listing order): same output.
            for s in try await snapshots(source, sourcePassword) {
                let id = try #require(s["id"] as? String)
                let copied = await expectStatus(try offsite(["copy", "--from-repo", source, id], ours), 0, "offsite copy")
                let reference = await expectStatus(try restic(["copy", "--from-repo", source, id], theirs), 0, "restic copy")
                #expect(copied.stdoutString.contains("copy started"))
                #expect(
                    normalized(copied.stdoutString) == normalized(reference.stdoutString),
                    "\(copied.stdoutString)\n---\n\(reference.stdoutString)")
            }
            let check = try await Restic.run(["check", "--read-data"], repo: ours, password: password)
            #expect(check.status == 0, "restic check --read-data: \(check.stdoutString) \(check.stderr)")
            // Every copy is the snapshot restic's copy writes, byte for byte, and restores identically.
            let sourceSnapshots = try await snapshots(source, sourcePassword)
            let ourSnapshots = try await snapshots(ours, password)
            #expect(ourSnapshots.count == 3)
            for s in sourceSnapshots {
                let id = try #require(s["id"] as? String)
                let mine = try #require(ourSnapshots.first { $0["original"] as? String == id }, "no copy of \(id)")
                let reference = try await #require(try snapshots(theirs, password).first { $0["original"] as? String == id })
                let a = try await Restic.run(["cat", "snapshot", mine["id"] as! String], repo: ours, password: password).stdout
                let b = try await Restic.run(["cat", "snapshot", reference["id"] as! String], repo: theirs, password: password).stdout
                #expect(a == b, "\(String(decoding: a, as: UTF8.self))\n---\n\(String(decoding: b, as: UTF8.self))")
                #expect(mine["tree"] as? String == s["tree"] as? String)
            }
            let latest = try #require(ourSnapshots.last?["id"] as? String)
            expectStatus(try await Restic.run(["restore", latest, "--target", dir + "/out"], repo: ours, password: password), 0, "restore")
            #expect(
                try TreeFixture.describe(dir + "/out/src", includeDirectoryTimes: false)
                    == TreeFixture.describe(dir + "/src", includeDirectoryTimes: false))

            // Running it again copies nothing; restic recognises offsite's copies and the other way round.
            let before = files(ours)
            let again = await expectStatus(try offsite(["copy", "--from-repo", source], ours), 0, "copy again")
            #expect(again.stdoutString.components(separatedBy: "skipping source snapshot").count == 4)
            #expect(!again.stdoutString.contains("copy started"))
            #expect(files(ours) == before)
            let resticAgain = await expectStatus(try restic(["copy", "--from-repo", source], ours), 0, "restic copy into offsite's copy")
            #expect(!resticAgain.stdoutString.contains("copy started"), "\(resticAgain.stdoutString)")
            #expect(normalized(again.stdoutString) == normalized(resticAgain.stdoutString))
            let intoTheirs = await expectStatus(try offsite(["copy", "--from-repo", source], theirs), 0, "offsite copy into restic's copy")
            #expect(!intoTheirs.stdoutString.contains("copy started"), "\(intoTheirs.stdoutString)")
        }
    }

    /// Copies deduplicate: a second copy transfers only the new snapshot's new data, and with
    /// the source's chunker parameters a backup of the same files straight into the
    /// destination stores no new data.
    @Test func copiesOnlyWhatIsMissingAndDeduplicates() async throws {
        try await withScratchDirectory { dir in
            let source = try await makeSource(dir, tool: "offsite")
            let dest = dir + "/dest"
            await expectStatus(try offsite(["init", "--copy-chunker-params", "--from-repo", source], dest), 0, "init")
            // Only h2's snapshot first (filter), then the rest by ID prefix and latest.
            let h2 = await expectStatus(try offsite(["copy", "--from-repo", source, "--host", "h2"], dest), 0, "copy --host h2")
            #expect(h2.stdoutString.components(separatedBy: "copy started").count == 2)
            let copiedFirst = try await snapshots(dest, password)
            #expect(copiedFirst.map { $0["hostname"] as? String } == ["h2"] && copiedFirst.first?["tags"] as? [String] == ["x"])
            let sourceSnapshots = try await snapshots(source, sourcePassword)
            let first = try #require(sourceSnapshots.first { $0["hostname"] as? String == "h1" }?["id"] as? String)
            await expectStatus(try offsite(["copy", "--from-repo", source, String(first.prefix(8))], dest), 0, "copy by prefix")
            let dataBefore = try directorySize(dest + "/data")
            let last = await expectStatus(try offsite(["copy", "--from-repo", source, "latest"], dest), 0, "copy latest")
            #expect(last.stdoutString.contains("copy started"))
            let added = try directorySize(dest + "/data") - dataBefore
            // The last snapshot added a 300 kB file; everything else was in the destination already.
            #expect(added > 300_000 && added < 450_000, "copied \(added) bytes")
            await #expect(try snapshots(dest, password).count == 3)
            let backup = expectStatus(
                try await OffsiteBinary.run(["-r", dest, "backup", "src", "--json"], password: password, cwd: dir), 0,
                "backup into the copy")
            #expect(try summary(backup)["data_blobs"] as? Int == 0, "\(backup.stdoutString.suffix(600))")
            expectStatus(try await Restic.run(["check", "--read-data"], repo: dest, password: password), 0, "restic check")
        }
    }

    /// A v2 source copied into a v1 repository (no compression there), and restic's older
    /// --repo2 flags (-r is then the source).
    @Test func copiesIntoVersion1WithLegacyFlags() async throws {
        try await withScratchDirectory { dir in
            let source = try await makeSource(dir, tool: "offsite")
            let dest = dir + "/v1"
            expectStatus(try await OffsiteBinary.run(["init", "-r", dest, "--repository-version", "1"], password: password), 0, "init v1")
            try Data(password.utf8).write(to: URL(fileURLWithPath: dir + "/dest-password"))
            let r = expectStatus(
                try await OffsiteBinary.run(
                    ["-r", source, "copy", "--repo2", dest, "--password-file2", dir + "/dest-password"], password: sourcePassword),
                0, "copy --repo2")
            #expect(r.stderr.contains("--repo2 has been deprecated"))
            expectStatus(try await Restic.run(["check", "--read-data"], repo: dest, password: password), 0, "restic check of the v1 copy")
            await #expect(try snapshots(dest, password).count == 3)
            expectStatus(
                try await Restic.run(["restore", "latest", "--target", dir + "/out"], repo: dest, password: password), 0, "restore")
            #expect(
                try TreeFixture.describe(dir + "/out/src", includeDirectoryTimes: false)
                    == TreeFixture.describe(dir + "/src", includeDirectoryTimes: false))
        }
    }

    @Test func mistakesAreNamed() async throws {
        try await withScratchDirectory { dir in
            let source = try await makeSource(dir, tool: "offsite")
            let dest = dir + "/dest"
            expectStatus(try await OffsiteBinary.run(["init", "-r", dest], password: password), 0, "init")
            let noSource = await expectStatus(try offsite(["copy"], dest), 1, "copy without a source")
            #expect(noSource.stderr.contains("Please specify a source repository location (--from-repo or --from-repository-file)"))
            let wrong = try await offsite(["copy", "--from-repo", source], dest, env: ["RESTIC_FROM_PASSWORD": "not it"])
            #expect(wrong.status == 12, "\(wrong.status) \(wrong.stderr)")
            let both = await expectStatus(try offsite(["copy", "--from-repo", source, "--repo2", dest], dest), 1, "both groups")
            #expect(both.stderr.contains("Option groups repo2 and from-repo are mutually exclusive"))
            let initWithout = await expectStatus(try offsite(["init", "--from-repo", source], dir + "/other"), 1, "init --from-repo alone")
            #expect(initWithout.stderr.contains("Secondary repository must only be specified when copying the chunker parameters"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/other/config"))
            // The source by environment variables, and its location from a file.
            try Data((source + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/source-location"))
            await expectStatus(
                try offsite(["copy"], dest, env: ["RESTIC_FROM_REPOSITORY_FILE": dir + "/source-location"]), 0,
                "copy by RESTIC_FROM_REPOSITORY_FILE")
            await #expect(try snapshots(dest, password).count == 3)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: dest + "/locks")) ?? []).isEmpty)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: source + "/locks")) ?? []).isEmpty)
        }
    }

    /// A damaged source pack stops the copy of that snapshot with the pack named; nothing
    /// refers to what was written, and restic checks the destination.
    @Test func damagedSourceIsNotCopied() async throws {
        try await withScratchDirectory { dir in
            let source = try await makeSource(dir, tool: "offsite")
            await makeWritable(source)
            let packs = (FileManager.default.enumerator(atPath: source + "/data")?.allObjects as? [String] ?? []).filter { $0.count == 67 }
            var largest = ("", 0)
            for p in packs {
                let size = (try? FileManager.default.attributesOfItem(atPath: source + "/data/" + p)[.size] as? Int) ?? 0
                if size > largest.1 { largest = (p, size) }
            }
            let path = source + "/data/" + largest.0
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[bytes.count / 3] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: path))
            let dest = dir + "/dest"
            expectStatus(try await OffsiteBinary.run(["init", "-r", dest], password: password), 0, "init")
            let r = await expectStatus(try offsite(["copy", "--from-repo", source], dest), 1, "copy from a damaged source")
            #expect(r.stderr.contains(String(largest.0.suffix(64))) && r.stderr.contains("the snapshot was not copied"), "\(r.stderr)")
            await #expect(try snapshots(dest, password).isEmpty)
            let check = try await Restic.run(["check"], repo: dest, password: password)
            #expect(check.status == 0, "\(check.stdoutString) \(check.stderr)")
        }
    }

    /// Killed at random moments (seed printed on failure), a copy leaves a destination restic
    /// checks, whose snapshots all restore, and the next run finishes the copy.
    @Test func killedCopyLeavesAValidDestination() async throws {
        try await withScratchDirectory { dir in
            let source = try await makeSource(dir, tool: "offsite")
            let dest = dir + "/dest"
            expectStatus(try await OffsiteBinary.run(["init", "-r", dest], password: password), 0, "init")
            let seed = UInt64.random(in: 1...UInt64.max)
            var rng = SplitMix64(seed: seed)
            for attempt in 0..<4 {
                let delay = UInt32(rng.next() % 1_200_000)
                try await runOffsiteAndKill(
                    ["-r", dest, "copy", "--from-repo", source, "--pack-size", "4"],
                    environment: ["RESTIC_PASSWORD": password, "RESTIC_FROM_PASSWORD": sourcePassword], after: delay)
                // The kill left the lock behind: it is stale (dead PID on this host).
                expectStatus(try await OffsiteBinary.run(["-r", dest, "unlock"], password: password), 0, "unlock")
                let check = try await Restic.run(["check", "--read-data"], repo: dest, password: password)
                #expect(check.status == 0, "seed \(seed), attempt \(attempt), killed after \(delay) µs: \(check.stderr)")
                for s in try await snapshots(dest, password) {
                    let id = s["id"] as! String
                    let out = dir + "/restore-\(attempt)-\(id)"
                    expectStatus(
                        try await Restic.run(["restore", id, "--target", out], repo: dest, password: password), 0,
                        "seed \(seed): restore \(id)")
                    try? FileManager.default.removeItem(atPath: out)
                }
            }
            await expectStatus(try offsite(["copy", "--from-repo", source], dest), 0, "copy to the end")
            await #expect(try snapshots(dest, password).count == 3, "seed \(seed)")
            expectStatus(try await Restic.run(["check", "--read-data"], repo: dest, password: password), 0, "seed \(seed): check after")
        }
    }

    func directorySize(_ path: String) throws -> Int {
        var total = 0
        for case let name as String in FileManager.default.enumerator(atPath: path)! {
            total += (try FileManager.default.attributesOfItem(atPath: path + "/" + name)[.size] as? Int) ?? 0
        }
        return total
    }
}
