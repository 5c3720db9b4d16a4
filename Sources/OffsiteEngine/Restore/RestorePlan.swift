import Foundation
import OffsiteFormat

#if canImport(Glibc)
import Glibc
#endif

/// What a restore will do, worked out before anything is written: which directories to create,
/// which files need content (and from which blobs), which existing files are already right,
/// which items to delete (`--delete`). Built by walking the snapshot's trees with the filters;
/// existing files are compared with the snapshot according to the overwrite mode.
///
/// Every item is a name inside one of the restore's directories (`TargetDirectories`), never a
/// path: the names are those `NodeName` accepts, so none climbs, and none is used twice.
struct RestorePlan {
    /// An entry `name` inside the directory `dir` (an index into `TargetDirectories`).
    struct Place: Hashable, Sendable {
        var dir: Int
        var name: [UInt8]
    }

    struct FileJob: Sendable {
        var place: Place
        var node: Node
        /// The file's size: what its content adds up to in the index (and what the node records).
        var size: Int
        /// True when a file of that name existed and is being replaced.
        var replaces: Bool
        /// The file's directory is new (made by this restore, mode 0700, no setgid): a file
        /// created in it belongs to the restoring user and group.
        var inNewDirectory = false
    }

    struct Directory {
        /// The directory's index in `TargetDirectories`.
        var index: Int
        /// The snapshot's node, whose metadata is applied at the end; nil for a directory only
        /// passed through (an include matches something below it).
        var node: Node?
        /// Whether a directory was there when the plan was made (a new one needs no cleaning
        /// and holds nothing to compare).
        var exists: Bool
    }

    /// Directories in creation order (parents first).
    var directories: [Directory] = []
    var files: [FileJob] = []
    /// Existing files whose content is already right: only their metadata is applied.
    var unchanged: [(place: Place, node: Node)] = []
    var unchangedBytes = 0
    var skipped = 0
    var skippedBytes = 0
    var others: [(place: Place, node: Node)] = []
    /// Second and later names of hard-linked files, linked to the first name.
    var links: [(place: Place, first: FirstName)] = []

    /// Where the first name of a hard-linked file is: written by this restore (an index in
    /// `files`), or already right on disk and left in place (an index in `unchanged`).
    enum FirstName: Equatable {
        case written(Int)
        case unchanged(Int)
    }
    var deletions: [Place] = []
    var errors: [String] = []

    /// Totals of untrusted sizes add up wrapping: a crafted tree reaching one huge file through
    /// many directories garbles the progress figures, never traps.
    var totalBytes: Int { files.reduce(0) { $0 &+ $1.size } }

    /// Items planned so far (selected directories and deletions count; pass-through
    /// directories do not).
    var itemCount: Int {
        files.count + unchanged.count + skipped + others.count + links.count + selectedDirectories + deletions.count
    }
    var selectedDirectories = 0
}

struct RestorePlanner {
    let repository: Repository
    let options: Restore.Options
    let filter: RestoreFilter.Compiled
    let directories: TargetDirectories
    /// Where the target's contents are in the snapshot ("" for the root, `/sub/path` with a
    /// subpath): the start of every location the filters and messages see.
    let base: [UInt8]
    var plan = RestorePlan()
    private var firstNameOfInode: [HardlinkKey: RestorePlan.FirstName] = [:]

    struct HardlinkKey: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    init(repository: Repository, options: Restore.Options, filter: RestoreFilter.Compiled, directories: TargetDirectories, base: [UInt8]) {
        self.repository = repository
        self.options = options
        self.filter = filter
        self.directories = directories
        self.base = base
    }

