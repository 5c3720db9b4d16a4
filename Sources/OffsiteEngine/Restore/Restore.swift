import CPosix
import Foundation
public import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Restores a snapshot (or a path inside it) into a target directory.
///
/// Directories are created first and get their metadata after their contents, so their mtimes
/// survive. Files are written blob by blob, each blob verified (MAC, hash) as it is loaded;
/// ownership is restored when running as root, like `cp -a`. Items that fail are reported in
/// `Report.errors` and the restore goes on (restic's exit code 3).
public struct Restore: Sendable {
    public struct Options: Sendable {
        public var snapshotID: ID
        public var target: String
        /// Restore only this path of the snapshot (`ID:subpath`): its contents land in `target`.
        public var subpath: String? = nil

        public init(snapshotID: ID, target: String) {
            self.snapshotID = snapshotID
            self.target = target
        }
    }

    public struct Report: Sendable {
        public var files = 0
        public var directories = 0
        public var otherItems = 0
        public var bytes = 0
        public var errors: [String] = []
    }

    public let repository: Repository
    public let options: Options

    public init(repository: Repository, options: Options) {
        self.repository = repository
        self.options = options
    }

    public func run() async throws -> Report {
        let snapshot = try await repository.loadSnapshot(options.snapshotID)
        let target = FSPath(options.target)
        try FileSystem.makeDirectories(target)
        var state = RestoreState(repository: repository)
        if let sub = options.subpath, !PathName.components(PathName.clean("/" + sub)).isEmpty {
            guard let node = try await repository.findNode(tree: snapshot.tree, subpath: sub) else {
                throw EngineError(.notFound, "path \"\(sub)\" is not in snapshot \(options.snapshotID.shortHex)")
            }
            if node.type == .dir, let subtree = node.subtree {
                try await state.restoreTree(subtree, into: target)
            } else {
                try await state.restoreNode(node, at: target.appending(node.name))
            }
        } else {
            try await state.restoreTree(snapshot.tree, into: target)
        }
        return state.report
    }
}

struct RestoreState {
    let repository: Repository
    var report = Restore.Report()
    /// First restored path of each hard-linked file, by (device, inode) in the snapshot.
    var hardlinks: [HardlinkKey: FSPath] = [:]

    struct HardlinkKey: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    init(repository: Repository) { self.repository = repository }

    mutating func restoreTree(_ id: ID, into dir: FSPath) async throws {
        let tree = try await repository.loadTree(id)
        for node in tree.nodes {
            guard Self.isSafeName(node.name) else {
                report.errors.append("refusing to restore unsafe name \"\(node.nameString)\" in \(dir)")
                continue
            }
            try await restoreNode(node, at: dir.appending(node.name))
        }
    }

    /// Names that would escape the target directory are never written.
    static func isSafeName(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name != [0x2E] && name != [0x2E, 0x2E] && !name.contains(UInt8(ascii: "/")) && !name.contains(0)
    }

