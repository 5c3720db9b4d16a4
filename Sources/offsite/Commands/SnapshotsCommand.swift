import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct SnapshotsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshots",
        abstract: "List snapshots.",
        discussion: """
            Lists the snapshots oldest first, as restic's table: ID, time (local), host, tags and \
            paths (sorted, one per line; snapshots with several paths are set apart by a blank \
            line). --compact leaves out the paths and puts one tag per line. --group-by prints \
            one table per group, headed by what its snapshots share; --latest N keeps the newest \
            N of each host and set of paths within each group. Nothing is printed when no \
            snapshot matches.

            Examples:
              offsite snapshots --host web-1 --tag nightly --latest 3
              offsite snapshots --group-by host,tags --compact
              offsite snapshots --json | jq -r '.[].short_id'
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Flag(name: [.customShort("c"), .long], help: "Compact format: no paths, one tag per line.")
    var compact = false

    @Option(
        name: [.customShort("g"), .customLong("group-by")],
        help: ArgumentHelp("Group snapshots by host, paths and/or tags, separated by commas.", valueName: "group"))
    var groupBy = ""

    @Option(name: .long, help: ArgumentHelp("Only show the last N snapshots of each host and path set.", valueName: "n"))
    var latest: Int?

    @Flag(name: .long, help: .hidden)
    var last = false

    @Argument(help: "Snapshot IDs to show (default: all).")
    var ids: [String] = []

    func run() async throws {
        try await runCommand {
            if last { Console.error("Flag --last has been deprecated, use --latest 1") }
            let grouping: SnapshotGrouping
            do { grouping = try SnapshotGrouping(parsing: groupBy) } catch let e as EngineError { throw CLIError.fatal(e.message) }
            let repo = try await RepositoryOpener.open(global, loadIndex: false)
            // A damaged snapshot file fails the listing (exit 1, the file named): a list that
            // leaves one out with exit 0 is easy to miss.
            let list = try await FilteredSnapshots.find(repo, filter: filterOptions, ids: ids, failOnDamaged: true)
            let limit = last ? 1 : latest ?? 0
            var groups = grouping.group(list)
            for i in groups.indices {
                if limit > 0 { groups[i].snapshots = Self.latest(groups[i].snapshots, limit) }
                groups[i].snapshots.sort { ($0.snapshot.time, $0.id) < ($1.snapshot.time, $1.id) }
            }
            let grouped = grouping != SnapshotGrouping()
            if global.json {
                var w = GoJSONWriter()
                w.beginArray()
                for group in groups {
                    if grouped {
                        w.beginObject()
                        w.key("group_key")
                        w.raw(group.key.json)
                        w.key("snapshots")
                        w.beginArray()
                    }
                    for item in group.snapshots { JSONOutput.snapshot(item.snapshot, id: item.id, writer: &w) }
                    if grouped {
                        w.endArray()
                        w.endObject()
                    }
                }
                w.endArray()
                Console.out(String(decoding: w.bytes, as: UTF8.self))
                return
            }
            var text = ""
            for group in groups {
                if grouped { text += ForgetCommand.header(group.key) }
                text += ResticTable.snapshots(group.snapshots, compact: compact)
            }
            Console.outRaw(Data(text.utf8))
        }
    }

    /// restic's `--latest N`: the newest N snapshots of each host and set of paths (paths
    /// compared sorted).
    static func latest(_ list: [(id: ID, snapshot: Snapshot)], _ n: Int) -> [(id: ID, snapshot: Snapshot)] {
        var seen: [String: Int] = [:]
        return list.sorted { ($0.snapshot.time, $0.id) > ($1.snapshot.time, $1.id) }.filter { item in
            let key = item.snapshot.hostname + "\u{0}" + item.snapshot.paths.sorted().joined(separator: "\u{0}")
            seen[key, default: 0] += 1
            return seen[key]! <= n
        }
    }
}
