import Foundation
public import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// Restores a snapshot (or a path inside it) into a target directory.
///
/// First a plan: walk the snapshot's trees with the include/exclude filters, compare existing
/// files according to the overwrite mode (a file already holding the right content is not
/// written again, so re-running an interrupted restore only does what is left). Then: delete
/// what `--delete` selected, create directories, symlinks, FIFOs and devices, write file
/// contents pack by pack (`PackRestorer`: temporary names, renamed when complete), link hard
/// links, and last set directory metadata, deepest first, so their times survive. Items that
/// fail are reported in `Report.errors` and everything else is restored.
public struct Restore: Sendable {
    public enum Overwrite: String, Sendable, CaseIterable {
        case always
        case ifChanged = "if-changed"
        case ifNewer = "if-newer"
        case never
    }

    public struct Options: Sendable {
        public var snapshotID: ID
        public var target: String
        /// Restore only this path of the snapshot (`ID:subpath`): its contents land in `target`.
        public var subpath: String? = nil
        public var filter = RestoreFilter()
        public var overwrite = Overwrite.always
        /// Delete files in the target that the snapshot does not have (selected by the filters).
        public var delete = false
        public var dryRun = false
        /// Re-read every restored file and check it against the snapshot.
        public var verify = false
        /// Leave blobs of zeros as holes.
        public var sparse = false
        /// Packs read at once (each holds up to one pack, ~16 MiB, in memory).
        public var packsInFlight = max(2, ProcessInfo.processInfo.activeProcessorCount * 2)

        public init(snapshotID: ID, target: String) {
            self.snapshotID = snapshotID
            self.target = target
        }
    }

    public struct Report: Sendable {
        public var filesRestored = 0
        public var filesUnchanged = 0
        public var filesSkipped = 0
        public var filesDeleted = 0
        public var directories = 0
        public var otherItems = 0
        public var bytesRestored = 0
        public var bytesSkipped = 0
        public var totalFiles = 0
        public var totalBytes = 0
        /// Files that `--verify` found different from the snapshot.
        public var verifyFailures: [String] = []
        public var errors: [String] = []
        /// With `dryRun`: what would be deleted.
        public var deletions: [String] = []
    }

    public struct Progress: Sendable {
        public var files = 0
        public var totalFiles = 0
        public var bytes = 0
        public var totalBytes = 0
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
        let snapshot = try await repository.loadSnapshot(options.snapshotID)
        let filter = try options.filter.compiled()
        if options.delete && PathName.clean(options.target) == "/" && filter.isEmpty {
            throw EngineError(.invalidArgument, "'--target / --delete' must be combined with an include or exclude filter")
        }
        let target = FSPath(options.target)
        var planner = RestorePlanner(repository: repository, options: options, filter: filter)
        if let sub = options.subpath, !PathName.components(PathName.clean("/" + sub)).isEmpty {
            let location = FSPath(PathName.clean("/" + sub))
            guard let node = try await repository.findNode(tree: snapshot.tree, subpath: sub) else {
                throw EngineError(.notFound, "path \"\(sub)\" is not in snapshot \(options.snapshotID.shortHex)")
            }
            if node.type == .dir, let subtree = node.subtree {
                try await planner.walk(tree: subtree, into: target, location: location, dirExists: FileSystem.exists(target))
            } else if filter.select(location, isDirectory: false).selected {
                try planner.planItem(node, at: target.appending(node.name), parentExists: FileSystem.exists(target))
            }
        } else {
            try await planner.walk(tree: snapshot.tree, into: target, location: FSPath(bytes: []), dirExists: FileSystem.exists(target))
        }
        let plan = planner.plan
        var report = Report()
        report.errors = plan.errors
        report.totalFiles = plan.files.count + plan.unchanged.count + plan.links.count
        report.totalBytes = plan.totalBytes + plan.unchanged.reduce(0) { $0 + Int($1.node.size) }
        report.filesUnchanged = plan.unchanged.count
        report.filesSkipped = plan.skipped
        report.bytesSkipped = plan.skippedBytes
        if options.dryRun {
            report.filesRestored = plan.files.count + plan.links.count
            report.bytesRestored = plan.totalBytes
            report.directories = plan.directories.count
            report.otherItems = plan.others.count
            report.deletions = plan.deletions.map(\.string)
            report.filesDeleted = plan.deletions.count
            return report
        }
        try await execute(plan, target: target, report: &report)
        return report
    }

