import Foundation

/// One entry of a tree: a file, directory, symlink, device, FIFO or socket, with its metadata.
///
/// Names and link targets are bytes (file names need not be UTF-8). JSON follows restic's
/// `Node` struct exactly (docs/FORMAT.md §6.4.2): field order, omitempty rules, Go-quoted names.
public struct Node: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case file, dir, symlink, dev, chardev, fifo, socket, irregular
    }

    public struct ExtendedAttribute: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]
        public init(name: String, value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    public var name: [UInt8]
    public var type: Kind
    public var mode: UInt32 = 0
    public var mtime = GoTime(seconds: 0)
    public var atime = GoTime(seconds: 0)
    public var ctime = GoTime(seconds: 0)
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var user = ""
    public var group = ""
    public var inode: UInt64 = 0
    public var deviceID: UInt64 = 0
    public var size: UInt64 = 0
    public var links: UInt64 = 0
    public var linkTarget: [UInt8] = []
    public var extendedAttributes: [ExtendedAttribute] = []
    public var device: UInt64 = 0
    /// Chunk IDs of a file, in order; nil for every other type.
    public var content: [ID]? = nil
    public var subtree: ID? = nil
    public var error = ""

    public init(name: [UInt8], type: Kind) {
        self.name = name
        self.type = type
    }

    public init(name: String, type: Kind) {
        self.init(name: Array(name.utf8), type: type)
    }

    /// The name for display (invalid UTF-8 replaced).
    public var nameString: String { String(decoding: name, as: UTF8.self) }
    public var linkTargetString: String { String(decoding: linkTarget, as: UTF8.self) }

    // MARK: JSON

    /// Appends this node's JSON object to `w`, byte-identical to restic's encoding.
    public func write(to w: inout GoJSONWriter) {
        w.beginObject()
        w.key("name"); w.string(bytes: GoQuote.quote(name))
        w.field("type", type.rawValue)
        w.field("mode", mode, omitEmpty: true)
        w.field("mtime", mtime.clampedForJSON)
        w.field("atime", atime.clampedForJSON)
        w.field("ctime", ctime.clampedForJSON)
        w.field("uid", uid)
        w.field("gid", gid)
        w.field("user", user, omitEmpty: true)
        w.field("group", group, omitEmpty: true)
        w.field("inode", inode, omitEmpty: true)
        w.field("device_id", deviceID, omitEmpty: true)
        w.field("size", size, omitEmpty: true)
        w.field("links", links, omitEmpty: true)
        if !linkTarget.isEmpty {
            w.key("linktarget"); w.string(bytes: linkTarget)
            if String(validating: linkTarget, as: UTF8.self) == nil {
                w.key("linktarget_raw"); w.base64(linkTarget)
            }
        }
        if !extendedAttributes.isEmpty {
            w.key("extended_attributes")
            w.beginArray()
            for x in extendedAttributes {
                w.beginObject()
                w.field("name", x.name)
                w.key("value"); w.base64(x.value)
                w.endObject()
            }
            w.endArray()
        }
        w.field("device", device, omitEmpty: true)
        w.key("content")
        if let content {
            w.beginArray()
            for id in content { w.id(id) }
            w.endArray()
        } else {
            w.null()
        }
        w.field("subtree", subtree)
        w.field("error", error, omitEmpty: true)
        w.endObject()
    }
}

extension GoTime {
    /// restic's `FixTime`: years outside 0…9999 are clamped before encoding.
    var clampedForJSON: GoTime {
        let y = civil.year
        if y < 0 { return GoTime(year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0, utcOffset: utcOffset) }
        if y > 9999 {
            return GoTime(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59, nanoseconds: 999_999_999, utcOffset: utcOffset)
        }
        return self
    }
}
