import ArgumentParser
import OffsiteEngine

/// restic's snapshot filter flags.
struct SnapshotFilterOptions: ParsableArguments {
    @Option(name: [.customShort("H"), .long], help: "Only consider snapshots from this host (may be repeated).")
    var host: [String] = []

    @Option(name: .long, help: "Only consider snapshots with these tags: a,b means a and b; repeat for alternatives.")
    var tag: [String] = []

    @Option(name: .long, help: "Only consider snapshots that include this path (may be repeated).")
    var path: [String] = []

    /// Tags as restic reads the flag: comma-separated, whitespace around each tag removed.
    var filter: SnapshotFilter {
        SnapshotFilter(hosts: host, tags: tag.map { splitTagList($0).joined(separator: ",") }, paths: path)
    }
}
