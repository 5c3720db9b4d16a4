import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct SnapshotsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshots",
        abstract: "List snapshots.",
        discussion: "Example: offsite snapshots --host web-1 --tag nightly --latest 3 --json")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Option(name: .long, help: "Only show the last N snapshots of each host and path set.")
    var latest: Int?

    @Argument(help: "Snapshot IDs to show (default: all).")
    var ids: [String] = []

    func run() async throws {
        try await runCommand {
            let repo = try await RepositoryOpener.open(global, loadIndex: false)
            // A damaged snapshot file fails the listing (exit 1, the file named): a list that
            // leaves one out with exit 0 is easy to miss.
            var list = try await FilteredSnapshots.find(repo, filter: filterOptions, ids: ids, failOnDamaged: true)
            if let latest {
                var groups: [String: [(id: ID, snapshot: Snapshot)]] = [:]
                for item in list {
                    groups[item.snapshot.hostname + "\u{0}" + item.snapshot.paths.sorted().joined(separator: "\u{0}"), default: []].append(
                        item)
                }
                list = groups.values.flatMap { $0.suffix(latest) }.sorted { ($0.snapshot.time, $0.id) < ($1.snapshot.time, $1.id) }
            }
            if global.json {
                var w = GoJSONWriter()
                w.beginArray()
                for item in list { JSONOutput.snapshot(item.snapshot, id: item.id, writer: &w) }
                w.endArray()
                Console.out(String(decoding: w.bytes, as: UTF8.self))
                return
            }
            Self.printTable(list)
        }
    }

    static func printTable(_ list: [(id: ID, snapshot: Snapshot)]) {
        let hostWidth = max(10, list.map(\.snapshot.hostname.count).max() ?? 0)
        let tagWidth = max(10, list.flatMap(\.snapshot.tags).map(\.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        var lines: [String] = []
        for item in list {
            let s = item.snapshot
            let rows = max(1, s.tags.count, s.paths.count)
            for r in 0..<rows {
                let first = r == 0
                lines.append(
                    pad(first ? item.id.shortHex : "", 8) + "  " + pad(first ? s.time.displayString : "", 19) + "  "
                        + pad(first ? s.hostname : "", hostWidth) + "  " + pad(r < s.tags.count ? s.tags[r] : "", tagWidth) + "  "
                        + (r < s.paths.count ? s.paths[r] : ""))
            }
        }
        let header = pad("ID", 8) + "  " + pad("Time", 19) + "  " + pad("Host", hostWidth) + "  " + pad("Tags", tagWidth) + "  Paths"
        let width = max(header.count, lines.map(\.count).max() ?? 0)
        let rule = String(repeating: "-", count: width)
        Console.out(header)
        Console.out(rule)
        for l in lines { Console.out(l) }
        Console.out(rule)
        Console.out("\(list.count) snapshots")
    }
}
