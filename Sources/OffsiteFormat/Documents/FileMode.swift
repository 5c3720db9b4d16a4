/// Go's `os.FileMode` bits, which restic stores in `node.mode` (not POSIX `st_mode`).
public enum GoFileMode {
    public static let dir: UInt32 = 1 << 31
    public static let append: UInt32 = 1 << 30
    public static let exclusive: UInt32 = 1 << 29
    public static let temporary: UInt32 = 1 << 28
    public static let symlink: UInt32 = 1 << 27
    public static let device: UInt32 = 1 << 26
    public static let namedPipe: UInt32 = 1 << 25
    public static let socket: UInt32 = 1 << 24
    public static let setuid: UInt32 = 1 << 23
    public static let setgid: UInt32 = 1 << 22
    public static let charDevice: UInt32 = 1 << 21
    public static let sticky: UInt32 = 1 << 20
    public static let irregular: UInt32 = 1 << 19
    public static let perm: UInt32 = 0o777

    /// Converts a POSIX `st_mode` into the Go mode restic stores (perm, type, setuid/gid, sticky).
    public static func from(posix m: UInt32) -> UInt32 {
        var mode = m & perm
        switch m & 0o170000 {
        case 0o040000: mode |= dir
        case 0o120000: mode |= symlink
        case 0o060000: mode |= device
        case 0o020000: mode |= device | charDevice
        case 0o010000: mode |= namedPipe
        case 0o140000: mode |= socket
        default: break
        }
        if m & 0o4000 != 0 { mode |= setuid }
        if m & 0o2000 != 0 { mode |= setgid }
        if m & 0o1000 != 0 { mode |= sticky }
        return mode
    }

    /// The POSIX permission bits (including setuid/setgid/sticky) of a Go mode.
    public static func posixPermissions(_ mode: UInt32) -> UInt32 {
        var m = mode & perm
        if mode & setuid != 0 { m |= 0o4000 }
        if mode & setgid != 0 { m |= 0o2000 }
        if mode & sticky != 0 { m |= 0o1000 }
        return m
    }

    /// Go's `FileMode.String()`, e.g. `drwxr-xr-x`, `-rw-r--r--`, `Lrwxrwxrwx`.
    public static func string(_ mode: UInt32) -> String {
        let letters = Array("dalTLDpSugct?")
        var out = ""
        for (i, c) in letters.enumerated() where mode & (1 << UInt32(31 - i)) != 0 {
            out.append(c)
        }
        if out.isEmpty { out = "-" }
        let rwx = Array("rwxrwxrwx")
        for i in 0..<9 {
            out.append(mode & (1 << UInt32(8 - i)) != 0 ? rwx[i] : "-")
        }
        return out
    }
}
