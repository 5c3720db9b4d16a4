public import Foundation

/// A snapshot document (`snapshots/<id>`): when, what and from where, and the root tree.
/// Field order and omitempty rules follow restic (FORMAT.md §6.3).
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

    public init(
        time: GoTime, parent: ID? = nil, tree: ID, paths: [String], hostname: String = "",
        username: String = "", uid: UInt32 = 0, gid: UInt32 = 0, excludes: [String] = [],
        tags: [String] = [], original: ID? = nil, programVersion: String = ""
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
    }

    public init(json: Data) throws {
        let f = try decodeDocument(JSONForm.self, from: json, what: "snapshot")
        guard let tree = f.tree else { throw FormatError(.invalidData, "snapshot has no tree") }
        self.init(
            time: f.time, parent: f.parent, tree: tree, paths: f.paths ?? [], hostname: f.hostname ?? "",
            username: f.username ?? "", uid: f.uid ?? 0, gid: f.gid ?? 0, excludes: f.excludes ?? [],
            tags: f.tags ?? [], original: f.original, programVersion: f.program_version ?? "")
    }
}
