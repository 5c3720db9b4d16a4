public import OffsiteFormat

/// restic's snapshot filter: `--host` (any of), `--tag` (any of the groups; each group is a
/// comma-separated list that must all be present), `--path` (all of them in the snapshot's paths).
public struct SnapshotFilter: Sendable {
    public var hosts: [String] = []
    public var tagGroups: [[String]] = []
    public var paths: [String] = []

    public init(hosts: [String] = [], tags: [String] = [], paths: [String] = []) {
        self.hosts = hosts
        self.tagGroups = tags.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        self.paths = paths
    }

    public var isEmpty: Bool { hosts.isEmpty && tagGroups.isEmpty && paths.isEmpty }

    public func matches(_ s: Snapshot) -> Bool {
        if !hosts.isEmpty && !hosts.contains(s.hostname) { return false }
        // restic's HasTagList: some group whose tags the snapshot all has, where an empty tag
        // matches (at once) a snapshot without tags.
        if !tagGroups.isEmpty && !tagGroups.contains(where: { ForgetPolicy.hasTags(s.tags, $0) }) { return false }
        for p in paths where !s.paths.contains(PathName.clean(p)) { return false }
        return true
    }
}

extension Repository {
    /// Every snapshot, oldest first (by time, then ID). Damaged snapshot files throw, naming the file.
    public func loadSnapshots(filter: SnapshotFilter = SnapshotFilter()) async throws -> [(id: ID, snapshot: Snapshot)] {
        var out: [(id: ID, snapshot: Snapshot)] = []
        for id in try await listIDs(.snapshots) {
            let s = try await loadSnapshot(id)
            if filter.matches(s) { out.append((id, s)) }
        }
        return out.sorted { ($0.snapshot.time, $0.id) < ($1.snapshot.time, $1.id) }
    }

    public func loadSnapshot(_ id: ID) async throws -> Snapshot {
        let json = try await loadJSON(.snapshots, id)
        do {
            return try Snapshot(json: json)
        } catch let e as FormatError {
            throw EngineError(.invalidData, "snapshots/\(id.hex) is damaged: \(e.message)")
        }
    }

    /// Finds a snapshot by full ID, unique prefix, or `latest` (the newest matching `filter`).
    public func findSnapshot(_ ref: String, filter: SnapshotFilter = SnapshotFilter()) async throws -> (id: ID, snapshot: Snapshot) {
        if ref == "latest" {
            guard let newest = try await loadSnapshots(filter: filter).last else {
                throw EngineError(
                    .notFound, filter.isEmpty ? "no snapshot found" : "no snapshot matched the given filter (--host/--tag/--path)")
            }
            return newest
        }
        let id = try await resolve(.snapshots, prefix: ref)
        do {
            return (id, try await loadSnapshot(id))
        } catch let e as EngineError where e.storageCode == .notFound {
            throw EngineError(.notFound, "snapshot \(ref) not found")
        }
    }

    /// restic's `FindFilteredSnapshots`, the one selection every command taking `[SNAPSHOT...]`
    /// uses: the snapshots `refs` name (full IDs, prefixes as listed, or `latest`: the newest
    /// snapshot matching `latestFilter`), each once and in the order named; with no `refs`,
    /// every snapshot matching `filter`, oldest first.
    ///
    /// Like restic it never fails on a reference: each one it cannot resolve or load is left
    /// out and described in `notices`, for the caller to print.
    public func selectSnapshots(
        _ refs: [String], filter: SnapshotFilter, latestFilter: SnapshotFilter? = nil
    ) async throws -> SnapshotSelection {
        var selection = SnapshotSelection()
        let names = try await listIDs(.snapshots).sorted()
        guard !refs.isEmpty else {
            for id in names {
                do {
                    let s = try await loadSnapshot(id)
                    if filter.matches(s) { selection.snapshots.append((id, s)) }
                } catch {
                    selection.notices.append(.unloadable(id, error))
                }
            }
            selection.snapshots.sort { ($0.snapshot.time, $0.id) < ($1.snapshot.time, $1.id) }
            return selection
        }
        var chosen: [ID] = []
        var usedFilter = false
        for ref in refs {
            if ref == "latest" {
                usedFilter = true
                var newest: (id: ID, time: GoTime)? = nil
                for id in names {
                    guard let s = try? await loadSnapshot(id), (latestFilter ?? filter).matches(s) else { continue }
                    if newest == nil || !(s.time < newest!.time) { newest = (id, s.time) }
                }
                if let newest { chosen.append(newest.id) } else { selection.notices.append(.latestMatchedNothing) }
                continue
            }
            // restic's prefix search: case-sensitive, on the names as listed.
            let matches = names.filter { $0.hex.hasPrefix(ref) }
            switch matches.count {
            case 1: chosen.append(matches[0])
            case 0: selection.notices.append(.noMatch(prefix: ref))
            default: selection.notices.append(.ambiguous(prefix: ref))
            }
        }
        if !usedFilter && !filter.isEmpty { selection.notices.append(.filterIgnored) }
        var seen: Set<ID> = []
        for id in chosen where seen.insert(id).inserted {
            do {
                selection.snapshots.append((id, try await loadSnapshot(id)))
            } catch {
                selection.notices.append(.unloadable(id, error))
            }
        }
        return selection
    }

    /// Follows `subpath` (components separated by `/`) from a root tree to a node.
    /// Returns nil for the root itself.
    public func findNode(tree root: ID, subpath: String) async throws -> Node? {
        let parts = PathName.components(PathName.clean("/" + subpath))
        var treeID = root
        var found: Node? = nil
        for (i, part) in parts.enumerated() {
            let tree = try await loadTree(treeID)
            guard let node = tree.node(named: Array(part.utf8)) else {
                throw EngineError(.notFound, "path \"/\(parts[0...i].joined(separator: "/"))\" is not in the snapshot")
            }
            found = node
            if i < parts.count - 1 {
                guard node.type == .dir, let sub = node.subtree else {
                    throw EngineError(.notFound, "path \"/\(parts[0...i].joined(separator: "/"))\" is not a directory")
                }
                treeID = sub
            }
        }
        return found
    }
}

/// What `Repository.selectSnapshots` chose, and why it left references out.
public struct SnapshotSelection: Sendable {
    public var snapshots: [(id: ID, snapshot: Snapshot)] = []
    public var notices: [Notice] = []

    public enum Notice: Sendable {
        /// `latest` was named and no snapshot matched the filter.
        case latestMatchedNothing
        /// No snapshot's ID starts with the prefix.
        case noMatch(prefix: String)
        /// More than one snapshot's ID starts with the prefix.
        case ambiguous(prefix: String)
        /// The snapshot file could not be read or parsed.
        case unloadable(ID, any Error)
        /// References were named, none of them `latest`, so `--host/--tag/--path` had no effect.
        case filterIgnored
    }
}
