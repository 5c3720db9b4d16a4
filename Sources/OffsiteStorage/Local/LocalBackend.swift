public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A repository in a local directory, in restic's layout (`data/xx/` shards).
///
/// Writes are atomic and durable: the bytes go to `.tmp-<random>` in the target directory (a name
/// that can never parse as an ID, so no listing or prefix lookup sees it), are fsynced, renamed
/// into place, and the directory is fsynced. Files are made read-only (0400), directories 0700,
/// as restic does.
public struct LocalBackend: StorageBackend {
    public let root: String
    public var location: String { root }

    public init(path: String) {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        self.root = p
    }

    func fullPath(_ handle: Handle) -> String { root + "/" + handle.path }

    public func create() async throws {
        try Self.makeDirectory(root, allowExisting: true)
        for type in FileType.listable {
            try Self.makeDirectory(root + "/" + type.rawValue, allowExisting: true)
        }
        for i in 0..<256 {
            try Self.makeDirectory(root + "/data/" + String(format: "%02x", i), allowExisting: true)
        }
    }

    public func save(_ handle: Handle, data: Data) async throws {
        try await Self.blocking { try saveNow(handle, data: data) }
    }

    func saveNow(_ handle: Handle, data: Data) throws {
        let path = fullPath(handle)
        let dir = (path as NSString).deletingLastPathComponent
        if handle.type == .data { try Self.makeDirectory(dir, allowExisting: true) }
        let tmp = dir + "/.tmp-" + Self.randomSuffix()
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.error(errno, "cannot create \(tmp)") }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        do {
            defer { close(fd) }
            try data.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = write(fd, raw.baseAddress! + done, raw.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw Self.error(errno, "cannot write \(tmp)")
                    }
                    done += n
                }
            }
            guard fsync(fd) == 0 else { throw Self.error(errno, "cannot fsync \(tmp)") }
            guard fchmod(fd, 0o400) == 0 else { throw Self.error(errno, "cannot chmod \(tmp)") }
        }
        guard rename(tmp, path) == 0 else { throw Self.error(errno, "cannot rename \(tmp) to \(path)") }
        ok = true
        try Self.syncDirectory(dir)
    }

    /// Reads run on the calling thread: they come from the page cache or a short disk read,
    /// and a hop to the I/O threads costs more than it saves for the many small reads of a restore.
    public func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        try loadNow(handle, offset: offset, length: length)
    }

    func loadNow(_ handle: Handle, offset: Int, length: Int?) throws -> Data {
        let path = fullPath(handle)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error(errno, "cannot open \(path)") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Self.error(errno, "cannot stat \(path)") }
        let size = Int(st.st_size)
        guard offset >= 0, offset <= size else {
            throw StorageError(.invalidData, "\(path): offset \(offset) is beyond its size \(size)")
        }
        let want = length ?? (size - offset)
        guard offset + want <= size else {
            throw StorageError(.invalidData, "\(path) is \(size) bytes, \(offset + want) needed (truncated?)")
        }
        // Read into uninitialised memory (Data(count:) would zero it first: a wasted pass).
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(want, 1), alignment: 16)
        var done = 0
        while done < want {
            let n = pread(fd, buffer + done, want - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                let err = errno
                buffer.deallocate()
                throw Self.error(err, "cannot read \(path)")
            }
            if n == 0 {
                buffer.deallocate()
                throw StorageError(.invalidData, "\(path) ended early (truncated?)")
            }
            done += n
        }
        return Data(bytesNoCopy: buffer, count: want, deallocator: .custom { p, _ in p.deallocate() })
    }

    public func size(_ handle: Handle) async throws -> Int {
        var st = stat()
        let path = fullPath(handle)
        guard stat(path, &st) == 0 else { throw Self.error(errno, "cannot stat \(path)") }
        return Int(st.st_size)
    }

    public func list(_ type: FileType) async throws -> [ObjectInfo] {
        let base = root + "/" + type.rawValue
        if type == .config {
            return (try? await size(.config)).map { [ObjectInfo(name: "config", size: $0)] } ?? []
        }
        if type == .data {
            var out: [ObjectInfo] = []
            for shard in try Self.listDirectory(base, directoriesOnly: true) {
                out += try Self.listDirectory(base + "/" + shard.name, directoriesOnly: false)
            }
            return out
        }
        return try Self.listDirectory(base, directoriesOnly: false)
    }

    public func remove(_ handle: Handle) async throws {
        let path = fullPath(handle)
        guard unlink(path) == 0 else { throw Self.error(errno, "cannot remove \(path)") }
        try Self.syncDirectory((path as NSString).deletingLastPathComponent)
    }

    // MARK: - POSIX helpers

    /// Where blocking file I/O runs: its own threads, so a write waiting in fsync never holds
    /// one of the few threads that Swift concurrency runs CPU work on.
    static let ioQueue = DispatchQueue(label: "offsite.local-backend", attributes: .concurrent)

    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            ioQueue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    static func randomSuffix() -> String {
        var rng = SystemRandomNumberGenerator()
        return String(rng.next() as UInt64, radix: 36)
    }

    static func error(_ err: Int32, _ what: String) -> StorageError {
        let text = String(cString: strerror(err))
        switch err {
        case ENOENT: return StorageError(.notFound, "\(what): \(text)")
        case EEXIST: return StorageError(.alreadyExists, "\(what): \(text)")
        case EACCES, EPERM: return StorageError(.unauthorized, "\(what): \(text) (check the permissions of the repository directory)")
        case EINTR, EAGAIN: return StorageError(.transient, "\(what): \(text)")
        case ENOSPC: return StorageError(.io, "\(what): \(text) (free some space on the repository's disk)")
        default: return StorageError(.io, "\(what): \(text)")
        }
    }

    static func makeDirectory(_ path: String, allowExisting: Bool) throws {
        if mkdir(path, 0o700) == 0 { return }
        let err = errno
        if err == EEXIST && allowExisting {
            var st = stat()
            if stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { return }
            throw StorageError(.io, "\(path) exists and is not a directory")
        }
        throw error(err, "cannot create directory \(path)")
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw error(errno, "cannot open directory \(path)") }
        defer { close(fd) }
        // Some filesystems refuse fsync on directories; the rename is still in place then.
        if fsync(fd) != 0 && errno != EINVAL && errno != EROFS {
            throw error(errno, "cannot fsync directory \(path)")
        }
    }

    /// Entries of a directory, skipping dot files (our temporary files start with a dot).
    /// A missing directory lists as empty.
    static func listDirectory(_ path: String, directoriesOnly: Bool) throws -> [ObjectInfo] {
        guard let dir = opendir(path) else {
            if errno == ENOENT { return [] }
            throw error(errno, "cannot list \(path)")
        }
        defer { closedir(dir) }
        let dfd = dirfd(dir)
        var out: [ObjectInfo] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name.hasPrefix(".") { continue }
            var st = stat()
            guard fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno == ENOENT { continue }  // removed while listing
                throw error(errno, "cannot stat \(path)/\(name)")
            }
            let isDir = (st.st_mode & S_IFMT) == S_IFDIR
            if isDir != directoriesOnly { continue }
            out.append(ObjectInfo(name: name, size: Int(st.st_size)))
        }
        return out
    }
}
