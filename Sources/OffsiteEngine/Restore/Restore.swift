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
        let directories = TargetDirectories(target: target)
        let targetExists = (try? FileSystem.lstat(target)) != nil
        var planner: RestorePlanner
        if let sub = options.subpath, !PathName.components(PathName.clean("/" + sub)).isEmpty {
            let location = Array(PathName.clean("/" + sub).utf8)
            planner = RestorePlanner(repository: repository, options: options, filter: filter, directories: directories, base: location)
            guard let node = try await repository.findNode(tree: snapshot.tree, subpath: sub) else {
                throw EngineError(.notFound, "path \"\(sub)\" is not in snapshot \(options.snapshotID.shortHex)")
            }
            if node.type == .dir {
                guard let subtree = node.subtree else {
                    throw EngineError(
                        .invalidData, "directory \"\(sub)\" of snapshot \(options.snapshotID.shortHex) has no subtree (run offsite check)")
                }
                try await planner.walk(
                    tree: subtree, into: TargetDirectories.root, location: filter.isEmpty ? nil : location, dirExists: targetExists)
            } else if filter.select(FSPath(bytes: location), isDirectory: false).selected {
                try planner.planItem(node, at: .init(dir: TargetDirectories.root, name: node.name), parentExists: targetExists)
            }
        } else {
            planner = RestorePlanner(repository: repository, options: options, filter: filter, directories: directories, base: [])
            try await planner.walk(
                tree: snapshot.tree, into: TargetDirectories.root, location: filter.isEmpty ? nil : [], dirExists: targetExists)
        }
        let plan = planner.plan
        var report = Report()
        report.errors = plan.errors
        report.totalFiles = plan.files.count + plan.unchanged.count + plan.links.count
        report.totalBytes = plan.totalBytes &+ plan.unchangedBytes
        report.filesUnchanged = plan.unchanged.count
        report.filesSkipped = plan.skipped
        report.bytesSkipped = plan.skippedBytes
        if options.dryRun {
            report.filesRestored = plan.files.count + plan.links.count
            report.bytesRestored = plan.totalBytes
            report.directories = plan.directories.count
            report.otherItems = plan.others.count
            report.deletions = plan.deletions.map { directories.path($0.dir, $0.name).string }
            report.filesDeleted = plan.deletions.count
            return report
        }
        try await execute(plan, directories: directories, report: &report)
        return report
    }

    private func execute(_ plan: RestorePlan, directories: TargetDirectories, report: inout Report) async throws {
        func attempt(_ body: () throws -> Void) rethrows -> Bool {
            do {
                try body()
                return true
            } catch let e as EngineError where e.code == .io || e.code == .invalidData {
                report.errors.append(e.message)
                return false
            }
        }
        try FileSystem.makeDirectories(directories.target)
        for place in plan.deletions {
            _ = try attempt {
                try directories.with(place.dir) {
                    try FileSystem.removeItem(in: $0, place.name, display: directories.path(place.dir, place.name))
                }
                report.filesDeleted += 1
            }
        }
        // A directory that cannot be made leaves everything below it out, with one message.
        var failed = Set<Int>()
        for directory in plan.directories {
            let index = directory.index, parent = directories.parent(of: index)
            if failed.contains(parent) {
                failed.insert(index)
                continue
            }
            let made = try attempt {
                try directories.with(parent) { try makeDirectory(in: $0, directories.name(of: index), display: directories.path(index)) }
                if directory.exists { try directories.with(index) { try Self.removeTemporaryFiles(in: $0) } }
            }
            if !made {
                report.errors[report.errors.count - 1] += "; nothing below it is restored"
                failed.insert(index)
            }
        }
        _ = try attempt { try directories.with(TargetDirectories.root) { try Self.removeTemporaryFiles(in: $0) } }
        for (place, node) in plan.others where !failed.contains(place.dir) {
            _ = try attempt {
                try directories.with(place.dir) { dir in
                    try Self.create(node, in: dir, place.name, display: directories.path(place.dir, place.name))
                    try RestoreMetadata.apply(node, in: dir, place.name, display: directories.path(place.dir, place.name))
                }
                report.otherItems += 1
            }
        }
        let total = Progress(totalFiles: plan.files.count, totalBytes: plan.totalBytes)
        let callback = onProgress
        // New directories inherit a setgid bit (and its group) from the directory they are made
        // in: then files in them do not simply belong to the restoring user's group.
        let setgidAbove = ([TargetDirectories.root] + plan.directories.filter(\.exists).map(\.index)).contains { dir in
            let mode = try? directories.with(dir) { fd -> UInt32 in
                var st = stat()
                return fstat(fd, &st) == 0 ? st.st_mode : 0
            }
            return (mode ?? 0) & UInt32(S_ISGID) != 0
        }
        let restorer = PackRestorer(
            repository: repository, jobs: plan.files, directories: directories, skipping: failed, sparse: options.sparse,
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
        report.bytesRestored = restorer.bytesRestored
        for (place, first) in plan.links where !failed.contains(place.dir) {
            _ = try attempt {
                let source: RestorePlan.Place
                switch first {
                case .unchanged(let i):
                    source = plan.unchanged[i].place
                case .written(let i):
                    source = plan.files[i].place
                    guard restorer.succeeded(i) else {
                        throw EngineError(
                            .io,
                            "\(directories.path(place.dir, place.name)): not linked, \(directories.path(source.dir, source.name)) could not be restored"
                        )
                    }
                }
                try directories.with(source.dir) { from in
                    try directories.with(place.dir) { dir in
                        try FileSystem.removeItem(in: dir, place.name, display: directories.path(place.dir, place.name))
                        let r = FileSystem.withName(source.name) { old in FileSystem.withName(place.name) { linkat(from, old, dir, $0, 0) }
                        }
                        guard r == 0 else { throw FileSystem.ioError("cannot create hard link", directories.path(place.dir, place.name)) }
                    }
                }
                report.filesRestored += 1
            }
        }
        for (place, node) in plan.unchanged where !failed.contains(place.dir) {
            _ = try attempt {
                try directories.with(place.dir) {
                    try RestoreMetadata.apply(node, in: $0, place.name, display: directories.path(place.dir, place.name))
                }
            }
        }
        // Directory metadata last, deepest first: creating entries changes a directory's mtime.
        for directory in plan.directories.reversed() where !failed.contains(directory.index) {
            guard let node = directory.node else { continue }
            _ = try attempt {
                try directories.withOpened(directory.index) {
                    try RestoreMetadata.apply(node, fd: $0, display: directories.path(directory.index))
                }
                report.directories += 1
            }
        }
        if options.verify {
            for (place, node) in restored + plan.unchanged.filter({ !failed.contains($0.place.dir) }) {
                let ok = try? directories.with(place.dir) {
                    RestoreVerifier.matches(in: $0, place.name, content: node.content ?? [], index: repository.index)
                }
                if ok != true {
                    report.verifyFailures.append("\(directories.path(place.dir, place.name)): content differs from the snapshot")
                }
            }
        }
    }

    /// Makes the directory `name` in `dir`. A directory already there is kept; anything else
    /// there (a file, or a symlink, which is never followed) is removed and replaced, as restic
    /// does, except with `--overwrite never`.
    private func makeDirectory(in dir: Int32, _ name: [UInt8], display: @autoclosure () -> FSPath) throws {
        if FileSystem.withName(name, { mkdirat(dir, $0, 0o700) }) == 0 { return }
        guard errno == EEXIST else { throw FileSystem.ioError("cannot create directory", display()) }
        let st = try FileSystem.lstat(in: dir, name, display: display())
        if st.isDirectory { return }
        guard options.overwrite != .never else {
            throw EngineError(.io, "\(display()) exists and is not a directory: left as it is (--overwrite never)")
        }
        try FileSystem.removeItem(in: dir, name, display: display())
        guard FileSystem.withName(name, { mkdirat(dir, $0, 0o700) }) == 0 else {
            throw FileSystem.ioError("cannot create directory", display())
        }
    }

    /// Creates a symlink, FIFO or device node at `name` in `dir`, replacing what is there.
    static func create(_ node: Node, in dir: Int32, _ name: [UInt8], display: @autoclosure () -> FSPath) throws {
        try FileSystem.removeItem(in: dir, name, display: display())
        switch node.type {
        case .symlink:
            let r = FileSystem.withName(name) { p in FSPath(bytes: node.linkTarget).withCString { symlinkat($0, dir, p) } }
            guard r == 0 else { throw FileSystem.ioError("cannot create symlink", display()) }
        case .fifo:
            guard FileSystem.withName(name, { mkfifoat(dir, $0, 0o600) }) == 0 else {
                throw FileSystem.ioError("cannot create fifo", display())
            }
        case .dev, .chardev:
            let kind: UInt32 = node.type == .dev ? UInt32(S_IFBLK) : UInt32(S_IFCHR)
            guard FileSystem.withName(name, { mknodat(dir, $0, mode_t(kind | 0o600), dev_t(node.device)) }) == 0 else {
                throw FileSystem.ioError("cannot create device", display())
            }
        case .socket, .file, .dir:
            return  // sockets are not restorable, as in restic; files and dirs are done elsewhere
        case .irregular:
            throw EngineError(.io, "\(display()): irregular file not restored")
        }
    }

    /// Removes temporary files an interrupted restore left in the open directory `dir`.
    static func removeTemporaryFiles(in dir: Int32) throws {
        guard let names = try? FileSystem.readDirectory(fd: dir, display: FSPath("")) else { return }
        for name in names where RestoreMetadata.isTemporaryName(name) {
            if FileSystem.lstatIfPresent(in: dir, name)?.isRegular == true { _ = FileSystem.withName(name) { unlinkat(dir, $0, 0) } }
        }
    }
}
