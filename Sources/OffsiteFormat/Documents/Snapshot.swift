public import Foundation

/// A snapshot document (`snapshots/<id>`): when, what and from where, and the root tree.
/// Field order and omitempty rules follow restic (docs/FORMAT.md §6.3).
public struct Snapshot: Sendable, Equatable {
    public var time: GoTime
    public var parent: ID?
    public var tree: ID
    public var paths: [String]
    public var hostname: String
    public var username: String
    public var uid: UInt32
    public var gid: UInt32
    public var excludes: [String]
    public var tags: [String]
    public var original: ID?
    public var programVersion: String
    /// Statistics of the backup that made the snapshot (restic 0.17+ writes them).
    public var summary: SnapshotSummary?

    public init(
        time: GoTime, parent: ID? = nil, tree: ID, paths: [String], hostname: String = "",
        username: String = "", uid: UInt32 = 0, gid: UInt32 = 0, excludes: [String] = [],
        tags: [String] = [], original: ID? = nil, programVersion: String = "", summary: SnapshotSummary? = nil
    ) {
        self.time = time
        self.parent = parent
        self.tree = tree
        self.paths = paths
        self.hostname = hostname
        self.username = username
        self.uid = uid
        self.gid = gid
        self.excludes = excludes
        self.tags = tags
        self.original = original
        self.programVersion = programVersion
        self.summary = summary
    }

    /// Writes the snapshot's fields (without the enclosing braces' neighbours) to `w`.
    public func writeFields(to w: inout GoJSONWriter) {
        w.field("time", time)
        w.field("parent", parent)
        w.field("tree", tree)
        w.key("paths"); w.stringArray(paths)
        w.field("hostname", hostname, omitEmpty: true)
        w.field("username", username, omitEmpty: true)
        w.field("uid", uid, omitEmpty: true)
        w.field("gid", gid, omitEmpty: true)
        w.field("excludes", excludes, omitEmpty: true)
        w.field("tags", tags, omitEmpty: true)
        w.field("original", original)
        w.field("program_version", programVersion, omitEmpty: true)
        if let summary {
            w.key("summary")
            summary.write(to: &w)
        }
    }

    /// The document as restic's `json.Marshal` writes it (no trailing newline).
    public var json: Data {
        var w = GoJSONWriter()
        w.beginObject()
        writeFields(to: &w)
        w.endObject()
        return w.data
    }

    private struct JSONForm: Decodable {
        var time: GoTime
        var parent: ID?
        var tree: ID?
        var paths: [String]?
        var hostname: String?
        var username: String?
        var uid: UInt32?
        var gid: UInt32?
        var excludes: [String]?
        var tags: [String]?
        var original: ID?
        var program_version: String?
        var summary: SnapshotSummary?
    }

    public init(json: Data) throws {
        let f = try decodeDocument(JSONForm.self, from: json, what: "snapshot")
        guard let tree = f.tree else { throw FormatError(.invalidData, "snapshot has no tree") }
        self.init(
            time: f.time, parent: f.parent, tree: tree, paths: f.paths ?? [], hostname: f.hostname ?? "",
            username: f.username ?? "", uid: f.uid ?? 0, gid: f.gid ?? 0, excludes: f.excludes ?? [],
            tags: f.tags ?? [], original: f.original, programVersion: f.program_version ?? "",
            summary: f.summary)
    }
}

/// The `summary` object of a snapshot (restic 0.17+): what the backup did. All keys are
/// always written, in this order.
public struct SnapshotSummary: Sendable, Equatable, Decodable {
    public var backupStart: GoTime
    public var backupEnd: GoTime
    public var filesNew: UInt64 = 0
    public var filesChanged: UInt64 = 0
    public var filesUnmodified: UInt64 = 0
    public var dirsNew: UInt64 = 0
    public var dirsChanged: UInt64 = 0
    public var dirsUnmodified: UInt64 = 0
    public var dataBlobs: UInt64 = 0
    public var treeBlobs: UInt64 = 0
    /// Plaintext bytes of new blobs.
    public var dataAdded: UInt64 = 0
    /// Bytes of new blobs as stored.
    public var dataAddedPacked: UInt64 = 0
    public var totalFilesProcessed: UInt64 = 0
    public var totalBytesProcessed: UInt64 = 0

    public init(backupStart: GoTime, backupEnd: GoTime) {
        self.backupStart = backupStart
        self.backupEnd = backupEnd
    }

    enum CodingKeys: String, CodingKey {
        case backupStart = "backup_start", backupEnd = "backup_end", filesNew = "files_new"
        case filesChanged = "files_changed", filesUnmodified = "files_unmodified", dirsNew = "dirs_new"
        case dirsChanged = "dirs_changed", dirsUnmodified = "dirs_unmodified", dataBlobs = "data_blobs"
        case treeBlobs = "tree_blobs", dataAdded = "data_added", dataAddedPacked = "data_added_packed"
        case totalFilesProcessed = "total_files_processed", totalBytesProcessed = "total_bytes_processed"
    }

    public func write(to w: inout GoJSONWriter) {
        w.beginObject()
        w.field("backup_start", backupStart)
        w.field("backup_end", backupEnd)
        w.field("files_new", filesNew)
        w.field("files_changed", filesChanged)
        w.field("files_unmodified", filesUnmodified)
        w.field("dirs_new", dirsNew)
        w.field("dirs_changed", dirsChanged)
        w.field("dirs_unmodified", dirsUnmodified)
        w.field("data_blobs", dataBlobs)
        w.field("tree_blobs", treeBlobs)
        w.field("data_added", dataAdded)
        w.field("data_added_packed", dataAddedPacked)
        w.field("total_files_processed", totalFilesProcessed)
        w.field("total_bytes_processed", totalBytesProcessed)
        w.endObject()
    }
}
