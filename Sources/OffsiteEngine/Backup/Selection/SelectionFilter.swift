import OffsiteSync

#if canImport(Glibc)
import Glibc
#endif

/// The decisions restic 0.14's archiver makes for every item it meets, in two steps:
///
/// 1. `excludedByName(_:)` before `lstat` (restic's `SelectByName`: exclude patterns,
///    `--exclude-if-present`/`--exclude-caches`, its own cache directory);
/// 2. `excludedByStat(_:isDirectory:size:device:)` after `lstat` (restic's `Select`:
///    `--one-file-system`, `--exclude-larger-than`).
///
/// Ask both for every item the walker would store: each target itself and every directory entry
/// below it. An excluded directory is not descended into. Directories that only appear in the
/// snapshot because they lead to a target (the parents of `/a/b` when backing up `/a/b`) are not
/// asked about. Paths are the walker's own: a relative path is resolved against the working
/// directory given to `Selection.makeFilter`, and every path is made absolute and cleaned
/// (Go's `filepath.Abs`) before the checks, because restic matches patterns against that form.
///
/// Thread-safe: one filter may serve concurrent walkers. `warn` may be called while an internal
/// lock is held, so it must not call back into the filter.
public final class SelectionFilter: Sendable {
    let workingDirectory: [UInt8]
    let cacheDirectory: [UInt8]?
    let lists: [PatternList]
    let tagRules: [TagFileRule]
    let devices: DeviceMap?
    let maxSize: Int64?
    let warn: @Sendable (String) -> Void
    /// Per (rule, directory): whether the directory holds a valid tag file. Checked once, as in restic.
    private let tagCache = Mutex<[TagCacheKey: Bool]>([:])

    struct TagCacheKey: Hashable {
        var rule: Int
        var directory: [UInt8]
    }

    init(
        workingDirectory: [UInt8], cacheDirectory: [UInt8]?, lists: [PatternList], tagRules: [TagFileRule],
        devices: DeviceMap?, maxSize: Int64?, warn: @escaping @Sendable (String) -> Void
    ) {
        self.workingDirectory = workingDirectory
        self.cacheDirectory = cacheDirectory
        self.lists = lists
        self.tagRules = tagRules
        self.devices = devices
        self.maxSize = maxSize
        self.warn = warn
    }

    /// The absolute, cleaned form of `path` that the checks (and restic's patterns) see.
    public func absolute(_ path: FSPath) -> FSPath {
        FSPath(bytes: GoFilepath.absolute(path.bytes, cwd: workingDirectory))
    }

    /// Whether the item is excluded by its path alone. May read tag files (their presence is
    /// cached per directory). Never throws: problems are reported through `warn` and do not
    /// exclude (a pattern found malformed while matching makes its whole list not match).
    public func excludedByName(_ path: FSPath) -> Bool {
        let abs = GoFilepath.absolute(path.bytes, cwd: workingDirectory)
        if let cacheDirectory, Self.hasPrefix(cacheDirectory, abs) { return true }
        for list in lists {
            do {
                if try list.matches(FSPath(bytes: abs)) { return true }
            } catch {
                warn("error for exclude pattern: \(error)")
            }
        }
        if tagRules.isEmpty { return false }
        let (dir, base) = GoFilepath.split(abs)
        for (index, rule) in tagRules.enumerated() where base != rule.name {
            let excluded = tagCache.withLock { cache in
                let key = TagCacheKey(rule: index, directory: dir)
                if let known = cache[key] { return known }
                let found = hasTagFile(in: dir, rule)
                cache[key] = found
                return found
            }
            if excluded { return true }
        }
        return false
    }

    /// Whether the item is excluded by what `lstat` says of it (not following symlinks):
    /// `isDirectory` is true only for real directories, `size` is `st_size` (for a symlink the
    /// length of its target), `device` is `st_dev`.
    public func excludedByStat(_ path: FSPath, isDirectory: Bool, size: Int64, device: UInt64) -> Bool {
        let abs = GoFilepath.absolute(path.bytes, cwd: workingDirectory)
        if let devices {
            let excluded = devices.excludes(FSPath(bytes: abs), isDirectory: isDirectory, device: device) { parent in
                var st = stat()
                let r = (parent.bytes + [0]).withUnsafeBufferPointer { buf in
                    buf.withMemoryRebound(to: CChar.self) { lstat($0.baseAddress!, &st) }
                }
                return r == 0 ? UInt64(st.st_dev) : nil
            }
            if excluded { return true }
        }
        if let maxSize, !isDirectory, size > maxSize { return true }
        return false
    }

    /// `excludedByStat` with the walker's `FileStat`.
    public func excludedByStat(_ path: FSPath, stat st: FileStat) -> Bool {
        excludedByStat(path, isDirectory: st.isDirectory, size: st.size, device: st.device)
    }

