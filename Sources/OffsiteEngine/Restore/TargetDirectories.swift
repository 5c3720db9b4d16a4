import Foundation
import OffsiteFormat
import OffsiteSync

#if canImport(Glibc)
import Glibc
#endif

/// The directories of one restore, each known by its parent and its name, and opened on demand
/// from the target downwards, one component at a time, with `O_NOFOLLOW | O_DIRECTORY`.
///
/// This is how a restore never writes outside its target: everything it creates, replaces,
/// removes or changes is named by one component relative to a descriptor from this table, and a
/// descriptor is only ever reached from the target's by opening real directories (a symlink, a
/// file or anything else at a directory's name makes the open fail). The target itself is the
/// user's choice and opened as given. The descriptors are `O_PATH` ones: they serve as the
/// directory of `*at` calls and need only search permission (a directory restored with mode
/// 0311 is still reached), not to be read or changed through (`contents(of:)`,
/// `metadataDescriptor(of:)` open what that needs).
///
/// A bounded number of descriptors stays open, so a tree of any depth restores with a few dozen
/// descriptors and no path is ever longer than one name: the least recently used ones are
/// closed, and any can be reopened by walking down from its nearest open ancestor. Directories
/// at every `anchorSpacing`-th depth are kept as anchors (the least recently used anchor is
/// closed beyond `anchorBudget`), so that walk is short even when a restore climbs back up a
/// deep chain (directory metadata is set deepest first). Safe to use from many tasks: `with`
/// pins a descriptor while its body runs.
final class TargetDirectories: Sendable {
    /// The index of the target directory itself.
    static let root = 0

    private struct Entry {
        var parent: Int
        var name: [UInt8]
        var depth: Int
    }

    private struct Open {
        var fd: Int32
        var pins = 0
        var used: UInt64 = 0
        var anchor = false
    }

    private struct State {
        var entries = [Entry(parent: -1, name: [], depth: 0)]
        var open: [Int: Open] = [:]
        var tick: UInt64 = 0
        var anchors = 0
    }

    let target: FSPath
    /// Descriptors kept open between uses besides the anchors (pinned ones may briefly add).
    let capacity: Int
    let anchorSpacing = 128
    let anchorBudget = 64
    private let state = Mutex(State())

    init(target: FSPath, capacity: Int = 64) {
        self.target = target
        self.capacity = max(2, capacity)
    }

