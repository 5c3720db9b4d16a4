public import Foundation

/// A lock file (`locks/<id>`): who holds the repository, since when, and whether exclusively.
/// Field order and omitempty rules follow restic (docs/FORMAT.md §6.5): `uid` and `gid` are omitted
/// when zero, everything else is always written.
public struct LockDocument: Sendable, Equatable {
    public var time: GoTime
    public var exclusive: Bool
    public var hostname: String
    public var username: String
    public var pid: Int
    public var uid: UInt32
    public var gid: UInt32

    public init(
        time: GoTime, exclusive: Bool, hostname: String, username: String, pid: Int, uid: UInt32 = 0, gid: UInt32 = 0
    ) {
        self.time = time
        self.exclusive = exclusive
        self.hostname = hostname
        self.username = username
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// The document as restic's `json.Marshal` writes it.
    public var json: Data {
        var w = GoJSONWriter()
        w.beginObject()
        w.field("time", time)
        w.key("exclusive")
        w.bool(exclusive)
        w.field("hostname", hostname)
        w.field("username", username)
        w.field("pid", pid)
        w.field("uid", uid, omitEmpty: true)
        w.field("gid", gid, omitEmpty: true)
        w.endObject()
        return w.data
    }

    private struct JSONForm: Decodable {
        var time: GoTime
        var exclusive: Bool?
        var hostname: String?
        var username: String?
        var pid: Int?
        var uid: UInt32?
        var gid: UInt32?
    }

    public init(json: Data) throws {
        let f = try decodeDocument(JSONForm.self, from: json, what: "lock")
        self.init(
            time: f.time, exclusive: f.exclusive ?? false, hostname: f.hostname ?? "", username: f.username ?? "",
            pid: f.pid ?? 0, uid: f.uid ?? 0, gid: f.gid ?? 0)
    }
}
