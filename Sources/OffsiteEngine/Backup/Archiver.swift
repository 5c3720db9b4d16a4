import Foundation
import OffsiteFormat
import OffsiteSync

/// The concurrent backup walk.
///
/// One task walks the targets depth-first in name order, stats every item, reuses unchanged
/// files from the parent snapshot, and hands files that must be read to child tasks (at most
/// `options.fileConcurrency` at once, which bounds memory). Each directory is a `PendingTree`
/// that completes when its last child is stored, so trees are assembled bottom-up while the walk
/// goes on.
final class Archiver: Sendable {
    struct Counts: Sendable {
        var filesNew = 0
        var filesChanged = 0
        var filesUnmodified = 0
        var dirsNew = 0
        var dirsChanged = 0
        var dirsUnmodified = 0
        var files = 0
        var bytes = 0
        var bytesRead = 0
        var errors: [String] = []
        /// The file most recently started, for progress displays.
        var currentFile = ""
    }

    let repository: Repository
    let options: Backup.Options
    let uploader: PackUploader
    let onProgress: (@Sendable (Backup.Progress) -> Void)?
    private let counts = Mutex(Counts())
    private let fileSlots: AsyncSemaphore
    private let budget: ChunkBudget
    private let changes: ChangeDetection

    init(
        repository: Repository, options: Backup.Options, uploader: PackUploader,
        onProgress: (@Sendable (Backup.Progress) -> Void)?
    ) {
        self.repository = repository
        self.options = options
        self.uploader = uploader
        self.onProgress = onProgress
        self.fileSlots = AsyncSemaphore(permits: max(1, options.fileConcurrency))
        self.budget = ChunkBudget(chunks: options.chunksInFlight, bytes: options.chunkBytesInFlight)
        self.changes = ChangeDetection(ignoreCtime: options.ignoreCtime, ignoreInode: options.ignoreInode)
    }

    var result: Counts { counts.withLock { $0 } }

    private func record(_ body: (inout Counts) -> Void) {
        let progress = counts.withLock { c -> Backup.Progress in
            body(&c)
            return Backup.Progress(
                files: c.files, directories: c.dirsNew + c.dirsChanged + c.dirsUnmodified, bytes: c.bytes,
                bytesRead: c.bytesRead, errors: c.errors.count, currentFile: c.currentFile)
        }
        onProgress?(progress)
    }

    private func fail(_ message: String) {
        record { $0.errors.append(message) }
    }

    /// Resolves a target path (relative ones against the working directory).
    func resolve(_ p: FSPath) -> FSPath {
        p.bytes.first == UInt8(ascii: "/") ? p : FSPath(options.workingDirectory).appending(p.bytes)
    }

    private func saver() -> FileSaver {
        FileSaver(
            repository: repository, uploader: uploader, chunksInFlight: options.chunksPerFile, budget: budget
        ) { [weak self] n in
            self?.record { $0.bytesRead += n }
        }
    }

    /// Backs up the target tree; returns the root tree ID.
    func run(_ targets: TargetTree, parentRoot: ID?) async throws -> ID {
        let root = Mutex<ID?>(nil)
        // A discarding group: results of finished files are dropped at once instead of piling up
        // until the end (30,000 files held ~150 MB of finished tasks).
        try await withThrowingDiscardingTaskGroup { group in
            let tree = PendingTree(uploader: uploader) { id in root.withLock { $0 = id } }
            try await walkTarget(targets, parentTree: parentRoot, into: tree, group: &group)
            try await tree.close()
        }
        guard let id = root.withLock({ $0 }) else { throw EngineError(.invalidArgument, "snapshot is empty") }
        return id
    }

    private func loadParentTree(_ id: ID?) async -> Tree? {
        guard let id else { return nil }
        do {
            return try await repository.loadTree(id)
        } catch {
            fail("cannot load tree \(id.hex) of the parent snapshot, files below it are read again: \(error)")
            return nil
        }
    }

