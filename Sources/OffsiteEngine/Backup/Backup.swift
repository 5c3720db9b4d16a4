public import Foundation
public import OffsiteFormat
import OffsiteSync

/// Backs up files and directories (or a stream) into a new snapshot.
///
/// Finds the parent snapshot as restic does (the latest one with the same host that covers the
/// same paths, or `Options.parent`), reuses the content of files that did not change since it,
/// reads and stores the rest concurrently (`Archiver`), then writes the index and last the
/// snapshot. Items that cannot be read are reported in `Report.errors` and left out; the snapshot
/// is still written (restic's exit code 3). Cancelling the task leaves the repository valid:
/// packs already stored are unreferenced until a later backup or prune, and no snapshot appears.
public struct Backup: Sendable {
    public struct Options: Sendable {
        /// Files and directories to back up, as given (relative paths are kept relative in the
        /// tree, as restic does; the snapshot records them absolute). A target with no name of
        /// its own (`.`, `..`, `/`) stands for its entries: `backup .` in `/srv/app` puts the
        /// entries of `/srv/app` at the snapshot's root and records the path `/srv/app`.
        public var paths: [String]
        public var tags: [String] = []
        /// Defaults to this machine's host name.
        public var hostname: String? = nil
        /// Defaults to now, in local time.
        public var time: GoTime? = nil
        public var compression: Zstd.Level = .auto
        public var withAtime = false
        public var packSize = Pack.defaultTargetSize
        /// Use this snapshot as the parent instead of looking for one.
        public var parent: ID? = nil
        /// Read every file, using no parent snapshot (restic's `--force`).
        public var forceRead = false
        public var ignoreCtime = false
        public var ignoreInode = false
        /// Compute everything, write nothing.
        public var dryRun = false
        /// Patterns recorded in the snapshot's `excludes`.
        public var excludePatterns: [String] = []
        /// restic's selection rules (excludes, tag files, size, one file system); nil: everything.
        public var filter: SelectionFilter? = nil
        /// Back up this stream as one file instead of `paths`.
        public var stdin: StreamSource? = nil
        /// Files read at once. Each holds up to `chunksPerFile` chunks (≤ 8 MiB each) in memory.
        /// Default: one per core plus one, so a core is never idle while another file is opened.
        public var fileConcurrency = ProcessInfo.processInfo.activeProcessorCount + 1
        /// Chunks of one file hashed, compressed and encrypted at once (lets one large file use
        /// every core).
        public var chunksPerFile = max(2, ProcessInfo.processInfo.activeProcessorCount)
        /// Chunks hashed, compressed and encrypted at once over all files: one per core plus one.
        /// Each holds up to 8 MiB (and its compressed and encrypted copies) while in flight.
        public var chunksInFlight = ProcessInfo.processInfo.activeProcessorCount + 1
        /// Bytes of chunk data in flight over all files (at least one largest chunk, 8 MiB).
        /// 16 MiB keeps every core busy on typical 0.5-2 MiB chunks while two 8 MiB chunks of an
        /// incompressible file at most are held at once (measured: peak RSS −10 MB, same speed).
        public var chunkBytesInFlight = 16 << 20
        /// Working directory for resolving relative paths (tests set it).
        public var workingDirectory = SystemInfo.workingDirectory

        public init(paths: [String]) { self.paths = paths }
    }

    /// A stream to back up as a single file (restic's `--stdin`, `--stdin-from-command`).
    public struct StreamSource: Sendable {
        /// The file name in the snapshot.
        public var filename: String
        /// Reads the stream; returns when it ends. Throws (and no snapshot is written) when the
        /// producer failed.
        public var read: @Sendable (_ save: @Sendable (Int32) async throws -> Void) async throws -> Void

        public init(filename: String, read: @escaping @Sendable (_ save: @Sendable (Int32) async throws -> Void) async throws -> Void) {
            self.filename = filename
            self.read = read
        }
    }

    /// The result, in restic's summary shape.
    public struct Report: Sendable {
        public var snapshotID: ID?
        public var snapshot: Snapshot
        public var summary: SnapshotSummary
        public var parent: ID?
        /// Targets that did not exist and were skipped.
        public var skippedTargets: [String] = []
        /// Items that could not be read (left out of the snapshot).
        public var errors: [String] = []

        public var isComplete: Bool { errors.isEmpty && skippedTargets.isEmpty }
    }

    /// Progress, reported as files complete and bytes are read.
    public struct Progress: Sendable {
        public var files = 0
        public var directories = 0
        /// Bytes of the files done (read or reused).
        public var bytes = 0
        /// Bytes actually read from disk so far.
        public var bytesRead = 0
        public var errors = 0
        /// The file most recently started.
        public var currentFile = ""
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
        let time = options.time ?? start
        let hostname = options.hostname ?? SystemInfo.hostname
        var skipped: [String] = []
        var absolutePaths: [String] = []
        var parent: ID? = nil
        var tree: TargetTree? = nil
        if let stream = options.stdin {
            absolutePaths = ["/" + stream.filename]
        } else {
            var existing: [String] = []
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
            absolutePaths = existing.map { PathName.absolute($0, cwd: options.workingDirectory) }
            tree = try TargetTree.build(targets: existing, cwd: options.workingDirectory)
            parent = try await findParent(paths: absolutePaths, hostname: hostname, before: time)
        }

