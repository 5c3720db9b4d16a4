import Foundation
import OffsiteTesting
import Testing

/// `ls` against restic 0.14 on the same repositories (one written by restic, one by offsite):
/// the whole tree, DIR arguments (one, several, nested, overlapping, unclean, a file, missing),
/// `--recursive`, `--long`, `--json`, snapshot selection and argument errors, byte for byte.
///
/// Both tools run in the same time zone, one with summer time and not UTC, so `--long`'s local
/// times and the header's zone name are exercised; a few listings also run in UTC and in a zone
/// whose offset differs from the snapshot's.
///
/// One intentional difference: the JSON snapshot line of a snapshot written by offsite carries
/// its `program_version` and `summary` (as restic 0.17 prints them); restic 0.14 does not know
/// those fields and drops them. Everything else on that line, and every other line, is the same.
@Suite struct LsTests {
    static let zone = "Europe/Berlin"

    /// `ls` arguments; each is run on both repositories and compared byte for byte.
    static let listings: [[String]] = [
        ["latest"],
        ["latest", "/src"],
        ["latest", "/src/odd", "/meta", "/raw"],
        ["latest", "/src/nested/deeper"],
        ["latest", "--recursive", "/src/nested"],
        ["latest", "/src/nested", "/src/nested/deeper/deepest"],
        ["latest", "/src/nested/deeper/deepest", "/src/nested"],
        ["--long", "latest"],
        ["-l", "latest", "/meta/", "/src/long"],
        ["--long", "--recursive", "latest", "/meta/modes", "/meta/links"],
        ["--json", "latest"],
        ["--json", "latest", "/src/nested", "/meta"],
        ["--json", "--recursive", "latest", "/src/odd"],
        ["latest", "/src/sizes-512KiB"],
        ["--long", "latest", "/src/link-relative", "/meta/special-fifo"],
        ["--json", "latest", "/src/sizes-0", "/src/empty-dir"],
        ["latest", "/src/nope"],
        ["--json", "latest", "/nope/deeper"],
        ["--long", "latest", "/src/mode-0600/below-a-file"],
        ["latest", "/"],
        ["--recursive", "latest", "/"],
        ["latest", "//src/./nested/../odd/"],
        ["-q", "latest", "/src"],
    ]

    @Test func listingsMatchResticOnAResticRepository() async throws {
        try await withScratchDirectory { dir in
            let repo = try await Self.resticRepository(dir)
            for args in Self.listings {
                try await Self.expectSameListing(args, repo: repo)
            }
            for zone in ["UTC", "Asia/Kolkata"] {
                for args in [["latest", "/src"], ["-l", "latest", "/meta", "/src/long"]] {
                    try await Self.expectSameListing(args, repo: repo, zone: zone)
                }
            }

            // What restic 0.14 prints, spelled out: a DIR itself and its direct entries, not
            // the directories leading to it and nothing further down.
            let nested = try await Self.offsite(["ls", "-q", "latest", "/src/nested"], repo: repo).stdoutString
            #expect(nested == "/src/nested\n/src/nested/deeper\n/src/nested/link-up\n")
            let recursive = try await Self.offsite(["ls", "-q", "--recursive", "latest", "/src/nested"], repo: repo).stdoutString
            #expect(recursive.hasSuffix("/src/nested/deeper/deepest/leaf.txt\n/src/nested/link-up\n"))
            let file = try await Self.offsite(["ls", "latest", "/src/sizes-512KiB"], repo: repo).stdoutString
            #expect(file.hasPrefix("snapshot ") && file.contains(" filtered by [/src/sizes-512KiB] at "), "\(file)")
            #expect(file.split(separator: "\n").dropFirst().map(String.init) == ["/src/sizes-512KiB"])
            let long = try await Self.offsite(["ls", "-q", "-l", "latest", "/src/link-relative", "/meta/special-fifo"], repo: repo)
                .stdoutString
            #expect(long.contains(" /src/link-relative -> nested/deeper/deepest/leaf.txt\n"), "\(long)")
            #expect(long.hasPrefix("prw-r----- "), "\(long)")
        }
    }

    @Test func listingsMatchResticOnAnOffsiteRepository() async throws {
        try await withScratchDirectory { dir in
            try BrowseTests.buildDumpFixture(dir)
            let repo = dir + "/repo"
            try await TestRepository.makeLocal(at: repo, password: password)
            await expectStatus(try Self.offsite(["backup", "src", "meta", "raw"], repo: repo, cwd: dir), 0, "offsite backup")
            for args in Self.listings {
                try await Self.expectSameListing(args, repo: repo, offsiteSnapshot: true)
            }
        }
    }

    /// Snapshot references and filters: restic 0.14 reports a reference it cannot resolve on
    /// stderr and lists nothing, with exit status 0.
    @Test func snapshotSelectionMatchesRestic() async throws {
        try await withScratchDirectory { dir in
            let repo = try await Self.resticRepository(dir)
            let ids = try await BrowseTests.snapshotIDs(repo)
            let runs: [[String]] = [
                [String(ids[0].prefix(8)), "/src"],
                [ids[1], "/src/nested"],
                ["latest", "--host", "first-host", "/src"],
                ["--tag", "first", "latest", "--json", "/src/nested"],
                ["--path", "/src", "latest", "/meta"],
                [String(ids[0].prefix(8)), "--host", "second-host", "/src/odd"],
                ["deadbeef", "/src"],
                ["latest", "--host", "nobody"],
            ]
            for args in runs {
                let theirs = try await Self.restic(["ls"] + args, repo: repo)
                let ours = try await Self.offsite(["ls"] + args, repo: repo)
                #expect(ours.status == theirs.status, "\(args): \(ours.status) vs \(theirs.status)")
                #expect(ours.stdout == theirs.stdout, "\(args)\n\(Self.firstDifference(ours.stdout, theirs.stdout))")
                #expect(ours.stderr == theirs.stderr, "\(args)")
            }
            // The first snapshot still has sizes-1, the second does not.
            let first = try await Self.offsite(["ls", "-q", String(ids[0].prefix(8)), "/src/sizes-1"], repo: repo).stdoutString
            #expect(first == "/src/sizes-1\n")
            let second = try await Self.offsite(["ls", "-q", ids[1], "/src/sizes-1"], repo: repo).stdoutString
            #expect(second == "")
        }
    }

