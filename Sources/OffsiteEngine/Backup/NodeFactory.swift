public import OffsiteFormat

/// Builds tree nodes from `lstat` results, filling the fields exactly as restic does, so that
/// the same file gives the same node JSON in both tools.
public enum NodeFactory {
    /// A node for `path` named `name`. `withAtime` keeps the real atime (restic's
    /// `--with-atime`); by default atime = mtime.
    /// Extended attributes that cannot be read are reported through `warn` and the node is kept
    /// without them, as restic does; the item itself is not lost.
    public static func node(
        name: [UInt8], path: FSPath, stat st: FileStat, withAtime: Bool = false, warn: (String) -> Void
    ) throws -> Node {
        let type: Node.Kind
        switch st.fileType {
        case 0o100000: type = .file
        case 0o040000: type = .dir
        case 0o120000: type = .symlink
        case 0o060000: type = .dev
        case 0o020000: type = .chardev
        case 0o010000: type = .fifo
        case 0o140000: type = .socket
        default: type = .irregular
        }
        guard type != .irregular else {
            throw EngineError(.io, "\(path): unsupported file type (mode \(String(st.mode, radix: 8)))")
        }
        var node = Node(name: name, type: type)
        node.mode = GoFileMode.from(posix: st.mode)
        node.mtime = st.mtime
        node.atime = withAtime ? st.atime : st.mtime
        node.ctime = st.ctime
        node.uid = st.uid
        node.gid = st.gid
        node.user = SystemInfo.userName(uid: st.uid)
        node.group = SystemInfo.groupName(gid: st.gid)
        node.inode = st.inode
        node.deviceID = st.device
        switch type {
        case .file:
            node.size = UInt64(st.size)
            node.links = st.links
        case .symlink:
            node.linkTarget = try FileSystem.readLink(path)
            node.links = st.links
        case .dev, .chardev:
            node.device = st.rdev
            node.links = st.links
        default:
            break
        }
        do {
            node.extendedAttributes = try FileSystem.extendedAttributes(path)
        } catch let e as EngineError where e.code == .io {
            warn(e.message + " (extended attributes left out)")
        }
        return node
    }
}
