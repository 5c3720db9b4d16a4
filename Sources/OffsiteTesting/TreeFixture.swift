import CPosix
import Foundation
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Builds source trees on disk for backup tests, and compares trees after a restore.
public struct TreeFixture {
    public let root: String

    public init(root: String) { self.root = root }

    public func dir(_ rel: String, mode: UInt32 = 0o755) throws {
        try FileManager.default.createDirectory(atPath: root + "/" + rel, withIntermediateDirectories: true)
        chmod(root + "/" + rel, mode_t(mode))
    }

    public func file(_ rel: String, _ data: [UInt8], mode: UInt32 = 0o644) throws {
        let path = root + "/" + rel
        guard FileManager.default.createFile(atPath: path, contents: Data(data)) else {
            throw FixtureError(message: "cannot create \(path)")
        }
        chmod(path, mode_t(mode))
    }

    public func symlink(_ rel: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/" + rel, withDestinationPath: target)
    }

    /// Sets an extended attribute on the item itself (not following symlinks).
    public func xattr(_ rel: String, _ name: String, _ value: [UInt8]) throws {
        let r = value.withUnsafeBytes { lsetxattr(root + "/" + rel, name, $0.baseAddress, $0.count, 0) }
        guard r == 0 else { throw FixtureError(message: "cannot set \(name) on \(rel): errno \(errno)") }
    }

    /// Extended attributes of an item, sorted by name.
    public static func xattrs(_ path: String) -> [String: [UInt8]] {
        let size = llistxattr(path, nil, 0)
        guard size > 0 else { return [:] }
        var list = [CChar](repeating: 0, count: size)
        let n = llistxattr(path, &list, size)
        guard n > 0 else { return [:] }
        var out: [String: [UInt8]] = [:]
        for raw in list[0..<n].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let vs = lgetxattr(path, name, nil, 0)
            guard vs >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: vs)
            let got = value.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, $0.count) }
            out[name] = Array(value.prefix(max(0, got)))
        }
        return out
    }

    /// Sets mtime and atime with nanoseconds (not following symlinks).
    public func setTimes(_ rel: String, seconds: Int, nanoseconds: Int) {
        var ts = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
        utimensat(AT_FDCWD, root + "/" + rel, &ts, AT_SYMLINK_NOFOLLOW)
    }

    /// Deterministic pseudo-random bytes (xorshift), so tests need no fixtures on disk.
    public static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var stream = RandomBytes(seed: seed)
        return stream.next(count)
    }

    /// A seeded stream of pseudo-random bytes: each `next` continues where the last ended, so
    /// a fixture of many random files is made again, byte for byte, from its seed.
    public struct RandomBytes: Sendable {
        private var x: UInt64

        public init(seed: UInt64) { x = seed | 1 }

        public mutating func next(_ count: Int) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var x = self.x
            out.withUnsafeMutableBytes { raw in
                var i = 0
                while i < count {
                    x ^= x << 13; x ^= x >> 7; x ^= x << 17
                    var w = x
                    for _ in 0..<8 where i < count {
                        raw[i] = UInt8(truncatingIfNeeded: w)
                        w >>= 8
                        i += 1
                    }
                }
            }
            self.x = x
            return out
        }
    }

    /// What a tree looks like: per relative path, its type, mode, size, mtime, link target and
    /// content hash. Two trees are equal when these listings are.
    /// Everything restic records and restores, per relative path: type, mode (with setuid,
    /// setgid, sticky), owner, size, content hash, mtime (nanoseconds), link target, extended
    /// attributes, device numbers, and which files are hard links of each other. Two trees are
    /// equal when these listings are.
    public static func describe(_ root: String, includeDirectoryTimes: Bool = true) throws -> [String: String] {
        var out: [String: String] = [:]
        var firstNameOfInode: [UInt64: String] = [:]
        func walk(_ rel: String) throws {
            let path = rel.isEmpty ? root : root + "/" + rel
            var st = stat()
            guard lstat(path, &st) == 0 else { throw FixtureError(message: "cannot stat \(path)") }
            let kind = st.st_mode & S_IFMT
            var desc = "mode=\(String(st.st_mode & 0o7777, radix: 8)) owner=\(st.st_uid):\(st.st_gid)"
            let mtime = "\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
            let xattrs = Self.xattrs(path).sorted { $0.key < $1.key }.map { "\($0.key)=\(Hex.encode($0.value))" }
            if !xattrs.isEmpty { desc += " xattrs=[\(xattrs.joined(separator: ","))]" }
            switch kind {
            case S_IFDIR:
                desc = "dir " + desc + (includeDirectoryTimes && !rel.isEmpty ? " mtime=\(mtime)" : "")
                let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                for n in names { try walk(rel.isEmpty ? n : rel + "/" + n) }
            case S_IFLNK:
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
                desc = "symlink -> \(target) mtime=\(mtime)"
            case S_IFREG:
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                var h: UInt64 = 1469598103934665603
                for b in data { h = (h ^ UInt64(b)) &* 1099511628211 }
                desc = "file " + desc + " size=\(data.count) fnv=\(String(h, radix: 16)) mtime=\(mtime)"
                if st.st_nlink > 1 {
                    let ino = UInt64(st.st_ino)
                    if let first = firstNameOfInode[ino] { desc += " hardlink-of=\(first)" } else { firstNameOfInode[ino] = rel }
                    desc += " links=\(st.st_nlink)"
                }
            case S_IFIFO:
                desc = "fifo " + desc + " mtime=\(mtime)"
            case S_IFCHR, S_IFBLK:
                desc = (kind == S_IFCHR ? "chardev " : "blockdev ") + desc + " rdev=\(st.st_rdev) mtime=\(mtime)"
            default:
                desc = "other \(kind)"
            }
            if !rel.isEmpty { out[rel] = desc }
        }
        try walk("")
        return out
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
