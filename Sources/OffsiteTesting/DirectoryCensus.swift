public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Everything below a directory, never following a symlink: per path (relative to the root),
/// its type, inode, size, mode, modification time in nanoseconds, owner, link target and a hash
/// of a file's bytes. Two censuses
/// of one root differ exactly where something was created, removed or changed, which is how the
/// hostile-repository tests and the `restore` fuzz target prove that a restore changed nothing
/// outside its target.
public struct DirectoryCensus: Equatable, Sendable {
    public private(set) var entries: [String: String] = [:]

    /// Takes the census of `root`, leaving out the subtrees at the relative paths in `excluding`
    /// (the restore's target) and the root directory's own times (creating the target changes
    /// them; an entry created beside it still shows).
    public init(_ root: String, excluding: Set<String> = []) throws {
        try walk(root, "", excluding)
    }

    /// The paths that differ, each with what it was and what it is.
    public func differences(from before: DirectoryCensus) -> [String] {
        let keys = Set(entries.keys).union(before.entries.keys).sorted()
        return keys.compactMap { key in
            let (a, b) = (before.entries[key], entries[key])
            return a == b ? nil : "\(key): \(a ?? "absent") -> \(b ?? "absent")"
        }
    }

    private mutating func walk(_ root: String, _ rel: String, _ excluding: Set<String>) throws {
        let path = rel.isEmpty ? root : root + "/" + rel
        var st = stat()
        guard lstat(path, &st) == 0 else { throw FixtureError(message: "census: cannot stat \(path): errno \(errno)") }
        // The link count is left out: removing a hard link inside the target lowers it for an
        // inode outside, which changes nothing there.
        var line = "ino=\(st.st_ino) mode=\(String(st.st_mode, radix: 8)) size=\(st.st_size)"
        line += " owner=\(st.st_uid):\(st.st_gid)"
        if !rel.isEmpty { line += " mtime=\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)" }
        switch st.st_mode & S_IFMT {
        case S_IFLNK:
            var buf = [CChar](repeating: 0, count: 4097)
            let n = readlink(path, &buf, 4096)
            line += " -> " + String(decoding: buf.prefix(max(0, n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        case S_IFDIR:
            guard let dir = opendir(path) else { throw FixtureError(message: "census: cannot open \(path): errno \(errno)") }
            var names: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(dir)
            for name in names.sorted() {
                let child = rel.isEmpty ? name : rel + "/" + name
                if !excluding.contains(child) { try walk(root, child, excluding) }
            }
        case S_IFREG:
            let data = FileManager.default.contents(atPath: path) ?? Data()
            var h: UInt64 = 1_469_598_103_934_665_603
            for b in data { h = (h ^ UInt64(b)) &* 1_099_511_628_211 }
            line += " fnv=\(String(h, radix: 16))"
        default:
            break
        }
        entries[rel.isEmpty ? "." : rel] = line
    }
}
