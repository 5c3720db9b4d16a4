import CPosix
import Foundation
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Operations on a name inside an open directory, never following a symlink at that name.
///
/// These are what restore is built on: every directory is opened from its parent's descriptor
/// with `O_NOFOLLOW | O_DIRECTORY`, and every create, remove, rename, stat and metadata change
/// names one component relative to such a descriptor. No path with a `/` is ever handed to the
/// kernel below the target, so a symlink inside the target (planted, left by an earlier
/// restore, or made by this one) is never followed, and there is no PATH_MAX limit on depth.
/// `name` is a single component (`NodeName`); `display` is only for messages.
extension FileSystem {
    /// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
    static func lstat(in dir: Int32, _ name: [UInt8], display: @autoclosure () -> FSPath) throws -> FileStat {
        var st = stat()
        guard withName(name, { fstatat(dir, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { throw ioError("cannot stat", display()) }
        return FileStat(st)
    }

    /// What is at `name`, or nil when nothing is (or it cannot be looked at).
    static func lstatIfPresent(in dir: Int32, _ name: [UInt8]) -> FileStat? {
        var st = stat()
        return withName(name, { fstatat(dir, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 ? FileStat(st) : nil
    }

    /// Opens the directory `name` inside `dir`, refusing a symlink (`ELOOP` or `ENOTDIR`). With
    /// `pathOnly` the descriptor is an `O_PATH` one: enough for `*at` calls and `fstat`, and
    /// needing only search permission on the directory, not read permission. Returns the
    /// descriptor, or -1 with `errno` set.
    static func openDirectory(in dir: Int32, _ name: [UInt8], pathOnly: Bool = false) -> Int32 {
        withName(name) { openat(dir, $0, (pathOnly ? O_PATH : O_RDONLY) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
    }

    /// The error for a failed `openDirectory`: a symlink or another kind of file where a
    /// directory should be is named as such.
    static func openDirectoryError(_ display: FSPath, _ err: Int32 = errno) -> EngineError {
        if err == ELOOP || err == ENOTDIR {
            return EngineError(.io, "cannot open directory \(display): it is not a directory (a symlink is never followed)")
        }
        return ioError("cannot open directory", display, err)
    }

    /// Names in the open directory `fd` (without `.` and `..`). `fd` stays open; the directory is
    /// read through a descriptor of its own (`.` opened from `fd`, which may be an `O_PATH` one),
    /// so reading it again starts from the beginning.
    static func readDirectory(fd: Int32, display: @autoclosure () -> FSPath) throws -> [[UInt8]] {
        let copy = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard copy >= 0, let dir = fdopendir(copy) else {
            let err = errno
            if copy >= 0 { close(copy) }
            throw ioError("cannot open directory", display(), err)
        }
        defer { closedir(dir) }
        return try names(in: dir, display: display())
    }

    /// Names read from an open `DIR`, without `.` and `..`.
    static func names(in dir: OpaquePointer, display: @autoclosure () -> FSPath) throws -> [[UInt8]] {
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw ioError("cannot read directory", display()) }
                break
            }
            let name: [UInt8] = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return names
    }

    /// Directories held open at once while removing a tree, besides anchors: deeper ones are
    /// reopened by name from the nearest open ancestor when the removal climbs back to them.
    static let removalDescriptorLimit = 64
    /// Every `removalAnchorSpacing`-th level stays open (at most `removalDescriptorLimit` such
    /// anchors, the shallowest closed first), so climbing back up reopens a short run of levels.
    static let removalAnchorSpacing = 128

    /// Removes `name` inside `dir`: a file, symlink or other entry is unlinked (a symlink itself,
    /// never its target); a directory is emptied and removed, depth first, by descriptor, with at
    /// most `2 × removalDescriptorLimit` descriptors open and no recursion, whatever its depth.
    /// Nothing there is fine, and so is an entry that disappears meanwhile.
    static func removeItem(in base: Int32, _ name: [UInt8], display displayed: @autoclosure () -> FSPath) throws {
        guard let st = lstatIfPresent(in: base, name) else { return }
        guard st.isDirectory else {
            guard withName(name, { unlinkat(base, $0, 0) }) == 0 || errno == ENOENT else { throw ioError("cannot remove", displayed()) }
            return
        }
        let display = displayed()
        struct Level {
            var name: [UInt8]
            var fd: Int32
            var pending: [[UInt8]]
        }
        var levels: [Level] = []
        var openLevels = 0, openAnchors = 0
        defer { for level in levels where level.fd >= 0 { close(level.fd) } }
        func isAnchor(_ i: Int) -> Bool { i % removalAnchorSpacing == 0 }
        func path(_ depth: Int) -> FSPath {
            var path = display.bytes
            for level in levels[1..<depth + 1] { path += [UInt8(ascii: "/")] + level.name }
            return FSPath(bytes: path)
        }
        func opened(_ i: Int, _ fd: Int32) {
            levels[i].fd = fd
            if isAnchor(i) { openAnchors += 1 } else { openLevels += 1 }
        }
        func closeLevel(_ i: Int) {
            close(levels[i].fd)
            levels[i].fd = -1
            if isAnchor(i) { openAnchors -= 1 } else { openLevels -= 1 }
        }
        // No open level is shallower than `shallowLevel`, no open anchor than `shallowAnchor`.
        var shallowLevel = 0, shallowAnchor = 0
        // Closes the shallowest open levels beyond the limits, never `keeping` or its parent.
        func trim(keeping: Int) {
            while openLevels > removalDescriptorLimit && shallowLevel < keeping - 1 {
                if !isAnchor(shallowLevel) && levels[shallowLevel].fd >= 0 { closeLevel(shallowLevel) }
                shallowLevel += 1
            }
            while openAnchors > removalDescriptorLimit && shallowAnchor < keeping - 1 {
                if levels[shallowAnchor].fd >= 0 { closeLevel(shallowAnchor) }
                shallowAnchor += removalAnchorSpacing
            }
        }
        // The descriptor of level `i`, reopened by name from the nearest open level above it.
        func descriptor(_ i: Int) throws -> Int32 {
            if levels[i].fd >= 0 { return levels[i].fd }
            var j = i
            while j > 0 && levels[j - 1].fd < 0 { j -= 1 }
            var parent = j == 0 ? base : levels[j - 1].fd
            for k in j...i {
                let fd = openDirectory(in: parent, levels[k].name)
                guard fd >= 0 else { throw openDirectoryError(path(k)) }
                opened(k, fd)
                parent = fd
            }
            shallowLevel = min(shallowLevel, j)
            shallowAnchor = min(shallowAnchor, j - j % removalAnchorSpacing)
            trim(keeping: i)
            return levels[i].fd
        }
        // Goes down into `name`, reading its entries; false when it disappeared meanwhile.
        func enter(_ name: [UInt8], from parent: Int32) throws -> Bool {
            let fd = openDirectory(in: parent, name)
            let depth = levels.count
            guard fd >= 0 else {
                if errno == ENOENT { return false }
                throw openDirectoryError(depth == 0 ? display : path(depth - 1).appending(name))
            }
            levels.append(Level(name: name, fd: -1, pending: []))
            opened(depth, fd)
            levels[depth].pending = try readDirectory(fd: fd, display: path(depth))
            trim(keeping: depth)
            return true
        }
        guard try enter(name, from: base) else { return }
        while !levels.isEmpty {
            let top = levels.count - 1
            if let entry = levels[top].pending.popLast() {
                let fd = try descriptor(top)
                guard let st = lstatIfPresent(in: fd, entry) else { continue }
                if st.isDirectory {
                    _ = try enter(entry, from: fd)
                } else if withName(entry, { unlinkat(fd, $0, 0) }) != 0 && errno != ENOENT {
                    throw ioError("cannot remove", path(top).appending(entry))
                }
                continue
            }
            if levels[top].fd >= 0 { closeLevel(top) }
            let done = levels.removeLast()
            shallowLevel = min(shallowLevel, levels.count)
            shallowAnchor = min(shallowAnchor, levels.count - levels.count % removalAnchorSpacing)
            let parent = levels.isEmpty ? base : try descriptor(levels.count - 1)
            if withName(done.name, { unlinkat(parent, $0, AT_REMOVEDIR) }) != 0 && errno != ENOENT {
                throw ioError("cannot remove", levels.isEmpty ? display : path(levels.count - 1).appending(done.name))
            }
        }
    }

    /// Calls `body` with `name` as a C string.
    static func withName<T>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
        try (name + [0]).withUnsafeBufferPointer { buf in
            try buf.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
        }
    }
}