    /// One level of the target tree: leaves are backed up from disk, inner nodes are the
    /// directories leading to them (metadata from the real directory).
    private func walkTarget(
        _ t: TargetTree, parentTree: ID?, into pending: PendingTree,
        group: inout ThrowingDiscardingTaskGroup<any Error>
    ) async throws {
        let old = await loadParentTree(parentTree)
        for name in t.sortedNames {
            let child = t.children[name]!
            let previous = old?.node(named: name)
            if let path = child.path {
                try await item(
                    name: name, path: resolve(path), previous: previous, into: pending, group: &group)
                continue
            }
            let info = resolve(child.infoPath!)
            let st = try FileSystem.lstat(info)
            guard st.isDirectory else { throw EngineError(.io, "\(info) is not a directory") }
            let node = try NodeFactory.node(name: name, path: info, stat: st, withAtime: options.withAtime) { fail($0) }
            let slot = pending.reserve()
            let sub = directoryTree(node: node, previous: previous, parent: pending, slot: slot)
            try await walkTarget(child, parentTree: previous?.subtree, into: sub, group: &group)
            try await sub.close()
        }
    }

    /// A pending tree for a directory node; when complete it fills `slot` of `parent`.
    private func directoryTree(node: Node, previous: Node?, parent: PendingTree, slot: Int) -> PendingTree {
        PendingTree(uploader: uploader) { [self] id in
            var n = node
            n.subtree = id
            record { c in
                if previous?.type != .dir || previous?.subtree == nil {
                    c.dirsNew += 1
                } else if previous?.subtree == id {
                    c.dirsUnmodified += 1
                } else {
                    c.dirsChanged += 1
                }
            }
            try await parent.fill(slot, n)
        }
    }

    /// Backs up one filesystem item into `pending`. Unreadable items are recorded and left out.
    private func item(
        name: [UInt8], path: FSPath, previous: Node?, into pending: PendingTree,
        group: inout ThrowingDiscardingTaskGroup<any Error>
    ) async throws {
        try Task.checkCancellation()
        let st: FileStat
        var node: Node
        do {
            if let filter = options.filter, filter.excludedByName(path) { return }
            st = try FileSystem.lstat(path)
            // Sockets cannot be backed up meaningfully; restic leaves them out too.
            if st.fileType == 0o140000 { return }
            if let filter = options.filter, filter.excludedByStat(path, stat: st) { return }
            node = try NodeFactory.node(name: name, path: path, stat: st, withAtime: options.withAtime) { fail($0) }
        } catch let e as EngineError where e.code == .io {
            fail(e.message)
            return
        }
        let slot = pending.reserve()
        switch node.type {
        case .dir:
            let names: [[UInt8]]
            do {
                names = try FileSystem.readDirectory(path).sorted { $0.lexicographicallyPrecedes($1) }
            } catch let e as EngineError where e.code == .io {
                fail(e.message)
                try await pending.fill(slot, nil)
                return
            }
            let old = previous?.type == .dir ? await loadParentTree(previous?.subtree) : nil
            let sub = directoryTree(node: node, previous: previous, parent: pending, slot: slot)
            for child in names {
                try await item(name: child, path: path.appending(child), previous: old?.node(named: child), into: sub, group: &group)
            }
            try await sub.close()
        case .file:
            if !options.forceRead, !changes.hasChanged(st, since: previous), let content = previous?.content,
                content.allSatisfy({ repository.index.has(BlobHandle(id: $0, type: .data)) })
            {
                node.content = content
                record { c in
                    c.filesUnmodified += 1
                    c.files += 1
                    c.bytes += Int(st.size)
                }
                try await pending.fill(slot, node)
                return
            }
            let isNew = previous == nil
            let saver = self.saver()
            await fileSlots.acquire()
            group.addTask { [self] in
                defer { fileSlots.release() }
                record { $0.currentFile = path.string }
                // A file that cannot be read is left out with a warning; anything else (the
                // repository failing) ends the backup.
                var saved: Node? = nil
                do {
                    let r = try await saver.save(path: path, sizeHint: Int(st.size))
                    node.content = r.content
                    node.size = UInt64(r.size)
                    record { c in
                        if isNew { c.filesNew += 1 } else { c.filesChanged += 1 }
                        c.files += 1
                        c.bytes += r.size
                    }
                    saved = node
                } catch let e as EngineError where e.code == .io {
                    fail(e.message)
                }
                try await pending.fill(slot, saved)
            }
        default:
            try await pending.fill(slot, node)
        }
    }
}
