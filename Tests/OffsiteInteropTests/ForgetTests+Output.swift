import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `forget`'s text and JSON output byte for byte, the flags restic refuses, offsite's
/// `unlimited`, and real removals followed by restic's `snapshots` and `check`.
extension ForgetTests {
    // MARK: The command line, byte for byte

    /// A scratch directory in /dev/shm when there is one (repositories fsync every file), else
    /// the usual one.
    static func withFastScratchDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
        guard ProcessInfo.processInfo.environment["OFFSITE_TEST_TMP"] == nil, access("/dev/shm", W_OK) == 0 else {
            return try await withScratchDirectory(body)
        }
        let dir = "/dev/shm/offsite-forget-\(UUID().uuidString.prefix(12))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { removeTree(dir) }
        return try await body(dir)
    }

    /// Text output with its group sections sorted (restic prints groups in Go's random map
    /// order): the lines before the first group header stay first, and every section starting
    /// with a group header, "Would have removed" or the deletion counter is sorted.
    static func sections(_ text: String) -> [String] {
        var out: [String] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("snapshots for (") || line.hasPrefix("Would have removed") || line.hasSuffix("files deleted") {
                out.append(current)
                current = ""
            }
            current += line + "\n"
        }
        out.append(current)
        return [out[0]] + out.dropFirst().sorted()
    }

    /// The elements of a top-level JSON array as raw text, sorted.
    static func jsonElements(_ data: Data) -> [String] {
        let b = [UInt8](data)
        var depth = 0
        var inString = false
        var escaped = false
        var start = 0
        var out: [String] = []
        for (i, c) in b.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if c == UInt8(ascii: "\\") {
                    escaped = true
                } else if c == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth == 2 { start = i }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 2 { out.append(String(decoding: b[start...i], as: UTF8.self)) }
                depth -= 1
            default: break
            }
        }
        return out.sorted()
    }

    enum Compare { case exact, sections, jsonElements }

    /// Runs `forget ARGS` with both tools on the same repository (or on two copies) and expects
    /// the same exit status, stderr and stdout.
    static func expectSameOutput(
        _ args: [String], repo: String, offsiteRepo: String? = nil, compare: Compare = .exact,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let theirs = try await restic(["forget"] + args, repo: repo)
        let ours = try await offsite(["forget"] + args, repo: offsiteRepo ?? repo)
        let what = "forget \(args.joined(separator: " "))"
        #expect(ours.status == theirs.status, "\(what): exit \(ours.status), restic \(theirs.status)", sourceLocation: sourceLocation)
        #expect(
            ours.stderr == theirs.stderr, "\(what) stderr\noffsite:\n\(ours.stderr)\nrestic:\n\(theirs.stderr)",
            sourceLocation: sourceLocation)
        let same: Bool
        switch compare {
        case .exact: same = ours.stdout == theirs.stdout
        case .sections: same = sections(ours.stdoutString) == sections(theirs.stdoutString)
        case .jsonElements: same = jsonElements(ours.stdout) == jsonElements(theirs.stdout)
        }
        #expect(same, "\(what)\noffsite:\n\(ours.stdoutString)\nrestic:\n\(theirs.stdoutString)", sourceLocation: sourceLocation)
    }

    /// Snapshot IDs as `restic snapshots --json` lists them, sorted.
    static func snapshotIDs(_ repo: String) async throws -> [String] {
        let r = try await restic(["snapshots", "--json"], repo: repo)
        return try jsonArray(r.stdout).compactMap { $0["id"] as? String }.sorted()
    }

    @Test func textAndJSONOutputMatchRestic() async throws {
        try await Self.withFastScratchDirectory { dir in
            var rng = Random(state: 0xF0_4637)
            let repo = dir + "/repo"
            let (snapshots, _) = try await Self.makeRepository(repo, &rng, ties: false)
            let dry = ["--dry-run"]
            // One group: byte for byte (hosts' paths differ, so rows are separated by blank lines).
            try await Self.expectSameOutput(
                dry + ["-g", "", "--host", "h1", "--keep-daily", "4", "--keep-weekly", "3", "--keep-within", "2m", "--keep-tag", "manual"],
                repo: repo)
            try await Self.expectSameOutput(
                dry + ["-c", "-g", "host", "--host", "h1", "--keep-monthly", "6", "--keep-yearly", "2"], repo: repo)
            try await Self.expectSameOutput(
                dry + ["--host", "h1", "--path", "/srv/a", "-g", "host", "-l", "2", "-H", "3", "-d", "2", "-w", "2", "-m", "2", "-y", "1"],
                repo: repo)
            try await Self.expectSameOutput(
                dry + ["--json", "-g", "", "--host", "h1", "--keep-yearly", "3", "--keep-within-daily", "10d", "--keep-tag", "daily"],
                repo: repo)
            try await Self.expectSameOutput(
                dry + ["--json", "-g", "tags", "--tag", "daily", "--keep-within-weekly", "1y", "--keep-within-hourly", "3d"], repo: repo,
                compare: .jsonElements)
            // Several groups: the same sections in any order.
            try await Self.expectSameOutput(
                dry + ["-v", "--keep-last", "3", "--keep-within-monthly", "1y2m"], repo: repo, compare: .sections)
            try await Self.expectSameOutput(
                dry + ["-v", "-g", "host,paths,tags", "--keep-daily", "2", "--keep-within-yearly", "2y"], repo: repo, compare: .sections)
            try await Self.expectSameOutput(
                dry + ["--json", "--keep-hourly", "5", "--keep-tag", "", "--keep-within", "5d"], repo: repo, compare: .jsonElements)
            try await Self.expectSameOutput(dry + ["-q", "--keep-last", "2"], repo: repo)
            // restic's tag filter: ",daily" is an empty tag first, so it selects untagged snapshots.
            try await Self.expectSameOutput(dry + ["--tag", ",daily", "--tag", "weekly,x", "-g", "", "--keep-last", "1"], repo: repo)
            // No policy, and snapshots named by ID.
            try await Self.expectSameOutput(dry, repo: repo)
            try await Self.expectSameOutput(dry + ["--json"], repo: repo)
            let ids = snapshots.map(\.id.hex)
            try await Self.expectSameOutput(dry + [ids[0], String(ids[1].prefix(10)), "latest"], repo: repo)
            try await Self.expectSameOutput(dry + ["--host", "h2", ids[2], "nothing"], repo: repo)
            // Refused flags.
            try await Self.expectSameOutput(["--keep-within", "5x"], repo: repo)
            try await Self.expectSameOutput(["--keep-within-daily", "3"], repo: repo)
            try await Self.expectSameOutput(["--keep-last", "x"], repo: repo)
            try await Self.expectSameOutput(dry + ["-g", "host,foo", "--keep-last", "1"], repo: repo)
            try await Self.expectSameOutput(["--no-lock", "--keep-last", "1"], repo: repo)
            await #expect(try Self.snapshotIDs(repo).count == snapshots.count)
        }
    }

    @Test func unlimitedIsOffsitesExtension() async throws {
        try await Self.withFastScratchDirectory { dir in
            var rng = Random(state: 0xA11)
            let repo = dir + "/repo"
            _ = try await Self.makeRepository(repo, &rng, ties: false)
            // restic 0.14 refuses "unlimited"; a count larger than the number of days keeps the same.
            let theirs = try await Self.restic(["forget", "--dry-run", "--json", "--keep-daily", "100000", "--keep-tag", "x"], repo: repo)
            let ours = try await Self.offsite(
                ["forget", "--dry-run", "--json", "--keep-daily", "unlimited", "--keep-tag", "x"], repo: repo)
            #expect(theirs.status == 0 && ours.status == 0, "\(theirs.stderr) \(ours.stderr)")
            let strip = { (r: ProcessRunner.Result) throws -> [String] in
                try jsonArray(r.stdout).map { g in
                    let keep = ((g["keep"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
                    let remove = ((g["remove"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
                    return "\(g["host"] ?? "") \(g["paths"] ?? "") keep \(keep) remove \(remove)"
                }.sorted()
            }
            #expect(try strip(ours) == strip(theirs))
            #expect(ours.stdoutString.contains(#""counters":{"daily":-1}"#))
            let negative = try await Self.offsite(["forget", "--dry-run", "--keep-daily", "-1"], repo: repo)
            #expect(negative.status == 1)
            #expect(
                negative.stderr
                    == "invalid argument \"-1\" for \"-d, --keep-daily\" flag: negative values not allowed, use 'unlimited' instead\n")
        }
    }

    @Test func removingMatchesRestic() async throws {
        try await Self.withFastScratchDirectory { dir in
            var rng = Random(state: 0xDE1E7E)
            let original = dir + "/original"
            let (snapshots, _) = try await Self.makeRepository(original, &rng, ties: false)
            let theirs = dir + "/restic", ours = dir + "/offsite"
            expectStatus(try await ProcessRunner.run("/bin/cp", ["-a", original, theirs]), 0, "cp")
            expectStatus(try await ProcessRunner.run("/bin/cp", ["-a", original, ours]), 0, "cp")

            // Bad prune flags are refused before anything is removed.
            let prune = try await Self.offsite(["forget", "--keep-last", "1", "--prune", "--max-unused", "lots"], repo: ours)
            #expect(prune.status == 1)
            #expect(prune.stderr.contains("invalid value for --max-unused"), "\(prune.stderr)")
            await #expect(try Self.snapshotIDs(ours).count == snapshots.count)

            // A policy, with the group headers: the same output, the same snapshots left.
            let policy = ["-v", "--keep-daily", "3", "--keep-weekly", "2", "--keep-within", "3d", "--keep-tag", "manual"]
            try await Self.expectSameOutput(policy, repo: theirs, offsiteRepo: ours, compare: .sections)
            let left = try await Self.snapshotIDs(ours)
            await #expect(left == (try Self.snapshotIDs(theirs)))
            #expect(left.count < snapshots.count && !left.isEmpty)

            // Snapshots named by ID (full and prefix), then -vv (a line per removed file).
            let named = [left[0], String(left[1].prefix(8))]
            try await Self.expectSameOutput(named, repo: theirs, offsiteRepo: ours)
            await #expect(try Self.snapshotIDs(ours) == Array(left.dropFirst(2)))
            let verbose = ["-vv", "-g", "", "--keep-last", "2"]
            let r = try await Self.restic(["forget"] + verbose, repo: theirs)
            let o = try await Self.offsite(["forget"] + verbose, repo: ours)
            #expect(o.status == 0 && r.status == 0, "\(o.stderr) \(r.stderr)")
            let lines = { (s: String) in s.split(separator: "\n", omittingEmptySubsequences: false).sorted() }
            #expect(lines(o.stdoutString) == lines(r.stdoutString), "offsite:\n\(o.stdoutString)\nrestic:\n\(r.stdoutString)")
            await #expect(try Self.snapshotIDs(ours) == (try Self.snapshotIDs(theirs)))
            await #expect(try Self.snapshotIDs(ours).count == 2)

            // restic finds the repository intact, and no lock is left behind.
            await expectStatus(try Self.restic(["check"], repo: ours), 0, "restic check")
            #expect((try FileManager.default.contentsOfDirectory(atPath: ours + "/locks")).isEmpty)
        }
    }
}
