import CPosix
import Foundation
public import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// What `lstat` says about a file, with nanosecond times.
public struct FileStat: Sendable {
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    public var inode: UInt64
    public var device: UInt64
    public var rdev: UInt64
    public var links: UInt64
    public var atime: GoTime
    public var mtime: GoTime
    public var ctime: GoTime

    public var fileType: UInt32 { mode & UInt32(S_IFMT) }
    public var isDirectory: Bool { fileType == UInt32(S_IFDIR) }
    public var isRegular: Bool { fileType == UInt32(S_IFREG) }
    public var isSymlink: Bool { fileType == UInt32(S_IFLNK) }

    init(_ st: stat) {
        self.init(
            mode: st.st_mode, uid: st.st_uid, gid: st.st_gid, size: Int64(st.st_size),
            inode: UInt64(st.st_ino), device: UInt64(st.st_dev), rdev: UInt64(st.st_rdev),
            links: UInt64(st.st_nlink), atime: FileSystem.time(st.st_atim), mtime: FileSystem.time(st.st_mtim),
            ctime: FileSystem.time(st.st_ctim))
    }

    init(
        mode: UInt32, uid: UInt32, gid: UInt32, size: Int64, inode: UInt64, device: UInt64, rdev: UInt64, links: UInt64,
        atime: GoTime, mtime: GoTime, ctime: GoTime
    ) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.inode = inode
        self.device = device
        self.rdev = rdev
        self.links = links
        self.atime = atime
        self.mtime = mtime
        self.ctime = ctime
    }
}

/// Thin, throwing wrappers over the POSIX calls backup and restore need. Errors are
/// `EngineError(.io)` naming the path and the system's reason.
public enum FileSystem {
    static func ioError(_ what: String, _ path: FSPath, _ err: Int32 = errno) -> EngineError {
        if err == ENOSPC || err == EDQUOT {
            return EngineError(
                .noSpace,
                "\(what) \(path): no space left on the device: free some space (or choose another --target) and run the same command again; what is already complete is kept"
            )
        }
        return EngineError(.io, "\(what) \(path): \(String(cString: strerror(err)))")
    }

    static func time(_ ts: timespec) -> GoTime {
        GoTime(seconds: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec), utcOffset: GoTime.localOffset(at: Int64(ts.tv_sec)))
    }

    public static func lstat(_ path: FSPath) throws -> FileStat {
        var st = stat()
        let r = path.withCString { Glibc.lstat($0, &st) }
        guard r == 0 else { throw ioError("cannot stat", path) }
        return FileStat(st)
    }

    public static func exists(_ path: FSPath) -> Bool {
        var st = stat()
        return path.withCString { Glibc.lstat($0, &st) } == 0
    }

    /// Names in a directory (without `.` and `..`), in no particular order.
    public static func readDirectory(_ path: FSPath) throws -> [[UInt8]] {
        guard let dir = path.withCString({ opendir($0) }) else { throw ioError("cannot open directory", path) }
        defer { closedir(dir) }
        return try names(in: dir, display: path)
    }

    public static func readLink(_ path: FSPath) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = path.withCString { p in
                buf.withUnsafeMutableBytes { readlink(p, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
            }
            guard n >= 0 else { throw ioError("cannot read link", path) }
            if n < buf.count { return Array(buf[0..<n]) }
            buf = [UInt8](repeating: 0, count: buf.count * 2)
        }
    }

    /// Extended attributes of the path itself (not following symlinks), in listxattr order.
    /// Filesystems without xattr support give an empty list.
    public static func extendedAttributes(_ path: FSPath) throws -> [Node.ExtendedAttribute] {
        let size = path.withCString { llistxattr($0, nil, 0) }
        if size < 0 {
            if errno == ENOTSUP || errno == ENOSYS { return [] }
            throw ioError("cannot list extended attributes of", path)
        }
        if size == 0 { return [] }
        var list = [UInt8](repeating: 0, count: size)
        let n = path.withCString { p in
            list.withUnsafeMutableBytes { llistxattr(p, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard n >= 0 else { throw ioError("cannot list extended attributes of", path) }
        var out: [Node.ExtendedAttribute] = []
        for nameBytes in list[0..<n].split(separator: 0) {
            let name = String(decoding: nameBytes, as: UTF8.self)
            let vsize = path.withCString { lgetxattr($0, name, nil, 0) }
            if vsize < 0 {
                if errno == ENODATA { continue }  // removed meanwhile
                throw ioError("cannot read extended attribute \(name) of", path)
            }
            var value = [UInt8](repeating: 0, count: vsize)
            let got = path.withCString { p in value.withUnsafeMutableBytes { lgetxattr(p, name, $0.baseAddress, $0.count) } }
            guard got >= 0 else { throw ioError("cannot read extended attribute \(name) of", path) }
            out.append(.init(name: name, value: Array(value[0..<got])))
        }
        return out
    }

    /// `mkdir -p`.
    public static func makeDirectories(_ path: FSPath, mode: UInt32 = 0o700) throws {
        if let st = try? lstat(path), st.isDirectory { return }
        var parts: [UInt8] = []
        for (i, b) in path.bytes.enumerated() {
            parts.append(b)
            let atEnd = i == path.bytes.count - 1
            if (b == UInt8(ascii: "/") && i > 0) || atEnd {
                let p = FSPath(bytes: parts)
                let r = p.withCString { mkdir($0, mode_t(mode)) }
                if r != 0 && errno != EEXIST { throw ioError("cannot create directory", p) }
            }
        }
    }
}

/// Linux's `O_NOATIME` (the same value on x86_64 and arm64); Glibc's module does not export it.
let O_NOATIME: Int32 = 0o1000000
/// Linux's `O_PATH` (the same value on x86_64 and arm64): a descriptor that names a file without
/// opening it for reading, enough to be the directory of `*at` calls.
let O_PATH: Int32 = 0o10000000