    @Test func argumentErrorsMatchRestic() async throws {
        try await withScratchDirectory { dir in
            let repo = try await Self.resticRepository(dir)
            for args in [["latest", "src"], ["latest", "/src", "relative/too"], []] {
                let theirs = try await Self.restic(["ls"] + args, repo: repo)
                let ours = try await Self.offsite(["ls"] + args, repo: repo)
                #expect(theirs.status == 1)
                #expect(ours.status == theirs.status, "\(args): \(ours.status)")
                #expect(ours.stderr == theirs.stderr, "\(args)")
                #expect(ours.stdout.isEmpty)
            }
        }
    }

    // MARK: Helpers

    /// Runs `ls` with both tools in `zone` and expects the same output. With
    /// `offsiteSnapshot`, the JSON snapshot line may have offsite's two extra fields.
    static func expectSameListing(
        _ args: [String], repo: String, zone: String = zone, offsiteSnapshot: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let what = "ls \(args.joined(separator: " ")) (TZ=\(zone))"
        let theirs = await expectStatus(
            try restic(["ls"] + args, repo: repo, zone: zone), 0, "restic " + what, sourceLocation: sourceLocation)
        let ours = await expectStatus(
            try offsite(["ls"] + args, repo: repo, zone: zone), 0, "offsite " + what, sourceLocation: sourceLocation)
        #expect(ours.stderr == theirs.stderr, "\(what)", sourceLocation: sourceLocation)
        guard offsiteSnapshot && args.contains("--json") else {
            #expect(ours.stdout == theirs.stdout, "\(what)\n\(firstDifference(ours.stdout, theirs.stdout))", sourceLocation: sourceLocation)
            return
        }
        let (ourHead, ourRest) = splitFirstLine(ours.stdout)
        let (theirHead, theirRest) = splitFirstLine(theirs.stdout)
        #expect(ourRest == theirRest, "\(what)\n\(firstDifference(ourRest, theirRest))", sourceLocation: sourceLocation)
        var ourSnapshot = try #require(try JSONSerialization.jsonObject(with: ourHead) as? [String: Any])
        let theirSnapshot = try #require(try JSONSerialization.jsonObject(with: theirHead) as? [String: Any])
        #expect((ourSnapshot.removeValue(forKey: "program_version") as? String)?.hasPrefix("offsite ") == true)
        #expect(ourSnapshot.removeValue(forKey: "summary") != nil)
        #expect(NSDictionary(dictionary: ourSnapshot).isEqual(to: theirSnapshot), "\(what)", sourceLocation: sourceLocation)
        #expect(theirSnapshot["struct_type"] as? String == "snapshot")
    }

    /// The interop tree, the metadata tree and a non-UTF-8 name, backed up twice by restic
    /// (different hosts and tags; `sizes-1` removed and a file added in the second).
    static func resticRepository(_ dir: String) async throws -> String {
        try BrowseTests.buildDumpFixture(dir)
        let repo = dir + "/repo"
        try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
        await expectStatus(
            try restic(["backup", "--host", "first-host", "--tag", "first", "src", "meta", "raw"], repo: repo, cwd: dir), 0,
            "restic backup 1")
        try FileManager.default.removeItem(atPath: dir + "/src/sizes-1")
        try TreeFixture(root: dir + "/src").file("added.txt", Array("added".utf8))
        await expectStatus(
            try restic(["backup", "--host", "second-host", "--tag", "second", "src", "meta", "raw"], repo: repo, cwd: dir), 0,
            "restic backup 2")
        return repo
    }

    static func restic(_ args: [String], repo: String, zone: String = zone, cwd: String? = nil) async throws -> ProcessRunner.Result {
        try await ProcessRunner.run(
            try Restic.path(), ["-r", repo, "--no-cache"] + args,
            environment: [
                "RESTIC_PASSWORD": password, "TZ": zone, "RESTIC_REPOSITORY": nil, "RESTIC_PASSWORD_FILE": nil,
                "RESTIC_PASSWORD_COMMAND": nil,
            ],
            currentDirectory: cwd)
    }

    static func offsite(_ args: [String], repo: String, zone: String = zone, cwd: String? = nil) async throws -> ProcessRunner.Result {
        try await OffsiteBinary.run(["-r", repo] + args, password: password, environment: ["TZ": zone], cwd: cwd)
    }

    static func splitFirstLine(_ d: Data) -> (Data, Data) {
        guard let nl = d.firstIndex(of: 0x0A) else { return (d, Data()) }
        return (d[d.startIndex..<nl], d[(nl + 1)...])
    }

    /// The first line where two outputs differ, for failure messages.
    static func firstDifference(_ a: Data, _ b: Data) -> String {
        let la = String(decoding: a, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let lb = String(decoding: b, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(la.count, lb.count) {
            let x = i < la.count ? String(la[i]) : "<none>"
            let y = i < lb.count ? String(lb[i]) : "<none>"
            if x != y { return "line \(i + 1):\n  offsite: \(x)\n  restic:  \(y)" }
        }
        return a == b ? "" : "(same text, different bytes)"
    }
}
