import CPosix
import Foundation
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Putting an item's metadata back, and the small filesystem operations restore needs.
enum RestoreMetadata {
    /// Owner (as root, like `cp -a`), mode (not for symlinks), extended attributes, then access
    /// and modification times (last, because the others change ctime and some change mtime).
    /// With `fd` (an open regular file) the descriptor is used instead of the path: no path
    /// lookups, and nothing can be swapped in under the name meanwhile.
    static func apply(_ node: Node, at path: FSPath, fd: Int32? = nil, ownerIsRight: Bool = false) throws {
        if SystemInfo.isRoot && !ownerIsRight {
            let r = fd.map { fchown($0, node.uid, node.gid) } ?? path.withCString { lchown($0, node.uid, node.gid) }
            guard r == 0 else { throw FileSystem.ioError("cannot change owner of", path) }
        }
        if node.type != .symlink {
            let mode = mode_t(GoFileMode.posixPermissions(node.mode))
            let r = fd.map { fchmod($0, mode) } ?? path.withCString { chmod($0, mode) }
            guard r == 0 else { throw FileSystem.ioError("cannot change mode of", path) }
        }
        for x in node.extendedAttributes {
            let r = x.value.withUnsafeBytes { v in
                fd.map { fsetxattr($0, x.name, v.baseAddress, v.count, 0) }
                    ?? path.withCString { lsetxattr($0, x.name, v.baseAddress, v.count, 0) }
            }
            if r != 0 {
                let err = errno
                // Without root, some namespaces (trusted.*, security.*) and symlinks refuse
                // extended attributes, as for cp -a; everything else is an error.
                if !SystemInfo.isRoot && (err == EPERM || err == EACCES) { continue }
                throw FileSystem.ioError("cannot set extended attribute \(x.name) of", path, err)
            }
        }
        var times = [
            timespec(tv_sec: Int(node.atime.seconds), tv_nsec: Int(node.atime.nanoseconds)),
            timespec(tv_sec: Int(node.mtime.seconds), tv_nsec: Int(node.mtime.nanoseconds)),
        ]
        let r = fd.map { futimens($0, &times) } ?? path.withCString { utimensat(AT_FDCWD, $0, &times, AT_SYMLINK_NOFOLLOW) }
        guard r == 0 else { throw FileSystem.ioError("cannot set times of", path) }
    }

    /// Names that would escape the target directory are never written.
    static func isSafeName(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name != [0x2E] && name != [0x2E, 0x2E] && !name.contains(UInt8(ascii: "/")) && !name.contains(0)
    }

    /// Removes a file, symlink or (recursively) a directory; a missing path is fine.
    static func remove(_ path: FSPath) throws {
        guard let st = try? FileSystem.lstat(path) else { return }
        if st.isDirectory {
            for name in try FileSystem.readDirectory(path) { try remove(path.appending(name)) }
            guard path.withCString({ rmdir($0) }) == 0 else { throw FileSystem.ioError("cannot remove", path) }
        } else {
            guard path.withCString({ unlink($0) }) == 0 else { throw FileSystem.ioError("cannot remove", path) }
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
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: FSPath) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                let err = errno
                throw FileSystem.ioError("cannot write", path, err)
            }
            done += n
        }
    }
}
