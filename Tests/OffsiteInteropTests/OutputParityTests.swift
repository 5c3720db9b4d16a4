import Foundation
import OffsiteTesting
import Testing

/// Read-only commands print what restic prints, byte for byte, on one repository with several
/// hosts, tags and paths (also several per snapshot), written by both tools. Where restic's own
/// order is not defined (it iterates a Go map of groups), groups are compared as a set.
@Suite struct OutputParityTests {
    /// The shared repository: restic's snapshots and one of offsite's, at distinct times.
    static func makeRepository(_ dir: String) async throws -> String {
        let f = TreeFixture(root: dir + "/data")
        try f.dir("etc/app")
        try f.dir("srv/www")
        try f.file("etc/app/app.conf", Array("listen 80\n".utf8))
        try f.file("srv/www/index.html", TreeFixture.randomBytes(20_000, seed: 3))
        let repo = dir + "/repo"
        try await TestRepository.makeLocal(at: repo, password: password, tool: "restic")
        let etc = dir + "/data/etc", www = dir + "/data/srv/www"
        let backups: [(tool: String, args: [String])] = [
            ("restic", [etc, "--host", "web-1", "--time", "2026-03-01 01:00:00", "--tag", "nightly"]),
            ("restic", [www, etc, "--host", "web-1", "--time", "2026-03-02 01:00:00", "--tag", "nightly,full"]),
            ("restic", [www, "--host", "db-1", "--time", "2026-03-03 01:00:00"]),
            ("offsite", [etc, "--host", "db-1", "--time", "2026-03-04 01:00:00", "--tag", "manual"]),
            ("restic", [etc, "--host", "web-1", "--time", "2026-03-05 01:00:00", "--tag", "nightly"]),
            ("restic", [www, etc, "--host", "web-1", "--time", "2026-03-06 01:00:00", "--tag", "full,nightly"]),
        ]
        for b in backups {
            let r =
                b.tool == "restic"
                ? try await Restic.run(["backup"] + b.args, repo: repo, password: password)
                : try await OffsiteBinary.run(["-r", repo, "backup"] + b.args, password: password)
            expectStatus(r, 0, "\(b.tool) backup \(b.args)")
        }
        return repo
    }

    /// A text output cut into its groups, sorted: a group starts at its "snapshots for (…):"
    /// header, or at its table's "ID" line when it has none (a group of untagged snapshots).
    static func groups(_ text: String) -> [String] {
        var blocks: [String] = []
        var previous: Substring = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let header = line.hasPrefix("snapshots for (")
            if header || blocks.isEmpty || (line.hasPrefix("ID ") && !previous.hasPrefix("snapshots for (")) { blocks.append("") }
            blocks[blocks.count - 1] += line + "\n"
            previous = line
        }
        return blocks.sorted()
    }

    /// JSON with the fields restic 0.14 leaves out of snapshots it prints (`program_version`,
    /// `summary`: it predates them) removed, and arrays of groups in a defined order.
    static func normalized(_ data: Data) throws -> Any {
        func strip(_ value: Any) -> Any {
            if var object = value as? [String: Any] {
                object["program_version"] = nil
                object["summary"] = nil
                return object.mapValues(strip)
            }
            if let array = value as? [Any] {
                let items = array.map(strip)
                if !items.isEmpty, items.allSatisfy({ ($0 as? [String: Any])?["group_key"] != nil }) {
                    func key(_ item: Any) -> String {
                        let k = (item as? [String: Any])?["group_key"] ?? [:]
                        let data = try? JSONSerialization.data(withJSONObject: k, options: [.sortedKeys, .fragmentsAllowed])
                        return String(decoding: data ?? Data(), as: UTF8.self)
                    }
                    return items.sorted { key($0) < key($1) }
                }
                return items
            }
            return value
        }
        return strip(try JSONSerialization.jsonObject(with: data))
    }

    @Test func snapshotsInEveryGroupingAndFormat() async throws {
        try await withScratchDirectory { dir in
            let repo = try await Self.makeRepository(dir)
            let variants: [[String]] = [
                [], ["-c"], ["--compact", "--tag", "nightly"], ["--latest", "1"], ["--latest", "2", "-c"],
                ["--host", "web-1"], ["--path", dir + "/data/etc"], ["--host", "nobody"],
                ["-g", "host"], ["-g", "paths"], ["-g", "tags", "-c"], ["--group-by", "host,paths"],
                ["-g", "host,paths,tags", "--latest", "1"], ["-g", "host", "--host", "db-1"],
            ]
            for args in variants {
                for json in [false, true] {
                    let full = ["snapshots"] + args + (json ? ["--json"] : [])
                    let theirs = try await Restic.run(full, repo: repo, password: password)
                    let ours = try await OffsiteBinary.run(["-r", repo] + full, password: password)
                    let what = full.joined(separator: " ")
                    #expect(ours.status == theirs.status, "\(what): \(ours.stderr)")
                    #expect(ours.stderr == theirs.stderr, "\(what)")
                    if json {
                        let a = try Self.normalized(ours.stdout), b = try Self.normalized(theirs.stdout)
                        #expect(
                            NSArray(array: a as? [Any] ?? []).isEqual(to: b as? [Any] ?? []),
                            "\(what)\n\(ours.stdoutString)\n\(theirs.stdoutString)")
                    } else if args.contains("-g") || args.contains("--group-by") {
                        #expect(Self.groups(ours.stdoutString) == Self.groups(theirs.stdoutString), "\(what)")
                    } else {
                        #expect(ours.stdoutString == theirs.stdoutString, "\(what)\n\(ours.stdoutString)\n\(theirs.stdoutString)")
                    }
                }
            }
            // restic's refusal of an unknown grouping, and the deprecated --last.
            let bad = try await OffsiteBinary.run(["-r", repo, "snapshots", "-g", "color"], password: password)
            #expect(bad.status == 1)
            #expect(bad.stderr == (try await Restic.run(["snapshots", "-g", "color"], repo: repo, password: password)).stderr)
            let last = try await OffsiteBinary.run(["-r", repo, "snapshots", "--last"], password: password)
            let resticLast = try await Restic.run(["snapshots", "--last"], repo: repo, password: password)
            #expect(last.stdoutString == resticLast.stdoutString)
            #expect(last.stderr == resticLast.stderr)
        }
    }
}