    mutating func restoreNode(_ node: Node, at path: FSPath) async throws {
        do {
            switch node.type {
            case .dir:
                let r = path.withCString { mkdir($0, 0o700) }
                if r != 0 {
                    let err = errno
                    guard err == EEXIST, (try? FileSystem.lstat(path))?.isDirectory == true else {
                        throw FileSystem.ioError("cannot create directory", path, err)
                    }
                }
                if let sub = node.subtree { try await restoreTree(sub, into: path) }
                report.directories += 1
            case .file:
                let key = HardlinkKey(device: node.deviceID, inode: node.inode)
                if node.links > 1, node.inode != 0, let first = hardlinks[key] {
                    // Another name of a file already restored: link it, as restic does.
                    try removeExisting(path)
                    let r = first.withCString { from in path.withCString { link(from, $0) } }
                    guard r == 0 else { throw FileSystem.ioError("cannot create hard link", path) }
                    report.files += 1
                    return
                }
                try await restoreFile(node, at: path)
                if node.links > 1, node.inode != 0 { hardlinks[key] = path }
                report.files += 1
            case .symlink:
                try removeExisting(path)
                let r = path.withCString { p in FSPath(bytes: node.linkTarget).withCString { symlink($0, p) } }
                guard r == 0 else { throw FileSystem.ioError("cannot create symlink", path) }
                report.otherItems += 1
            case .fifo:
                try removeExisting(path)
                guard path.withCString({ mkfifo($0, 0o600) }) == 0 else { throw FileSystem.ioError("cannot create fifo", path) }
                report.otherItems += 1
            case .dev, .chardev:
                try removeExisting(path)
                let kind: UInt32 = node.type == .dev ? UInt32(S_IFBLK) : UInt32(S_IFCHR)
                guard path.withCString({ mknod($0, mode_t(kind | 0o600), dev_t(node.device)) }) == 0 else {
                    throw FileSystem.ioError("cannot create device", path)
                }
                report.otherItems += 1
            case .socket:
                return  // sockets are not restorable, as in restic
            case .irregular:
                report.errors.append("\(path): irregular file not restored")
                return
            }
            try Self.restoreMetadata(node, at: path)
        } catch let e as EngineError where e.code == .io || e.code == .invalidData || e.code == .notFound {
            report.errors.append(e.message)
        }
    }

    func removeExisting(_ path: FSPath) throws {
        guard FileSystem.exists(path) else { return }
        guard path.withCString({ unlink($0) }) == 0 else { throw FileSystem.ioError("cannot replace", path) }
    }

    /// Writes a file's blobs in order. If any blob fails to load or verify, the partial file is
    /// removed, so no file with wrong or missing bytes is left looking restored.
    mutating func restoreFile(_ node: Node, at path: FSPath) async throws {
        if let st = try? FileSystem.lstat(path), !st.isRegular { try removeExisting(path) }
        let fd = path.withCString { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw FileSystem.ioError("cannot create", path) }
        var written = 0
        do {
            defer { close(fd) }
            for id in node.content ?? [] {
                let data: Data
                do {
                    data = try await repository.loadBlob(BlobHandle(id: id, type: .data))
                } catch let e as EngineError {
                    throw EngineError(.invalidData, "\(path): \(e.message)")
                }
                try Self.writeAll(fd, data, path: path)
                written += data.count
            }
            if UInt64(written) != node.size {
                throw EngineError(.invalidData, "\(path): restored \(written) bytes but the snapshot records \(node.size)")
            }
        } catch {
            _ = path.withCString { unlink($0) }
            throw error
        }
        report.bytes += written
    }

    static func writeAll(_ fd: Int32, _ data: Data, path: FSPath) throws {
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileSystem.ioError("cannot write", path)
                }
                done += n
            }
        }
    }

    /// Owner (as root), mode (not for symlinks), extended attributes, then access and
    /// modification times (last, because the others change ctime and some change mtime).
    static func restoreMetadata(_ node: Node, at path: FSPath) throws {
        if SystemInfo.isRoot {
            guard path.withCString({ lchown($0, node.uid, node.gid) }) == 0 else {
                throw FileSystem.ioError("cannot change owner of", path)
            }
        }
        if node.type != .symlink {
            let mode = mode_t(GoFileMode.posixPermissions(node.mode))
            guard path.withCString({ chmod($0, mode) }) == 0 else { throw FileSystem.ioError("cannot change mode of", path) }
        }
        for x in node.extendedAttributes {
            let r = path.withCString { p in x.value.withUnsafeBytes { lsetxattr(p, x.name, $0.baseAddress, $0.count, 0) } }
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
        let r = path.withCString { utimensat(AT_FDCWD, $0, &times, AT_SYMLINK_NOFOLLOW) }
        guard r == 0 else { throw FileSystem.ioError("cannot set times of", path) }
    }
}
