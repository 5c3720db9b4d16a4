import Foundation
public import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Backs up files and directories into a new snapshot.
///
/// This is the simple, sequential engine: walk each target depth-first, chunk every regular file
/// with the repository's chunker, store new blobs through the pack uploader, save a tree per
/// directory, then the index, then the snapshot. Items that cannot be read are reported in
/// `Report.errors` and left out; the snapshot is still written (restic's exit code 3).
public struct Backup: Sendable {
    public struct Options: Sendable {
        /// Files and directories to back up, as given (relative paths are kept relative in the
        /// tree, as restic does; the snapshot records them absolute).
        public var paths: [String]
        public var tags: [String] = []
        /// Defaults to this machine's host name.
        public var hostname: String? = nil
        /// Defaults to now, in local time.
        public var time: GoTime? = nil
        public var compression: Zstd.Level = .auto
        public var withAtime = false
        public var packSize = Pack.defaultTargetSize
        /// Working directory for resolving relative paths (tests set it).
        public var workingDirectory = FileManager.default.currentDirectoryPath

        public init(paths: [String]) { self.paths = paths }
    }

    /// Counts in restic's summary shape.
    public struct Report: Sendable {
        public var snapshotID: ID
        public var snapshot: Snapshot
        public var filesNew = 0
        public var filesChanged = 0
        public var filesUnmodified = 0
        public var dirsNew = 0
        public var dirsChanged = 0
        public var dirsUnmodified = 0
        public var dataBlobs = 0
        public var treeBlobs = 0
        public var dataAdded = 0
        public var dataAddedPacked = 0
        public var totalFilesProcessed = 0
        public var totalBytesProcessed = 0
        public var backupStart: GoTime
        public var backupEnd: GoTime
        /// Targets that did not exist and were skipped.
        public var skippedTargets: [String] = []
        /// Items that could not be read (left out of the snapshot).
        public var errors: [String] = []

        public var isComplete: Bool { errors.isEmpty && skippedTargets.isEmpty }
    }

    /// Progress after each file.
    public struct Progress: Sendable {
        public var files = 0
        public var directories = 0
        public var bytes = 0
        public var currentPath = ""
    }

    public let repository: Repository
    public let options: Options
    public var onProgress: (@Sendable (Progress) -> Void)?

    public init(repository: Repository, options: Options, onProgress: (@Sendable (Progress) -> Void)? = nil) {
        self.repository = repository
        self.options = options
        self.onProgress = onProgress
    }

    public func run() async throws -> Report {
        let start = GoTime.now()
        var existing: [String] = []
        var skipped: [String] = []
        for p in options.paths {
            let resolved = p.hasPrefix("/") ? p : options.workingDirectory + "/" + p
            if FileSystem.exists(FSPath(resolved)) { existing.append(p) } else { skipped.append(p) }
        }
        guard !existing.isEmpty else {
            throw EngineError(
                .invalidArgument,
                options.paths.isEmpty
                    ? "nothing to back up, please specify files or directories"
                    : "all target directories/files do not exist: \(options.paths.joined(separator: ", "))")
        }
        // Relative targets are read relative to the working directory.
        let targets = existing.map { p in
            p.hasPrefix("/") ? p : PathName.clean(options.workingDirectory + "/" + p)
        }
        let tree = try TargetTree.build(targets: existing.map(PathName.clean), cwd: options.workingDirectory)
        let walker = Walker(repository: repository, options: options, onProgress: onProgress)
        let ((rootID, walk), stats) = try await repository.withPackUploader(
            compression: options.compression, targetPackSize: options.packSize
        ) { uploader in
            var w = walker
            let id = try await w.saveTargetTree(tree, uploader: uploader)
            return (id, w.counts)
        }

        let snapshot = Snapshot(
            time: options.time ?? start, tree: rootID,
            paths: targets.map { PathName.absolute($0, cwd: options.workingDirectory) },
            hostname: options.hostname ?? SystemInfo.hostname, username: SystemInfo.currentUsername,
            uid: SystemInfo.uid, gid: SystemInfo.gid, tags: options.tags,
            programVersion: "offsite \(OffsiteVersion.current)")
        let snapshotID = try await repository.saveJSON(.snapshots, snapshot.json)
        var report = Report(snapshotID: snapshotID, snapshot: snapshot, backupStart: start, backupEnd: GoTime.now())
        report.filesNew = walk.files
        report.dirsNew = walk.dirs
        report.dataBlobs = stats.dataBlobs
        report.treeBlobs = stats.treeBlobs
        report.dataAdded = stats.bytesAdded
        report.dataAddedPacked = stats.bytesStored
        report.totalFilesProcessed = walk.files
        report.totalBytesProcessed = walk.bytes
        report.skippedTargets = skipped
        report.errors = walk.errors
        return report
    }
}

/// The program version written into snapshots and printed by `version`.
public enum OffsiteVersion {
    public static let current = "0.1.0"
}