    deinit {
        state.withLock { s in
            for (_, entry) in s.open { close(entry.fd) }
        }
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// Descriptors open now.
    var openDescriptors: Int { state.withLock { $0.open.count } }

    /// Adds the directory `name` inside `parent`; returns its index.
    func add(parent: Int, name: [UInt8]) -> Int {
        state.withLock { s in
            s.entries.append(Entry(parent: parent, name: name, depth: s.entries[parent].depth + 1))
            return s.entries.count - 1
        }
    }

    /// Drops the last directory added (a directory a plan passed through and then left out).
    func removeLast() {
        state.withLock { s in
            let last = s.entries.count - 1
            precondition(s.open[last]?.pins ?? 0 == 0, "a directory in use is left out of the plan")
            if let entry = s.open.removeValue(forKey: last) {
                close(entry.fd)
                if entry.anchor { s.anchors -= 1 }
            }
            s.entries.removeLast()
        }
    }

    func parent(of dir: Int) -> Int { state.withLock { $0.entries[dir].parent } }
    func name(of dir: Int) -> [UInt8] { state.withLock { $0.entries[dir].name } }

    /// The directory's path, for messages.
    func path(_ dir: Int) -> FSPath { state.withLock { Self.path(dir, $0.entries, target) } }

    /// The path of `name` inside the directory, for messages.
    func path(_ dir: Int, _ name: [UInt8]) -> FSPath { path(dir).appending(name) }

    /// Runs `body` with an open (`O_PATH`) descriptor of the directory, opening it (and any
    /// ancestor not open) first. Throws when a directory on the way is missing or is not a
    /// directory.
    func with<T>(_ dir: Int, _ body: (Int32) throws -> T) throws -> T {
        let fd = try pin(dir)
        defer { unpin(dir) }
        return try body(fd)
    }

    /// Runs `body` with a descriptor of the directory opened for reading (from its parent, not
    /// following a symlink), for what an `O_PATH` descriptor cannot do: `fchown`, `fchmod`,
    /// `fsetxattr`, `futimens`.
    func withOpened<T>(_ dir: Int, _ body: (Int32) throws -> T) throws -> T {
        let (parent, name) = state.withLock { ($0.entries[dir].parent, $0.entries[dir].name) }
        let fd = try with(parent) { pfd in
            let fd = FileSystem.openDirectory(in: pfd, name)
            guard fd >= 0 else { throw FileSystem.openDirectoryError(path(dir)) }
            return fd
        }
        defer { close(fd) }
        return try body(fd)
    }

    private func pin(_ dir: Int) throws -> Int32 {
        try state.withLock { s throws(EngineError) -> Int32 in
            s.tick += 1
            if let entry = s.open[dir] {
                s.open[dir]!.pins = entry.pins + 1
                s.open[dir]!.used = s.tick
                return entry.fd
            }
            // The chain of directories not open, from `dir` up to the nearest open one.
            var chain: [Int] = []
            var i = dir
            while i >= 0 && s.open[i] == nil {
                chain.append(i)
                i = s.entries[i].parent
            }
            var parent: Int = i
            if i >= 0 { s.open[i]!.pins += 1 }
            defer { if parent >= 0 { s.open[parent]!.pins -= 1 } }
            for j in chain.reversed() {
                let fd: Int32
                if j == Self.root {
                    fd = target.withCString { open($0, O_PATH | O_DIRECTORY | O_CLOEXEC) }
                    guard fd >= 0 else { throw FileSystem.ioError("cannot open the target directory", target) }
                } else {
                    fd = FileSystem.openDirectory(in: s.open[parent]!.fd, s.entries[j].name, pathOnly: true)
                    guard fd >= 0 else { throw FileSystem.openDirectoryError(Self.path(j, s.entries, target)) }
                }
                let anchor = j != Self.root && s.entries[j].depth % anchorSpacing == 0
                s.open[j] = Open(fd: fd, pins: 1, used: s.tick, anchor: anchor)
                if anchor { s.anchors += 1 }
                if parent >= 0 { s.open[parent]!.pins -= 1 }
                parent = j
                evict(&s)
            }
            // `dir` stays pinned for the caller.
            s.open[dir]!.pins += 1
            return s.open[dir]!.fd
        }
    }

    private func unpin(_ dir: Int) {
        state.withLock { s in
            s.open[dir]!.pins -= 1
            evict(&s)
        }
    }

    /// Closes least recently used unpinned descriptors (never the target's) down to `capacity`
    /// plus the anchors, and anchors down to `anchorBudget`.
    private func evict(_ s: inout State) {
        while s.anchors > anchorBudget, let victim = Self.leastRecentlyUsed(s, anchor: true) {
            close(s.open.removeValue(forKey: victim)!.fd)
            s.anchors -= 1
        }
        while s.open.count - s.anchors > capacity, let victim = Self.leastRecentlyUsed(s, anchor: false) {
            close(s.open.removeValue(forKey: victim)!.fd)
        }
    }

    private static func leastRecentlyUsed(_ s: State, anchor: Bool) -> Int? {
        var victim: Int? = nil
        var oldest = UInt64.max
        for (i, entry) in s.open where i != root && entry.pins == 0 && entry.anchor == anchor && entry.used < oldest {
            victim = i
            oldest = entry.used
        }
        return victim
    }

    private static func path(_ dir: Int, _ entries: [Entry], _ target: FSPath) -> FSPath {
        var names: [[UInt8]] = []
        var i = dir
        while i > root {
            names.append(entries[i].name)
            i = entries[i].parent
        }
        var path = target.bytes
        for name in names.reversed() {
            if path.last != UInt8(ascii: "/") { path.append(UInt8(ascii: "/")) }
            path += name
        }
        return FSPath(bytes: path)
    }
}