        let parentTree = try await parent.asyncMap { try await repository.loadSnapshot($0).tree }
        let ((rootID, counts), stats) = try await repository.withPackUploader(
            compression: options.compression, targetPackSize: options.packSize, dryRun: options.dryRun
        ) { uploader in
            let archiver = Archiver(repository: repository, options: options, uploader: uploader, onProgress: onProgress)
            let id: ID
            if let stream = options.stdin {
                id = try await saveStream(stream, uploader: uploader)
            } else {
                id = try await archiver.run(tree!, parentRoot: parentTree)
            }
            return (id, archiver.result)
        }

        var summary = SnapshotSummary(backupStart: start, backupEnd: GoTime.now())
        summary.filesNew = UInt64(counts.filesNew + (options.stdin == nil ? 0 : 1))
        summary.filesChanged = UInt64(counts.filesChanged)
        summary.filesUnmodified = UInt64(counts.filesUnmodified)
        summary.dirsNew = UInt64(counts.dirsNew)
        summary.dirsChanged = UInt64(counts.dirsChanged)
        summary.dirsUnmodified = UInt64(counts.dirsUnmodified)
        summary.dataBlobs = UInt64(stats.dataBlobs)
        summary.treeBlobs = UInt64(stats.treeBlobs)
        summary.dataAdded = UInt64(stats.bytesAdded)
        summary.dataAddedPacked = UInt64(stats.bytesStored)
        summary.totalFilesProcessed = UInt64(counts.files + (options.stdin == nil ? 0 : 1))
        summary.totalBytesProcessed = UInt64(counts.bytes + (options.stdin == nil ? 0 : counts.bytesRead))

        let snapshot = Snapshot(
            time: time, parent: parent, tree: rootID, paths: absolutePaths, hostname: hostname,
            username: SystemInfo.currentUsername, uid: SystemInfo.uid, gid: SystemInfo.gid,
            excludes: options.excludePatterns, tags: options.tags,
            programVersion: "offsite \(OffsiteVersion.current)", summary: summary)
        // A backup interrupted after its last read (Ctrl-C often ends a piped producer first,
        // which looks like the end of the stream) must not be saved as if it were complete.
        try Task.checkCancellation()
        let snapshotID = options.dryRun ? nil : try await repository.saveJSON(.snapshots, snapshot.json)
        return Report(
            snapshotID: snapshotID, snapshot: snapshot, summary: summary, parent: parent,
            skippedTargets: skipped, errors: counts.errors)
    }

    /// restic's parent choice: the newest snapshot not newer than `before`, from the same host,
    /// whose paths include all of `paths`. `Options.parent` wins; `forceRead` means none.
    func findParent(paths: [String], hostname: String, before: GoTime) async throws -> ID? {
        if options.forceRead { return nil }
        if let parent = options.parent { return parent }
        var best: (ID, GoTime)? = nil
        for (id, s) in try await repository.loadSnapshots(filter: SnapshotFilter(hosts: [hostname])) {
            guard !(before < s.time), paths.allSatisfy(s.paths.contains) else { continue }
            if best == nil || !(s.time < best!.1) { best = (id, s.time) }
        }
        return best?.0
    }

    /// Stores a stream as a one-file snapshot tree, as restic's `--stdin` does.
    func saveStream(_ stream: StreamSource, uploader: PackUploader) async throws -> ID {
        let saver = FileSaver(
            repository: repository, uploader: uploader, chunksInFlight: options.chunksPerFile,
            budget: ChunkBudget(chunks: options.chunksInFlight, bytes: options.chunkBytesInFlight)
        ) { _ in }
        let result = Mutex<FileSaver.Result?>(nil)
        try await stream.read { fd in
            let r = try await saver.save(fd: fd, name: stream.filename)
            result.withLock { $0 = r }
        }
        guard let r = result.withLock({ $0 }) else { throw EngineError(.io, "the stream \(stream.filename) was never read") }
        let now = GoTime.now()
        var node = Node(name: stream.filename, type: .file)
        node.mode = 0o644
        node.mtime = now
        node.atime = now
        node.ctime = now
        node.uid = SystemInfo.uid
        node.gid = SystemInfo.gid
        node.size = UInt64(r.size)
        node.content = r.content
        let json = try Tree(nodes: [node]).json
        let id = ID.hash(json)
        try await uploader.save(.tree, json, id: id)
        return id
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

/// The program version written into snapshots and printed by `version`.
public enum OffsiteVersion {
    public static let current = "0.2.0"
}
