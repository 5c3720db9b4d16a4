import Foundation
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// What a restore will do, worked out before anything is written: which directories to create,
/// which files need content (and from which blobs), which existing files are already right,
/// which items to delete (`--delete`). Built by walking the snapshot's trees with the filters;
/// existing files are compared with the snapshot according to the overwrite mode.
struct RestorePlan {
    struct FileJob {
        var path: FSPath
        var node: Node
        /// True when a file of that name existed and is being replaced.
        var replaces: Bool
        /// The file's directory is new (made by this restore, mode 0700, no setgid): a file
        /// created in it belongs to the restoring user and group.
        var inNewDirectory = false
    }

    /// Directories in creation order (parents first); `exists` is whether one was already there
    /// when the plan was made (a new directory needs no cleaning and holds nothing to compare).
    var directories: [(path: FSPath, node: Node?, exists: Bool)] = []
    var files: [FileJob] = []
    /// Existing files whose content is already right: only their metadata is applied.
    var unchanged: [(path: FSPath, node: Node)] = []
    var skipped = 0
    var skippedBytes = 0
    var others: [(path: FSPath, node: Node)] = []
    /// Second and later names of hard-linked files: (path, index of the first name in `files`).
    var links: [(path: FSPath, first: Int)] = []
    var deletions: [FSPath] = []
    var errors: [String] = []

    var totalBytes: Int { files.reduce(0) { $0 + Int($1.node.size) } }

    /// Items planned so far (selected directories count; pass-through ones do not).
    var itemCount: Int {
        files.count + unchanged.count + skipped + others.count + links.count + selectedDirectories
    }
    var selectedDirectories = 0
}

struct RestorePlanner {
    let repository: Repository
    let options: Restore.Options
    let filter: RestoreFilter.Compiled
    var plan = RestorePlan()
    private var firstNameOfInode: [HardlinkKey: Int] = [:]

    struct HardlinkKey: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    init(repository: Repository, options: Restore.Options, filter: RestoreFilter.Compiled) {
        self.repository = repository
        self.options = options
        self.filter = filter
    }

    /// Plans the contents of `tree` into the directory `dir`; `location` is the tree's path in
    /// the snapshot ("" for the root). When `dir` does not exist yet, nothing inside it can, so
    /// no item below it is looked up on disk.
    mutating func walk(tree id: ID, into dir: FSPath, location: FSPath, dirExists: Bool = true) async throws {
        depth += 1
        defer {
            depth -= 1
            if depth == 0 { cancelPrefetches() }  // anything left after an error
        }
        let tree: Tree
        do {
            tree = try await loadTree(id)
        } catch let e as EngineError where depth > 1 && (e.code == .invalidData || e.code == .notFound) {
            // A damaged or missing subtree: as restic does, the directory is reported (it is
            // created, empty) and everything else is restored. Storage that cannot be reached
            // is no damage and stops the restore; so does an unreadable root.
            plan.errors.append("\(dir): \(e.message)")
            return
        }
        // Decide every entry first, so the subtrees this walk will enter load ahead of it.
        var decisions: [(node: Node, location: FSPath, selected: Bool)] = []
        decisions.reserveCapacity(tree.nodes.count)
        for node in tree.nodes {
            guard RestoreMetadata.isSafeName(node.name) else {
                plan.errors.append("refusing to restore unsafe name \"\(node.nameString)\" in \(dir)")
                continue
            }
            let itemLocation = FSPath(bytes: location.bytes + [UInt8(ascii: "/")] + node.name)
            let (selected, descend) = filter.select(itemLocation, isDirectory: node.type == .dir)
            if node.type == .dir {
                guard selected || descend else { continue }
                if let sub = node.subtree { prefetch(sub) }
            }
            decisions.append((node, itemLocation, selected))
        }
        for (node, itemLocation, selected) in decisions {
            let path = dir.appending(node.name)
            if node.type == .dir {
                // A directory only passed through (an include matches something below it) is
                // created only if something inside it is restored, as restic does.
                let at = plan.directories.count
                let before = plan.itemCount
                let exists = dirExists && FileSystem.exists(path)
                plan.directories.append((path, selected ? node : nil, exists))
                if selected { plan.selectedDirectories += 1 }
                if let sub = node.subtree { try await walk(tree: sub, into: path, location: itemLocation, dirExists: exists) }
                if !selected && plan.itemCount == before { plan.directories.remove(at: at) }
                continue
            }
            guard selected else { continue }
            try planItem(node, at: path, parentExists: dirExists)
        }
        if options.delete && dirExists {
            let names = Set(tree.nodes.map(\.name))
            try planDeletions(in: dir, keeping: names, location: location)
        }
    }

    // Trees load ahead of the walk: when a directory is planned, the subtrees it will enter
    // start loading concurrently, so a restore from remote storage does not wait for one tree
    // at a time. At most the siblings along the current path are loaded but not yet walked.
    private var depth = 0
    private var prefetched: [ID: (task: Task<Tree, any Error>, uses: Int)] = [:]

