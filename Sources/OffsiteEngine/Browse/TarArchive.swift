import OffsiteFormat

/// What `Dump` needs from an archive format: an entry's header, its data in pieces, the end
/// of the entry, and the end of the archive.
protocol ArchiveWriter: AnyObject {
    /// Starts the entry for `node`, stored under `name` (relative, no trailing slash).
    func begin(_ node: Node, name: [UInt8]) throws
    func write(_ bytes: UnsafeRawBufferPointer) throws
    func end() throws
    func finish() throws
}

struct ArchiveError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A tar stream with the headers restic's dumper writes (see `TarHeader`): files, directories
/// (name with a trailing slash) and symlinks; mode with setuid/setgid/sticky; numeric and named
/// owner; rounded modification time; extended attributes as `SCHILY.xattr.*` records and POSIX
/// ACLs as `SCHILY.acl.access`/`SCHILY.acl.default` text.
final class TarArchive: ArchiveWriter {
    private let out: any ByteSink
    private var remaining: Int64 = 0
    private var padding = 0
    private var name: [UInt8] = []

    init(_ sink: any ByteSink) { out = sink }

    func begin(_ node: Node, name: [UInt8]) throws {
        let kind: TarHeader.Kind
        switch node.type {
        case .dir: kind = .directory
        case .symlink: kind = .symlink
        default: kind = .regular  // restic leaves the type unset, which Go writes as a regular file
        }
        var header = TarHeader(
            name: kind == .directory ? name + [UInt8(ascii: "/")] : name, kind: kind,
            mode: Int64(GoFileMode.posixPermissions(node.mode)), uid: Int64(node.uid), gid: Int64(node.gid),
            // Only a regular file's member has data: a size recorded for a directory or a
            // symlink would make readers that honour it (GNU tar) skip into the next members.
            size: kind == .regular ? Int64(bitPattern: node.size) : 0, modificationTime: node.mtime)
        header.linkName = node.type == .symlink ? node.linkTarget : []
        header.userName = Array(node.user.utf8)
        header.groupName = Array(node.group.utf8)
        header.records = Self.records(node.extendedAttributes)
        do {
            try out.write(try header.encode())
        } catch let e as TarHeader.EncodingError {
            throw ArchiveError("writing header for \"/\(String(decoding: name, as: UTF8.self))\": \(e.description)")
        }
        self.name = name
        remaining = kind == .regular ? header.size : 0
        padding = kind == .regular ? TarHeader.padding(header.size) : 0
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard Int64(bytes.count) <= remaining else {
            throw ArchiveError(
                "\"/\(String(decoding: name, as: UTF8.self))\" has more data than its size says (archive/tar: write too long)")
        }
        remaining -= Int64(bytes.count)
        try out.write(bytes)
    }

    func end() throws {
        guard remaining == 0 else {
            throw ArchiveError("\"/\(String(decoding: name, as: UTF8.self))\" is \(remaining) bytes shorter than its size says")
        }
        if padding > 0 { try out.write([UInt8](repeating: 0, count: padding)) }
        padding = 0
    }

    func finish() throws { try out.write(TarHeader.trailer) }

    /// restic's `parseXattrs` (0.17): ACLs as text, every other attribute verbatim; an ACL that
    /// cannot be parsed is left out.
    static func records(_ xattrs: [Node.ExtendedAttribute]) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for x in xattrs {
            switch x.name {
            case "system.posix_acl_access":
                if let text = linuxACLText(x.value) { out["SCHILY.acl.access"] = Array(text.utf8) }
            case "system.posix_acl_default":
                if let text = linuxACLText(x.value) { out["SCHILY.acl.default"] = Array(text.utf8) }
            default:
                out["SCHILY.xattr." + x.name] = x.value
            }
        }
        return out
    }

    /// A Linux POSIX.1e ACL (version 2, little-endian entries of tag, permissions and ID) in
    /// the long text form: `user::rw-\ngroup:100:r--\n…`, IDs in decimal.
    static func linuxACLText(_ acl: [UInt8]) -> String? {
        guard acl.count >= 4, (acl.count - 4) % 8 == 0 else { return nil }
        func u16(_ i: Int) -> UInt32 { UInt32(acl[i]) | UInt32(acl[i + 1]) << 8 }
        func u32(_ i: Int) -> UInt32 { u16(i) | u16(i + 2) << 16 }
        guard u32(0) == 2 else { return nil }
        var text = ""
        var i = 4
        while i + 8 <= acl.count {
            let tag = u16(i), perm = u16(i + 2), id = u32(i + 4)
            switch tag {
            case 0x01: text += "user:"
            case 0x02: text += "user:\(id)"
            case 0x04: text += "group:"
            case 0x08: text += "group:\(id)"
            case 0x10: text += "mask:"
            case 0x20: text += "other:"
            default: return nil
            }
            text += ":" + (perm & 4 != 0 ? "r" : "-") + (perm & 2 != 0 ? "w" : "-") + (perm & 1 != 0 ? "x" : "-") + "\n"
            i += 8
        }
        return text
    }
}