    /// restic's `fs.HasPathPrefix` for absolute, cleaned paths: `path` is `base` or below it.
    static func hasPrefix(_ base: [UInt8], _ path: [UInt8]) -> Bool {
        guard base.first == GoFilepath.slash else { return false }
        if path == base { return true }
        if base == [GoFilepath.slash] { return true }
        return path.count > base.count && path.starts(with: base) && path[base.count] == GoFilepath.slash
    }

    /// restic's `isDirExcludedByFile`: the tag file exists (any type) and, when a header is
    /// required, its first bytes are exactly the header.
    private func hasTagFile(in dir: [UInt8], _ rule: TagFileRule) -> Bool {
        let file = GoFilepath.join(dir.isEmpty ? [UInt8(ascii: ".")] : dir, rule.name)
        let shown = String(decoding: file, as: UTF8.self)
        let cPath = file.map { CChar(bitPattern: $0) } + [0]
        var st = stat()
        if lstat(cPath, &st) != 0 {
            if errno != ENOENT { warn("could not access exclusion tagfile: lstat \(shown): \(String(cString: strerror(errno)))") }
            return false
        }
        if rule.header.isEmpty { return true }
        let fd = open(cPath, O_RDONLY)
        if fd < 0 {
            warn("could not open exclusion tagfile: open \(shown): \(String(cString: strerror(errno)))")
            return false
        }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: rule.header.count)
        var got = 0
        while got < buf.count {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, $0.count - got) }
            if n < 0 {
                if errno == EINTR { continue }
                warn("could not read signature from exclusion tagfile \"\(shown)\": read \(shown): \(String(cString: strerror(errno)))")
                return false
            }
            if n == 0 { break }
            got += n
        }
        if got == 0 {
            warn("invalid (too short) signature in exclusion tagfile \"\(shown)\"")
            return false
        }
        if got < buf.count {
            warn("could not read signature from exclusion tagfile \"\(shown)\": unexpected EOF")
            return false
        }
        if buf != rule.header {
            warn("invalid signature in exclusion tagfile \"\(shown)\"")
            return false
        }
        return true
    }
}

/// restic's `DeviceMap` for `--one-file-system`: the device of each target (absolute, cleaned).
public struct DeviceMap: Sendable {
    var devices: [[UInt8]: UInt64]

    /// Devices given directly (absolute target path → device), for tests and callers that
    /// already know them.
    public init(devices: [String: UInt64]) {
        var map: [[UInt8]: UInt64] = [:]
        for (path, device) in devices { map[GoFilepath.clean(Array(path.utf8)[...])] = device }
        self.devices = map
    }

    /// `lstat`s every target (relative ones resolved against `workingDirectory`).
    public init(targets: [String], workingDirectory: String) throws {
        var map: [[UInt8]: UInt64] = [:]
        for target in targets {
            let abs = GoFilepath.absolute(GoFilepath.clean(Array(target.utf8)[...]), cwd: Array(workingDirectory.utf8))
            var st = stat()
            let r = (abs + [0]).withUnsafeBufferPointer { buf in
                buf.withMemoryRebound(to: CChar.self) { lstat($0.baseAddress!, &st) }
            }
            guard r == 0 else {
                let path = String(decoding: abs, as: UTF8.self)
                throw EngineError(.io, "--one-file-system: cannot stat target \(path): \(String(cString: strerror(errno)))")
            }
            map[abs] = UInt64(st.st_dev)
        }
        if map.isEmpty { throw EngineError(.invalidArgument, "--one-file-system needs at least one target") }
        devices = map
    }

    /// restic's `IsAllowed`: whether `path` (absolute, cleaned) is on the device of the nearest
    /// target at or above it; nil when no target is above it.
    public func isAllowed(_ path: FSPath, device: UInt64) -> Bool? {
        var dir = path.bytes
        while true {
            if let allowed = devices[dir] { return allowed == device }
            let up = GoFilepath.dir(dir)
            if up == dir { return nil }
            dir = up
        }
    }

    /// restic's `rejectByDevice`: an item on another device than its target is excluded, except a
    /// directory whose parent is on the target's device (a mount point, kept but not entered,
    /// since everything in it is on the other device). `parentDevice` returns the `lstat` device
    /// of a path, or nil when it cannot be read (then the directory is excluded).
    public func excludes(_ path: FSPath, isDirectory: Bool, device: UInt64, parentDevice: (FSPath) -> UInt64?) -> Bool {
        // restic panics when no target is above the item; that cannot happen for a walker
        // that only visits items below its targets, so such an item is simply kept.
        guard let allowed = isAllowed(path, device: device), !allowed else { return false }
        if !isDirectory { return true }
        let parent = FSPath(bytes: GoFilepath.dir(path.bytes))
        guard let parentDev = parentDevice(parent), let parentAllowed = isAllowed(parent, device: parentDev) else { return true }
        return !parentAllowed
    }
}