    private func execute(_ plan: RestorePlan, target: FSPath, report: inout Report) async throws {
        func attempt(_ body: () throws -> Void) rethrows {
            do { try body() } catch let e as EngineError where e.code == .io || e.code == .invalidData {
                report.errors.append(e.message)
            }
        }
        try FileSystem.makeDirectories(target)
        for path in plan.deletions {
            try attempt {
                try RestoreMetadata.remove(path)
                report.filesDeleted += 1
            }
        }
        for (path, _, exists) in plan.directories {
            try attempt {
                // A directory that was not there at planning time (its parent was just made).
                if !exists && path.withCString({ mkdir($0, 0o700) }) == 0 { return }
                if let st = try? FileSystem.lstat(path), !st.isDirectory {
                    guard options.delete else {
                        throw EngineError(.io, "\(path) exists and is not a directory (use --delete to replace it)")
                    }
                    try RestoreMetadata.remove(path)
                }
                try FileSystem.makeDirectories(path)
                try Self.removeTemporaryFiles(in: path)
            }
        }
        try attempt { try Self.removeTemporaryFiles(in: target) }
        for (path, node) in plan.others {
            try attempt {
                try Self.create(node, at: path)
                try RestoreMetadata.apply(node, at: path)
                report.otherItems += 1
            }
        }
        let total = Progress(totalFiles: plan.files.count, totalBytes: plan.totalBytes)
        let callback = onProgress
        // New directories inherit a setgid bit (and its group) from the directory they are made
        // in: then files in them do not simply belong to the restoring user's group.
        let setgidAbove = ([target] + plan.directories.filter(\.exists).map(\.path)).contains { dir in
            ((try? FileSystem.lstat(dir))?.mode ?? 0) & UInt32(S_ISGID) != 0
        }
        let restorer = PackRestorer(
            repository: repository, jobs: plan.files, sparse: options.sparse,
            packsInFlight: max(options.packsInFlight, repository.backend.preferredConcurrency),
            newDirectoriesAreSetgid: setgidAbove
        ) { files, bytes in
            var p = total
            p.files = files
            p.bytes = bytes
            callback?(p)
        }
        report.errors += try await restorer.run()
        let restored = restorer.restored
        report.filesRestored = restored.count
        report.bytesRestored = restored.reduce(0) { $0 + Int($1.node.size) }
        for (path, first) in plan.links {
            try attempt {
                guard restorer.succeeded(first) else {
                    throw EngineError(.io, "\(path): not linked, \(plan.files[first].path) could not be restored")
                }
                if FileSystem.exists(path) { try RestoreMetadata.remove(path) }
                let r = plan.files[first].path.withCString { from in path.withCString { link(from, $0) } }
                guard r == 0 else { throw FileSystem.ioError("cannot create hard link", path) }
                report.filesRestored += 1
            }
        }
        for (path, node) in plan.unchanged {
            try attempt { try RestoreMetadata.apply(node, at: path) }
        }
        // Directory metadata last, deepest first: creating entries changes a directory's mtime.
        for (path, node, _) in plan.directories.reversed() {
            guard let node else { continue }
            try attempt {
                try RestoreMetadata.apply(node, at: path)
                report.directories += 1
            }
        }
        if options.verify {
            for (path, node) in restored + plan.unchanged {
                if !RestoreVerifier.matches(path: path, content: node.content ?? [], index: repository.index) {
                    report.verifyFailures.append("\(path): content differs from the snapshot")
                }
            }
        }
    }

    /// Creates a symlink, FIFO or device node, replacing what is there.
    static func create(_ node: Node, at path: FSPath) throws {
        if FileSystem.exists(path) { try RestoreMetadata.remove(path) }
        switch node.type {
        case .symlink:
            let r = path.withCString { p in FSPath(bytes: node.linkTarget).withCString { symlink($0, p) } }
            guard r == 0 else { throw FileSystem.ioError("cannot create symlink", path) }
        case .fifo:
            guard path.withCString({ mkfifo($0, 0o600) }) == 0 else { throw FileSystem.ioError("cannot create fifo", path) }
        case .dev, .chardev:
            let kind: UInt32 = node.type == .dev ? UInt32(S_IFBLK) : UInt32(S_IFCHR)
            guard path.withCString({ mknod($0, mode_t(kind | 0o600), dev_t(node.device)) }) == 0 else {
                throw FileSystem.ioError("cannot create device", path)
            }
        case .socket, .file, .dir:
            return  // sockets are not restorable, as in restic; files and dirs are done elsewhere
        case .irregular:
            throw EngineError(.io, "\(path): irregular file not restored")
        }
    }

    /// Removes temporary files an interrupted restore left in `dir`.
    static func removeTemporaryFiles(in dir: FSPath) throws {
        guard let names = try? FileSystem.readDirectory(dir) else { return }
        for name in names where RestoreMetadata.isTemporaryName(name) {
            let path = dir.appending(name)
            if let st = try? FileSystem.lstat(path), st.isRegular { _ = path.withCString { unlink($0) } }
        }
    }
}
