import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The source tree of the interoperability tests: nested
/// directories, unicode and odd names, all kinds of symlinks, empty files and directories, files
/// at the chunker's size edges, a large mixed file, several modes and odd nanosecond mtimes.
public enum InteropFixture {
    public static let oddNames = [
        "with space", "quote\"d", "back\\slash", "new\nline", "-leading-dash", "--double-dash",
        "ünïcødé-日本語-😀", "tab\tname", "percent%s", "<angle>&amp",
    ]

    /// Builds the tree at `root` (created). `large` adds the 40 MiB mixed file.
    public static func build(at root: String, large: Bool = true) throws {
        let f = TreeFixture(root: root)
        try f.dir("")
        try f.dir("nested/deeper/deepest")
        try f.dir("empty-dir")
        try f.dir("odd")
        for (i, name) in oddNames.enumerated() {
            try f.file("odd/" + name, Array("content of \(name)\n".utf8), mode: [0o600, 0o644, 0o755, 0o444][i % 4])
        }
        try f.dir("odd/dir with space")
        try f.file("odd/dir with space/inner", Array("inner".utf8))
        try f.file("nested/deeper/deepest/leaf.txt", Array("leaf\n".utf8))
        try f.file("sizes-0", [])
        try f.file("sizes-1", [0x42])
        try f.file("sizes-512KiB", TreeFixture.randomBytes(512 * 1024, seed: 11))
        try f.file("sizes-8MiB", TreeFixture.randomBytes(8 << 20, seed: 12))
        try f.file("sizes-8MiB+1", TreeFixture.randomBytes((8 << 20) + 1, seed: 13))
        if large {
            var mixed: [UInt8] = []
            mixed.reserveCapacity(40 << 20)
            for i in 0..<40 {
                if i % 2 == 0 {
                    mixed += TreeFixture.randomBytes(1 << 20, seed: UInt64(100 + i))
                } else {
                    let line = Array("log line \(i): the quick brown fox jumps over the lazy dog\n".utf8)
                    while mixed.count < (i + 1) << 20 { mixed += line }
                    mixed.removeLast(mixed.count - ((i + 1) << 20))
                }
            }
            try f.file("mixed-40MiB", mixed)
        }
        try f.file("mode-0600", Array("private".utf8), mode: 0o600)
        try f.file("mode-0755", Array("#!/bin/sh\necho hi\n".utf8), mode: 0o755)
        try f.file("mode-0444", Array("read only".utf8), mode: 0o444)
        try f.symlink("link-relative", to: "nested/deeper/deepest/leaf.txt")
        try f.symlink("link-absolute", to: root + "/sizes-1")
        try f.symlink("link-dangling", to: "does/not/exist")
        try f.symlink("nested/link-up", to: "../mode-0600")

        // Odd mtimes, children before their directories so directory times stick.
        f.setTimes("sizes-1", seconds: 1_234_567_890, nanoseconds: 123_456_789)
        f.setTimes("mode-0444", seconds: 946_684_799, nanoseconds: 999_999_999)
        f.setTimes("odd/quote\"d", seconds: 1_600_000_000, nanoseconds: 1)
        f.setTimes("link-dangling", seconds: 1_500_000_000, nanoseconds: 500_000_000)
        f.setTimes("nested/deeper/deepest/leaf.txt", seconds: 1_000_000_000, nanoseconds: 100)
        f.setTimes("nested/deeper/deepest", seconds: 1_100_000_000, nanoseconds: 7)
        f.setTimes("nested/deeper", seconds: 1_200_000_000, nanoseconds: 777_000_000)
        f.setTimes("empty-dir", seconds: 1_300_000_000, nanoseconds: 13)
    }
}

/// A tree that exercises every piece of metadata restic records: extended attributes, hard
/// links, setuid/setgid/sticky bits, FIFOs, device nodes and foreign ownership (the last two
/// need root, which CI has; without root they are left out and the rest is still checked).
public enum MetadataFixture {
    public static var canMakeDevicesAndOwners: Bool { getuid() == 0 }

    public static func build(at root: String) throws {
        let f = TreeFixture(root: root)
        try f.dir("")
        try f.dir("attrs")
        try f.dir("links")
        try f.dir("modes")
        try f.file("attrs/with-xattrs", Array("x".utf8))
        try f.xattr("attrs/with-xattrs", "user.comment", Array("hello".utf8))
        try f.xattr("attrs/with-xattrs", "user.binary", [0, 1, 2, 255])
        try f.xattr("attrs", "user.dir-attr", Array("on a directory".utf8))
        try f.file("links/original", Array("linked content\n".utf8))
        try FileManager.default.createDirectory(atPath: root + "/links/sub", withIntermediateDirectories: true)
        guard link(root + "/links/original", root + "/links/second") == 0,
            link(root + "/links/original", root + "/links/sub/third") == 0
        else { throw FixtureError(message: "cannot create hard links in \(root)") }
        try f.file("modes/setuid", Array("#!/bin/sh\n".utf8), mode: 0o4755)
        try f.file("modes/setgid", Array("#!/bin/sh\n".utf8), mode: 0o2750)
        try f.dir("modes/sticky-dir", mode: 0o1777)
        try f.dir("modes/private-dir", mode: 0o700)
        guard mkfifo(root + "/special-fifo", 0o640) == 0 else { throw FixtureError(message: "cannot make a fifo") }
        if canMakeDevicesAndOwners {
            // A character device with the numbers of /dev/null (1, 3).
            guard mknod(root + "/special-chardev", S_IFCHR | 0o600, dev_t((1 << 8) | 3)) == 0 else {
                throw FixtureError(message: "cannot make a device node")
            }
            try f.file("owned-by-1234", Array("owner".utf8))
            guard lchown(root + "/owned-by-1234", 1234, 5678) == 0, lchown(root + "/modes/private-dir", 4321, 8765) == 0 else {
                throw FixtureError(message: "cannot change owners")
            }
        }
        f.setTimes("special-fifo", seconds: 1_111_111_111, nanoseconds: 111)
        f.setTimes("links/original", seconds: 1_222_222_222, nanoseconds: 222)
        f.setTimes("modes/sticky-dir", seconds: 1_333_333_333, nanoseconds: 333)
    }
}