    /// Plans the contents of `tree` into the directory `dir`; `location` is the tree's path in
    /// the snapshot, built only when filters need it. When `dir` does not exist yet, nothing
    /// inside it can, so no item below it is looked up on disk.
    mutating func walk(tree id: ID, into dir: Int, location: [UInt8]?, dirExists: Bool) async throws {
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
            plan.errors.append("\(directories.path(dir)): \(e.message)")
            return
        }
        let (nodes, rejected) = tree.usableNodes
        for r in rejected {
            plan.errors.append(r.message(snapshot: options.snapshotID, parent: snapshotPath(dir)))
        }
        // Decide every entry first, so the subtrees this walk will enter load ahead of it.
        var decisions: [(node: Node, location: [UInt8]?, selected: Bool)] = []
        decisions.reserveCapacity(nodes.count)
        for node in nodes {
            let itemLocation = location.map { $0 + [UInt8(ascii: "/")] + node.name }
            let (selected, descend) =
                itemLocation.map { filter.select(FSPath(bytes: $0), isDirectory: node.type == .dir) } ?? (true, node.type == .dir)
            if node.type == .dir {
                guard selected || descend else { continue }
                guard let sub = node.subtree else {
                    plan.errors.append(
                        "snapshot \(options.snapshotID.shortHex): directory \(GoQuote.quoted(Array(snapshotPath(dir, node.name).utf8))) has no subtree: not restored (the tree is damaged or was crafted; offsite check reports it)"
                    )
                    continue
                }
                prefetch(sub)
            }
            decisions.append((node, itemLocation, selected))
        }
        for (node, itemLocation, selected) in decisions {
            if node.type == .dir, let sub = node.subtree {
                // A directory only passed through is created only if something inside it is
                // restored, as restic does.
                let before = plan.itemCount
                let existing = dirExists ? lstat(dir, node.name) : nil
                let exists = existing?.isDirectory ?? false
                let index = directories.add(parent: dir, name: node.name)
                plan.directories.append(.init(index: index, node: selected ? node : nil, exists: exists))
                if selected { plan.selectedDirectories += 1 }
                try await walk(tree: sub, into: index, location: itemLocation, dirExists: exists)
                if !selected && plan.itemCount == before {
                    // Nothing was planned inside, so every directory added below it was left out
                    // already: it is the last one.
                    plan.directories.removeLast()
                    directories.removeLast()
                }
                continue
            }
            guard selected else { continue }
            try planItem(node, at: .init(dir: dir, name: node.name), parentExists: dirExists)
        }
        if options.delete && dirExists {
            let names = Set(tree.nodes.map(\.name))
            try planDeletions(in: dir, keeping: names, location: location)
        }
    }

    /// The snapshot path of a directory of the restore (and of `name` in it), for messages.
    func snapshotPath(_ dir: Int, _ name: [UInt8]? = nil) -> String {
        var names: [[UInt8]] = name.map { [$0] } ?? []
        var i = dir
        while i > TargetDirectories.root {
            names.append(directories.name(of: i))
            i = directories.parent(of: i)
        }
        let path = names.reversed().reduce(base) { $0 + [UInt8(ascii: "/")] + $1 }
        return path.isEmpty ? "/" : String(decoding: path, as: UTF8.self)
    }

    /// What is at `name` in the existing directory `dir`, without following a symlink; nil when
    /// nothing is (or the directory cannot be opened: the restore reports that when it creates).
    func lstat(_ dir: Int, _ name: [UInt8]) -> FileStat? {
        (try? directories.with(dir) { FileSystem.lstatIfPresent(in: $0, name) }) ?? nil
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
    mutating func planItem(_ node: Node, at place: RestorePlan.Place, parentExists: Bool = true) throws {
        if node.type == .socket { return }  // not restorable, as in restic
        if node.type == .file {
            guard let size = contentSize(node, at: place) else { return }
            planFile(node, size: size, at: place, parentExists: parentExists)
            return
        }
        if parentExists && options.overwrite == .never, lstat(place.dir, place.name) != nil {
            plan.skipped += 1
            return
        }
        plan.others.append((place, node))
    }

    private mutating func planFile(_ node: Node, size: Int, at place: RestorePlan.Place, parentExists: Bool) {
        let key = HardlinkKey(device: node.deviceID, inode: node.inode)
        if node.links > 1, node.inode != 0, let first = firstNameOfInode[key] {
            // A further name of a hard-linked file replaces what is there, except with
            // `--overwrite never`, as for any other file.
            if parentExists && options.overwrite == .never, lstat(place.dir, place.name) != nil {
                plan.skipped += 1
                plan.skippedBytes &+= size
                return
            }
            plan.links.append((place, first))
            return
        }
        let existing = parentExists ? lstat(place.dir, place.name) : nil
        if let existing {
            switch decide(node, size: size, existing: existing, at: place) {
            case .skip:
                plan.skipped += 1
                plan.skippedBytes &+= size
                return
            case .unchanged:
                // `decide` leaves only a file without other names in place: linking further
                // names to it stays inside the target.
                if node.links > 1, node.inode != 0 { firstNameOfInode[key] = .unchanged(plan.unchanged.count) }
                plan.unchanged.append((place, node))
                plan.unchangedBytes &+= size
                plan.skippedBytes &+= size
                return
            case .write:
                break
            }
        }
        if node.links > 1, node.inode != 0 { firstNameOfInode[key] = .written(plan.files.count) }
        plan.files.append(.init(place: place, node: node, size: size, replaces: existing != nil, inNewDirectory: !parentExists))
    }

    /// The length of a file's content from the index (`MasterIndex.contentLength`), or nil
    /// when a blob is missing or is not a data blob (the file is reported). A recorded size that
    /// differs is reported too, and the content is restored as it is.
    private mutating func contentSize(_ node: Node, at place: RestorePlan.Place) -> Int? {
        switch repository.index.contentLength(of: node.content ?? []) {
        case .failure(let problem):
            plan.errors.append("\(directories.path(place.dir, place.name)): \(problem)\(Self.checkHint)")
            return nil
        case .success(let length):
            if UInt64(length) != node.size {
                plan.errors.append(
                    "\(directories.path(place.dir, place.name)): \(FileContentProblem.sizeMismatch(recorded: node.size, content: length)): restored with the content's \(length) bytes\(Self.checkHint)"
                )
            }
            return length
        }
    }

    static let checkHint = " (offsite check reports it)"

    enum Decision { case write, unchanged, skip }

    /// restic 0.17's overwrite modes for a file that already exists at the target. A file with
    /// other hard links is never left in place: its metadata would be set on an inode other
    /// names share, maybe outside the target; it is written anew (and the link broken).
    func decide(_ node: Node, size: Int, existing st: FileStat, at place: RestorePlan.Place) -> Decision {
        let decision = overwriteDecision(node, size: size, existing: st, at: place)
        return decision == .unchanged && st.links > 1 ? .write : decision
    }

    private func overwriteDecision(_ node: Node, size: Int, existing st: FileStat, at place: RestorePlan.Place) -> Decision {
        switch options.overwrite {
        case .never:
            return .skip
        case .ifNewer:
            return node.mtime > st.mtime ? .write : .skip
        case .ifChanged:
            if st.isRegular && Int(st.size) == size && st.mtime.sameInstant(as: node.mtime) { return .unchanged }
            return contentMatches(node, size: size, st, at: place) ? .unchanged : .write
        case .always:
            return contentMatches(node, size: size, st, at: place) ? .unchanged : .write
        }
    }

    /// Whether the file at `place` already holds exactly the snapshot's content: same size and
    /// every chunk hashing to the recorded blob ID.
    func contentMatches(_ node: Node, size: Int, _ st: FileStat, at place: RestorePlan.Place) -> Bool {
        guard st.isRegular, Int(st.size) == size else { return false }
        return
            (try? directories.with(place.dir) {
                RestoreVerifier.matches(in: $0, place.name, content: node.content ?? [], index: repository.index)
            }) ?? false
    }

    /// `--delete`: entries of an existing directory that the snapshot does not have (and, with
    /// filters, that the filters select) are removed.
    mutating func planDeletions(in dir: Int, keeping names: Set<[UInt8]>, location: [UInt8]?) throws {
        guard let entries = try? directories.with(dir, { try FileSystem.readDirectory(fd: $0, display: directories.path(dir)) }) else {
            return
        }
        for name in entries.sorted(by: { $0.lexicographicallyPrecedes($1) }) where !names.contains(name) {
            if RestoreMetadata.isTemporaryName(name) { continue }  // cleaned separately
            if let location, !filter.isEmpty {
                let isDirectory = lstat(dir, name)?.isDirectory ?? false
                let itemLocation = FSPath(bytes: location + [UInt8(ascii: "/")] + name)
                if !filter.select(itemLocation, isDirectory: isDirectory).selected { continue }
            }
            plan.deletions.append(.init(dir: dir, name: name))
        }
    }
}

/// Re-reads restored files and checks them against the snapshot (`--verify`, and the content
/// check of the overwrite modes).
enum RestoreVerifier {
    /// Reads the file `name` in the open directory `dir` (not following a symlink there) chunk
    /// by chunk (chunk lengths from the index) and compares each chunk's SHA-256 with the blob
    /// ID. False on any difference or read error.
    static func matches(in dir: Int32, _ name: [UInt8], content: [ID], index: MasterIndex) -> Bool {
        let fd = FileSystem.withName(name) { openat(dir, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return matches(fd: fd, content: content, index: index)
    }

    /// The same for a path (the test's entry point).
    static func matches(path: FSPath, content: [ID], index: MasterIndex) -> Bool {
        let fd = path.withCString { open($0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return matches(fd: fd, content: content, index: index)
    }

    static func matches(fd: Int32, content: [ID], index: MasterIndex) -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return false }
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
