import Foundation
import OffsiteSync

#if canImport(Glibc)
import Glibc
#endif

/// Facts about the running system: host name, current user, and uid/gid → name lookups
/// (cached, as restic caches them).
public enum SystemInfo {
    public static var hostname: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return "" }
        let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static var currentUsername: String { userName(uid: getuid()) }
    public static var uid: UInt32 { getuid() }
    public static var gid: UInt32 { getgid() }
    public static let isRoot: Bool = geteuid() == 0
    public static let effectiveUID: UInt32 = geteuid()
    public static let effectiveGID: UInt32 = getegid()

    /// The working directory as restic (Go's `os.Getwd`) sees it: `$PWD` when it is absolute and
    /// names the same directory as `.` (so a shell that entered `/srv/current`, a symlink, gives
    /// `/srv/current`), else the kernel's path. Relative backup targets are recorded against it.
    public static var workingDirectory: String {
        workingDirectory(pwd: ProcessInfo.processInfo.environment["PWD"])
    }

    static func workingDirectory(pwd: String?) -> String {
        if let pwd, pwd.hasPrefix("/") {
            var a = stat(), b = stat()
            if stat(pwd, &a) == 0, stat(".", &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino { return pwd }
        }
        return FileManager.default.currentDirectoryPath
    }

    private static let userCache = Mutex<[UInt32: String]>([:])
    private static let groupCache = Mutex<[UInt32: String]>([:])

    /// The user name for a uid, or "" if there is none.
    public static func userName(uid: UInt32) -> String {
        if let cached = userCache.withLock({ $0[uid] }) { return cached }
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var buf = [CChar](repeating: 0, count: 4096)
        var name = ""
        if getpwuid_r(uid, &pwd, &buf, buf.count, &result) == 0, result != nil, let p = pwd.pw_name {
            name = String(cString: p)
        }
        userCache.withLock { $0[uid] = name }
        return name
    }

    /// The group name for a gid, or "" if there is none.
    public static func groupName(gid: UInt32) -> String {
        if let cached = groupCache.withLock({ $0[gid] }) { return cached }
        var grp = group()
        var result: UnsafeMutablePointer<group>? = nil
        var buf = [CChar](repeating: 0, count: 4096)
        var name = ""
        if getgrgid_r(gid, &grp, &buf, buf.count, &result) == 0, result != nil, let p = grp.gr_name {
            name = String(cString: p)
        }
        groupCache.withLock { $0[gid] = name }
        return name
    }
}