/// Depth-first walk that turns targets into blobs and trees.
struct Walker {
    struct Counts: Sendable {
        var files = 0
        var dirs = 0
        var bytes = 0
        var errors: [String] = []
    }

    let repository: Repository
    let options: Backup.Options
    let onProgress: (@Sendable (Backup.Progress) -> Void)?
    var counts = Counts()
    static let readSize = 1 << 20

    init(repository: Repository, options: Backup.Options, onProgress: (@Sendable (Backup.Progress) -> Void)?) {
        self.repository = repository
        self.options = options
        self.onProgress = onProgress
    }

    /// Resolves a target path (relative ones against the working directory).
    func fsPath(_ p: FSPath) -> FSPath {
        p.bytes.first == UInt8(ascii: "/") ? p : FSPath(options.workingDirectory).appending(p.bytes)
    }

    mutating func saveTargetTree(_ t: TargetTree, uploader: PackUploader) async throws -> ID {
        var nodes: [Node] = []
        for name in t.sortedNames {
            let child = t.children[name]!
            if let path = child.path {
                if let node = try await saveItem(name: path.lastComponent, path: fsPath(path), uploader: uploader) {
                    nodes.append(node)
                }
            } else {
                let info = fsPath(child.infoPath!)
                let st = try FileSystem.lstat(info)
                guard st.isDirectory else {
                    throw EngineError(.io, "\(info) is not a directory")
                }
                var node = try NodeFactory.node(name: name, path: info, stat: st, withAtime: options.withAtime)
                node.subtree = try await saveTargetTree(child, uploader: uploader)
                counts.dirs += 1
                nodes.append(node)
            }
        }
        guard !nodes.isEmpty else { throw EngineError(.invalidArgument, "snapshot is empty") }
        return try await saveTree(nodes, uploader: uploader)
    }

    func saveTree(_ nodes: [Node], uploader: PackUploader) async throws -> ID {
        let tree = try Tree(nodes: nodes)
        let json = tree.json
        let id = ID.hash(json)
        try await uploader.save(.tree, json, id: id)
        return id
    }

    /// Saves one filesystem item; returns nil (and records an error) if it cannot be read.
    mutating func saveItem(name: [UInt8], path: FSPath, uploader: PackUploader) async throws -> Node? {
        do {
            let st = try FileSystem.lstat(path)
            var node = try NodeFactory.node(name: name, path: path, stat: st, withAtime: options.withAtime)
            switch node.type {
            case .dir:
                var children: [Node] = []
                let names = try FileSystem.readDirectory(path).sorted { $0.lexicographicallyPrecedes($1) }
                for childName in names {
                    if let child = try await saveItem(name: childName, path: path.appending(childName), uploader: uploader) {
                        children.append(child)
                    }
                }
                node.subtree = try await saveTree(children, uploader: uploader)
                counts.dirs += 1
            case .file:
                let (content, size) = try await saveFileContent(path, uploader: uploader)
                node.content = content
                node.size = UInt64(size)
                counts.files += 1
                counts.bytes += size
            default:
                break
            }
            onProgress?(Backup.Progress(files: counts.files, directories: counts.dirs, bytes: counts.bytes, currentPath: path.string))
            return node
        } catch let e as EngineError where e.code == .io {
            counts.errors.append(e.message)
            return nil
        }
    }

    /// Reads a regular file, chunks it and stores new chunks. Returns the chunk IDs and the size read.
    func saveFileContent(_ path: FSPath, uploader: PackUploader) async throws -> ([ID], Int) {
        var fd = path.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME) }
        if fd < 0 && errno == EPERM {  // O_NOATIME needs ownership
            fd = path.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        }
        guard fd >= 0 else { throw FileSystem.ioError("cannot open", path) }
        defer { close(fd) }
        var chunker = Chunker(tables: repository.chunkerTables)
        var buffer = [UInt8](repeating: 0, count: Self.readSize)
        var chunk = Data()
        var content: [ID] = []
        var total = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystem.ioError("cannot read", path)
            }
            if n == 0 { break }
            total += n
            var offset = 0
            while offset < n {
                let cut: Int? = buffer.withUnsafeBytes { raw in
                    chunker.findCut(in: UnsafeRawBufferPointer(rebasing: raw[offset..<n]))
                }
                let end = cut.map { offset + $0 } ?? n
                chunk.append(contentsOf: buffer[offset..<end])
                offset = end
                if cut != nil {
                    content.append(try await storeChunk(chunk, uploader: uploader))
                    chunk = Data()
                }
            }
        }
        if !chunk.isEmpty { content.append(try await storeChunk(chunk, uploader: uploader)) }
        return (content, total)
    }

    func storeChunk(_ chunk: Data, uploader: PackUploader) async throws -> ID {
        let id = ID.hash(chunk)
        try await uploader.save(.data, chunk, id: id)
        return id
    }
}
