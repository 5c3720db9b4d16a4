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
