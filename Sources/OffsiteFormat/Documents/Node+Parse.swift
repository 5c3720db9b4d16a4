import Foundation

extension Node {
    private enum Key {
        static let name = Array("name".utf8), type = Array("type".utf8), mode = Array("mode".utf8)
        static let mtime = Array("mtime".utf8), atime = Array("atime".utf8), ctime = Array("ctime".utf8)
        static let uid = Array("uid".utf8), gid = Array("gid".utf8), user = Array("user".utf8), group = Array("group".utf8)
        static let inode = Array("inode".utf8), deviceID = Array("device_id".utf8), size = Array("size".utf8)
        static let links = Array("links".utf8), linktarget = Array("linktarget".utf8)
        static let linktargetRaw = Array("linktarget_raw".utf8), xattrs = Array("extended_attributes".utf8)
        static let device = Array("device".utf8), content = Array("content".utf8), subtree = Array("subtree".utf8)
        static let error = Array("error".utf8), value = Array("value".utf8)
    }

    /// Reads one node object with the streaming scanner: the same rules as restic's decoder
    /// (unknown keys ignored, `null` for absent values, the name Go-unquoted), without
    /// `JSONDecoder` (decoding parent trees dominated unchanged backups).
    static func parse(_ s: inout JSONScanner) throws -> Node {
        var node = Node(name: [], type: .file)
        var sawName = false, sawType = false
        var linkTargetRaw: [UInt8]?
        func time(_ s: inout JSONScanner) throws -> GoTime {
            let text = try s.string()
            guard let t = GoTime(rfc3339Bytes: text) else {
                throw FormatError(.invalidData, "invalid time \"\(String(decoding: text, as: UTF8.self))\"")
            }
            return t
        }
        func base64(_ s: inout JSONScanner) throws -> [UInt8]? {
            if try s.null() { return nil }
            let text = try s.string()
            guard let d = Data(base64Encoded: Data(text)) else { throw FormatError(.invalidData, "invalid base64 in node") }
            return Array(d)
        }
        func uint32(_ s: inout JSONScanner) throws -> UInt32 {
            let v = try s.unsigned()
            guard v <= UInt32.max else { throw FormatError(.invalidData, "number \(v) out of range in node") }
            return UInt32(v)
        }
        try s.object { s, key in
            if try s.null() { return }  // Go leaves the field at its zero value
            switch key {
            case Key.name:
                node.name = try GoQuote.unquote(try s.string())
                sawName = true
            case Key.type:
                let t = try s.string()
                guard let kind = Kind(rawValue: String(decoding: t, as: UTF8.self)) else {
                    throw FormatError(.invalidData, "unknown node type \"\(String(decoding: t, as: UTF8.self))\"")
                }
                node.type = kind
                sawType = true
            case Key.mode: node.mode = try uint32(&s)
            case Key.mtime: node.mtime = try time(&s)
            case Key.atime: node.atime = try time(&s)
            case Key.ctime: node.ctime = try time(&s)
            case Key.uid: node.uid = try uint32(&s)
            case Key.gid: node.gid = try uint32(&s)
            case Key.user: node.user = String(decoding: try s.string(), as: UTF8.self)
            case Key.group: node.group = String(decoding: try s.string(), as: UTF8.self)
            case Key.inode: node.inode = try s.unsigned()
            case Key.deviceID: node.deviceID = try s.unsigned()
            case Key.size: node.size = try s.unsigned()
            case Key.links: node.links = try s.unsigned()
            case Key.linktarget: node.linkTarget = try s.string()
            case Key.linktargetRaw: linkTargetRaw = try base64(&s)
            case Key.device: node.device = try s.unsigned()
            case Key.subtree: node.subtree = try s.id()
            case Key.error: node.error = String(decoding: try s.string(), as: UTF8.self)
            case Key.content:
                var ids: [ID] = []
                try s.array { ids.append(try $0.id()) }
                node.content = ids
            case Key.xattrs:
                var list: [ExtendedAttribute] = []
                try s.array { s in
                    var name = ""
                    var value: [UInt8] = []
                    try s.object { s, k in
                        if k == Key.name, try !s.null() {
                            name = String(decoding: try s.string(), as: UTF8.self)
                        } else if k == Key.value {
                            value = try base64(&s) ?? []
                        } else {
                            try s.skipValue()
                        }
                    }
                    list.append(ExtendedAttribute(name: name, value: value))
                }
                node.extendedAttributes = list
            default:
                try s.skipValue()
            }
        }
        guard sawName, sawType else { throw FormatError(.invalidData, "a node has no name or type") }
        if let linkTargetRaw { node.linkTarget = linkTargetRaw }
        return node
    }
}
