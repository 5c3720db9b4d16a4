public import OffsiteFormat

/// restic's rule for reusing a file's content from the parent snapshot without reading it:
/// the previous node is a file with the same size and mtime, and (unless ignored) the same ctime
/// and inode. Times compare as instants, whatever UTC offset they were recorded in.
public struct ChangeDetection: Sendable {
    public var ignoreCtime = false
    public var ignoreInode = false

    public init(ignoreCtime: Bool = false, ignoreInode: Bool = false) {
        self.ignoreCtime = ignoreCtime
        self.ignoreInode = ignoreInode
    }

    public func hasChanged(_ st: FileStat, since old: Node?) -> Bool {
        guard let old, old.type == .file else { return true }
        if UInt64(st.size) != old.size { return true }
        if !st.mtime.sameInstant(as: old.mtime) { return true }
        if !ignoreCtime && !st.ctime.sameInstant(as: old.ctime) { return true }
        if !ignoreInode && st.inode != old.inode { return true }
        return false
    }
}
