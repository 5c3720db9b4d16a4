import Foundation
import OffsiteEngine
import OffsiteFormat

/// The snapshots a command taking `[SNAPSHOT...]` plus the `--host/--tag/--path` filter works
/// on (`Repository.selectSnapshots`), with each reference it left out named on stderr in
/// restic 0.14's wording ("Ignoring …"). Named snapshots come in the order given, each once;
/// otherwise oldest first. `failOnDamaged` makes a snapshot file that cannot be read an error
/// (after the notices are printed) instead of a notice.
enum FilteredSnapshots {
    static func find(
        _ repo: Repository, filter options: SnapshotFilterOptions, ids refs: [String], failOnDamaged: Bool = false
    ) async throws -> [(
        id: ID, snapshot: Snapshot
    )] {
        // `latest` looks for --path made absolute, as restic does there.
        let cwd = SystemInfo.workingDirectory
        var latestFilter = options.filter
        latestFilter.paths = options.path.map { PathName.absolute($0, cwd: cwd) }
        let selection = try await repo.selectSnapshots(refs, filter: options.filter, latestFilter: latestFilter)
        for notice in selection.notices {
            switch notice {
            case .latestMatchedNothing:
                let tags = options.tag.map { "[" + splitTagList($0).joined(separator: ", ") + "]" }
                Console.error(
                    "Ignoring \"latest\", no snapshot matched given filter (Paths:\(goList(options.path)) "
                        + "Tags:\(goList(tags)) Hosts:\(goList(options.host)))")
            case .noMatch(let prefix):
                Console.error("Ignoring \(GoQuote.quoted(prefix)): no matching ID found for prefix \(GoQuote.quoted(prefix))")
            case .ambiguous(let prefix):
                Console.error("Ignoring \(GoQuote.quoted(prefix)): multiple IDs with prefix \(GoQuote.quoted(prefix)) found")
            case .unloadable(let id, let error):
                Console.error(
                    refs.isEmpty
                        ? "could not load snapshot \(id.shortHex): \(error)"
                        : "Ignoring \(GoQuote.quoted(id.hex)), could not load snapshot: \(error)")
            case .filterIgnored:
                Console.error("Ignoring filters as there are explicit snapshot ids given")
            }
        }
        if failOnDamaged {
            for case .unloadable(_, let error) in selection.notices { throw error }
        }
        return selection.snapshots
    }

    /// Go's `%v` of a string slice: `[a b]`.
    private static func goList(_ items: [String]) -> String { "[" + items.joined(separator: " ") + "]" }
}

/// restic's tag list flag value: comma-separated, whitespace around each tag removed.
func splitTagList(_ s: String) -> [String] {
    s.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
}
