import CPosix
import Foundation
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Putting an item's metadata back, and the small filesystem operations restore needs.
///
/// Everything here works on an open descriptor or on one name inside an open directory
/// (`TargetDirectories`), never following a symlink at that name.
enum RestoreMetadata {
    /// Owner (as root, like `cp -a`), mode, extended attributes, then access and modification
    /// times (last, because the others change ctime and some change mtime) of an open file or
    /// directory. Nothing can be swapped in under a name meanwhile.
    static func apply(_ node: Node, fd: Int32, display: @autoclosure () -> FSPath, ownerIsRight: Bool = false) throws {
        if SystemInfo.isRoot && !ownerIsRight {
            guard fchown(fd, node.uid, node.gid) == 0 else { throw FileSystem.ioError("cannot change owner of", display()) }
        }
        guard fchmod(fd, mode_t(GoFileMode.posixPermissions(node.mode))) == 0 else {
            throw FileSystem.ioError("cannot change mode of", display())
        }
        try setExtendedAttributes(node, display: display()) { name, value in fsetxattr(fd, name, value.baseAddress, value.count, 0) }
        var times = timestamps(node)
        guard futimens(fd, &times) == 0 else { throw FileSystem.ioError("cannot set times of", display()) }
    }

    /// The same for the entry `name` inside the open directory `dir` (symlinks, FIFOs, devices
    /// and files whose content was already right), without following a symlink at the name: a
    /// symlink's own owner and times are set, never its target's, and its mode is left alone.
    static func apply(_ node: Node, in dir: Int32, _ name: [UInt8], display: @autoclosure () -> FSPath) throws {
        if SystemInfo.isRoot {
            guard FileSystem.withName(name, { fchownat(dir, $0, node.uid, node.gid, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw FileSystem.ioError("cannot change owner of", display())
            }
        }
        if node.type != .symlink {
            try changeMode(in: dir, name, to: mode_t(GoFileMode.posixPermissions(node.mode)), display: display())
        }
        if !node.extendedAttributes.isEmpty {
            // There is no lsetxattrat: the directory's /proc/self/fd entry stands for it, and
            // lsetxattr does not follow the last component.
            let path = FSPath("/proc/self/fd/\(dir)").appending(name)
            try setExtendedAttributes(node, display: display()) { attribute, value in
                path.withCString { lsetxattr($0, attribute, value.baseAddress, value.count, 0) }
            }
        }
        var times = timestamps(node)
        guard FileSystem.withName(name, { utimensat(dir, $0, &times, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            throw FileSystem.ioError("cannot set times of", display())
        }
    }

    /// `fchmodat(AT_SYMLINK_NOFOLLOW)`: glibc 2.32 and later refuse a symlink at the name rather
    /// than follow it. Older glibc refuses every name (EOPNOTSUPP): then the entry is opened with
    /// `O_PATH | O_NOFOLLOW` and, when it is not a symlink, changed through its
    /// `/proc/self/fd` entry, as newer glibc does itself.
    static func changeMode(in dir: Int32, _ name: [UInt8], to mode: mode_t, display: @autoclosure () -> FSPath) throws {
        if FileSystem.withName(name, { fchmodat(dir, $0, mode, AT_SYMLINK_NOFOLLOW) }) == 0 { return }
        guard errno == EOPNOTSUPP || errno == ENOTSUP else { throw FileSystem.ioError("cannot change mode of", display()) }
        let fd = FileSystem.withName(name) { openat(dir, $0, O_PATH | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw FileSystem.ioError("cannot change mode of", display()) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileSystem.ioError("cannot change mode of", display()) }
        if st.st_mode & S_IFMT == S_IFLNK { return }
        guard chmod("/proc/self/fd/\(fd)", mode) == 0 else { throw FileSystem.ioError("cannot change mode of", display()) }
    }

    private static func timestamps(_ node: Node) -> [timespec] {
        [
            timespec(tv_sec: Int(node.atime.seconds), tv_nsec: Int(node.atime.nanoseconds)),
            timespec(tv_sec: Int(node.mtime.seconds), tv_nsec: Int(node.mtime.nanoseconds)),
        ]
    }

    private static func setExtendedAttributes(
        _ node: Node, display: @autoclosure () -> FSPath, _ set: (String, UnsafeRawBufferPointer) -> Int32
    ) throws {
        for x in node.extendedAttributes {
            if x.value.withUnsafeBytes({ set(x.name, $0) }) != 0 {
                let err = errno
                // Without root, some namespaces (trusted.*, security.*) and symlinks refuse
                // extended attributes, as for cp -a; everything else is an error.
                if !SystemInfo.isRoot && (err == EPERM || err == EACCES) { continue }
                throw FileSystem.ioError("cannot set extended attribute \(x.name) of", display(), err)
            }
        }
    }

    /// The prefix of the temporary names files are written under before they are complete.
    static let temporaryPrefix = Array(".offsite-restore-".utf8)

    static func isTemporaryName(_ name: [UInt8]) -> Bool {
        name.count == temporaryPrefix.count + 16 && name.starts(with: temporaryPrefix)
    }

    /// A temporary name; `value` is random (or a random base plus a counter).
    static func temporaryName(_ value: UInt64 = UInt64.random(in: .min ... .max)) -> [UInt8] {
        var hex = Array(String(value, radix: 16).utf8)
        while hex.count < 16 { hex.insert(UInt8(ascii: "0"), at: 0) }
        return temporaryPrefix + hex
    }

    /// Writes all of `bytes` at `offset`.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, display: @autoclosure () -> FSPath) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                let err = errno
                throw FileSystem.ioError("cannot write", display(), err)
            }
            done += n
        }
    }
}
