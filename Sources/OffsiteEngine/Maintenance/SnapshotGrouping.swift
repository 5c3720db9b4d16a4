public import OffsiteFormat

/// restic's `--group-by` (0.14's `GroupSnapshots`): snapshots are grouped by any combination of
/// host, paths and tags; the empty string puts every snapshot in one group.
public struct SnapshotGrouping: Sendable, Equatable {
    public var byHost = false
    public var byPaths = false
    public var byTags = false

    public init(byHost: Bool = false, byPaths: Bool = false, byTags: Bool = false) {
        self.byHost = byHost
        self.byPaths = byPaths
        self.byTags = byTags
    }

    /// forget's default, `host,paths`.
    public static let hostAndPaths = SnapshotGrouping(byHost: true, byPaths: true)

    /// Parses restic's comma list: `host`/`hosts`, `path`/`paths`, `tag`/`tags`; empty items
    /// are ignored. Throws `.invalidArgument` with restic's message for anything else.
    public init(parsing text: String) throws {
        for option in text.split(separator: ",", omittingEmptySubsequences: false) {
            switch option {
            case "host", "hosts": byHost = true
            case "path", "paths": byPaths = true
            case "tag", "tags": byTags = true
            case "": break
            default: throw EngineError(.invalidArgument, "unknown grouping option: '\(option)'")
            }
        }
    }

    /// What a group has in common. Unused parts are `""`/nil; empty lists are nil (as restic's
    /// JSON round trip of the key makes them).
    public struct Key: Sendable, Equatable {
        public var hostname: String
        /// Sorted.
        public var paths: [String]?
        /// Sorted.
        public var tags: [String]?

        /// The key as restic marshals it (`{"hostname":…,"paths":…,"tags":…}`): restic's map
        /// key, and offsite's order of groups.
        public var json: [UInt8] {
            var w = GoJSONWriter()
            w.beginObject()
            w.field("hostname", hostname)
            w.key("paths")
            if let paths { w.stringArray(paths) } else { w.null() }
            w.key("tags")
            if let tags { w.stringArray(tags) } else { w.null() }
            w.endObject()
            return w.bytes
        }
    }

    /// A group and its snapshots, in the order given.
    public struct Group: Sendable {
        public var key: Key
        public var snapshots: [(id: ID, snapshot: Snapshot)]
    }

    /// Groups `snapshots`, keeping their order within each group. The groups come in the byte
    /// order of their keys' JSON (restic iterates a Go map: a random order).
    ///
    /// As restic's grouping does to its snapshots, each snapshot's paths come back sorted, and
    /// its tags too when grouping by tags; this is how restic prints them afterwards.
    public func group(_ snapshots: [(id: ID, snapshot: Snapshot)]) -> [Group] {
        var groups: [[UInt8]: Group] = [:]
        var order: [[UInt8]] = []
        for (id, original) in snapshots {
            var s = original
            s.paths = Self.sorted(s.paths)
            if byTags { s.tags = Self.sorted(s.tags) }
            let key = Key(
                hostname: byHost ? s.hostname : "", paths: byPaths && !s.paths.isEmpty ? s.paths : nil,
                tags: byTags && !s.tags.isEmpty ? s.tags : nil)
            let json = key.json
            if groups[json] == nil {
                groups[json] = Group(key: key, snapshots: [])
                order.append(json)
            }
            groups[json]!.snapshots.append((id, s))
        }
        return order.sorted { $0.lexicographicallyPrecedes($1) }.map { groups[$0]! }
    }

    /// Go's `sort.Strings`: byte order.
    static func sorted(_ list: [String]) -> [String] {
        list.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
