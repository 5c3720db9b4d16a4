import Foundation
import OffsiteEngine
import OffsiteFormat

/// restic's `FindFilteredSnapshots` (0.14), for commands that take `[SNAPSHOT...]` plus the
/// `--host/--tag/--path` filter: the snapshots named (full IDs, prefixes or `latest`, which
/// alone uses the filter), or, when none is named, every snapshot that matches the filter.
///
/// Like restic it never fails on a bad reference: each one it cannot resolve or load is named
/// on stderr with restic's wording ("Ignoring …") and left out. Named snapshots come in the
/// order given, each once; otherwise oldest first.
enum FilteredSnapshots {
    static func find(
        _ repo: Repository, filter options: SnapshotFilterOptions, ids refs: [String]
    ) async throws -> [(
        id: ID, snapshot: Snapshot
    )] {
        let tagLists = options.tag.map(splitTagList)
        let filter = SnapshotFilter(hosts: options.host, tags: tagLists.map { $0.joined(separator: ",") }, paths: options.path)
        let names = try await repo.listIDs(.snapshots).sorted()

        guard !refs.isEmpty else {
            var matching: [(id: ID, snapshot: Snapshot)] = []
            for id in names {
                do {
                    let s = try await repo.loadSnapshot(id)
                    if filter.matches(s) { matching.append((id, s)) }
                } catch {
                    Console.error("could not load snapshot \(id.shortHex): \(error)")
                }
            }
            return matching.sorted { ($0.snapshot.time, $0.id) < ($1.snapshot.time, $1.id) }
        }

        var chosen: [ID] = []
        var usedFilter = false
        for ref in refs {
            if ref == "latest" {
                usedFilter = true
                if let id = try await latest(repo, names: names, options: options, tagLists: tagLists) {
                    chosen.append(id)
                } else {
                    Console.error(
                        "Ignoring \"latest\", no snapshot matched given filter (Paths:\(goList(options.path)) "
                            + "Tags:\(goList(tagLists.map { "[" + $0.joined(separator: ", ") + "]" })) Hosts:\(goList(options.host)))")
                }
                continue
            }
            // restic's prefix search: case-sensitive, on the names as listed.
            let matches = names.filter { $0.hex.hasPrefix(ref) }
            switch matches.count {
            case 1: chosen.append(matches[0])
            case 0: Console.error("Ignoring \(goQuote(ref)): no matching ID found for prefix \(goQuote(ref))")
            default: Console.error("Ignoring \(goQuote(ref)): multiple IDs with prefix \(goQuote(ref)) found")
            }
        }
        if !usedFilter && !(options.host.isEmpty && options.tag.isEmpty && options.path.isEmpty) {
            Console.error("Ignoring filters as there are explicit snapshot ids given")
        }
        var seen: Set<ID> = []
        var out: [(id: ID, snapshot: Snapshot)] = []
        for id in chosen where seen.insert(id).inserted {
            do {
                out.append((id, try await repo.loadSnapshot(id)))
            } catch {
                Console.error("Ignoring \(goQuote(id.hex)), could not load snapshot: \(error)")
            }
        }
        return out
    }

    /// The newest snapshot matching the filter, with `--path` made absolute as restic does here.
    private static func latest(
        _ repo: Repository, names: [ID], options: SnapshotFilterOptions, tagLists: [[String]]
    ) async throws
        -> ID?
    {
        let cwd = FileManager.default.currentDirectoryPath
        let paths = options.path.map { $0.hasPrefix("/") ? $0 : cwd + "/" + $0 }
        let filter = SnapshotFilter(hosts: options.host, tags: tagLists.map { $0.joined(separator: ",") }, paths: paths)
        var best: (id: ID, time: GoTime)? = nil
        for id in names {
            guard let s = try? await repo.loadSnapshot(id), filter.matches(s) else { continue }
            if best == nil || !(s.time < best!.time) { best = (id, s.time) }
        }
        return best?.id
    }

    /// Go's `%v` of a string slice: `[a b]`.
    private static func goList(_ items: [String]) -> String { "[" + items.joined(separator: " ") + "]" }

    /// Go's `%q` of a string.
    static func goQuote(_ s: String) -> String { "\"" + String(decoding: GoQuote.quote(Array(s.utf8)), as: UTF8.self) + "\"" }
}

/// restic's tag list flag value: comma-separated, whitespace around each tag removed.
func splitTagList(_ s: String) -> [String] {
    s.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
}