    private mutating func prefetch(_ id: ID) {
        if let entry = prefetched[id] {
            prefetched[id]!.uses = entry.uses + 1
            return
        }
        let repository = self.repository
        prefetched[id] = (Task { try await repository.loadTree(id) }, 1)
    }

    private mutating func loadTree(_ id: ID) async throws -> Tree {
        guard let entry = prefetched[id] else { return try await repository.loadTree(id) }
        if entry.uses == 1 { prefetched[id] = nil } else { prefetched[id]!.uses = entry.uses - 1 }
        return try await entry.task.value
    }

    private mutating func cancelPrefetches() {
        for (_, entry) in prefetched { entry.task.cancel() }
        prefetched = [:]
    }

    /// Plans one non-directory item.
    mutating func planItem(_ node: Node, at path: FSPath, parentExists: Bool = true) throws {
        let existing = parentExists ? try? FileSystem.lstat(path) : nil
        if node.type != .file {
            if existing != nil && options.overwrite == .never {
                plan.skipped += 1
                return
            }
            plan.others.append((path, node))
            return
        }
        let key = HardlinkKey(device: node.deviceID, inode: node.inode)
        if node.links > 1, node.inode != 0, let first = firstNameOfInode[key] {
            plan.links.append((path, first))
            return
        }
        if let existing {
            switch try decide(node, existing: existing, at: path) {
            case .skip:
                plan.skipped += 1
                plan.skippedBytes += Int(node.size)
                return
            case .unchanged:
                plan.unchanged.append((path, node))
                plan.skippedBytes += Int(node.size)
                return
            case .write:
                break
            }
        }
        if node.links > 1, node.inode != 0 { firstNameOfInode[key] = plan.files.count }
        plan.files.append(.init(path: path, node: node, replaces: existing != nil, inNewDirectory: !parentExists))
    }

    enum Decision { case write, unchanged, skip }

    /// restic 0.17's overwrite modes for a file that already exists at the target.
    func decide(_ node: Node, existing st: FileStat, at path: FSPath) throws -> Decision {
        switch options.overwrite {
        case .never:
            return .skip
        case .ifNewer:
            return node.mtime > st.mtime ? .write : .skip
        case .ifChanged:
            if st.isRegular && UInt64(st.size) == node.size && st.mtime.sameInstant(as: node.mtime) { return .unchanged }
            return try contentMatches(node, st, at: path) ? .unchanged : .write
        case .always:
            return try contentMatches(node, st, at: path) ? .unchanged : .write
        }
    }

    /// Whether the file at `path` already holds exactly the snapshot's content: same size and
    /// every chunk hashing to the recorded blob ID.
    func contentMatches(_ node: Node, _ st: FileStat, at path: FSPath) throws -> Bool {
        guard st.isRegular, UInt64(st.size) == node.size else { return false }
        return RestoreVerifier.matches(path: path, content: node.content ?? [], index: repository.index)
    }

    /// `--delete`: entries of an existing directory that the snapshot does not have (and, with
    /// filters, that the filters select) are removed.
    mutating func planDeletions(in dir: FSPath, keeping names: Set<[UInt8]>, location: FSPath) throws {
        guard let entries = try? FileSystem.readDirectory(dir) else { return }
        for name in entries.sorted(by: { $0.lexicographicallyPrecedes($1) }) where !names.contains(name) {
            if RestoreMetadata.isTemporaryName(name) { continue }  // cleaned separately
            let path = dir.appending(name)
            let isDirectory = (try? FileSystem.lstat(path))?.isDirectory ?? false
            let itemLocation = FSPath(bytes: location.bytes + [UInt8(ascii: "/")] + name)
            if !filter.isEmpty && !filter.select(itemLocation, isDirectory: isDirectory).selected {
                continue
            }
            plan.deletions.append(path)
        }
    }
}

/// Re-reads restored files and checks them against the snapshot (`--verify`, and the content
/// check of the overwrite modes).
enum RestoreVerifier {
    /// Reads the file chunk by chunk (chunk lengths from the index) and compares each chunk's
    /// SHA-256 with the blob ID. False on any difference or read error.
    static func matches(path: FSPath, content: [ID], index: MasterIndex) -> Bool {
        let fd = path.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8]()
        var offset = 0
        for id in content {
            guard let length = index.plaintextLength(of: BlobHandle(id: id, type: .data)) else { return false }
            if buffer.count < length { buffer = [UInt8](repeating: 0, count: length) }
            let ok = buffer.withUnsafeMutableBytes { raw -> Bool in
                var done = 0
                while done < length {
                    let n = pread(fd, raw.baseAddress! + done, length - done, off_t(offset + done))
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return false }
                    done += n
                }
                return ID.hash(UnsafeRawBufferPointer(rebasing: raw[0..<length])) == id
            }
            guard ok else { return false }
            offset += length
        }
        // Nothing may follow the last chunk.
        var extra: UInt8 = 0
        return pread(fd, &extra, 1, off_t(offset)) == 0
    }
}
