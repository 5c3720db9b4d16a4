import Foundation
public import OffsiteFormat

/// restic's `dump`: one file of a snapshot as its bytes, or a directory as a tar or zip archive.
///
/// The path is looked up component by component from the snapshot's root tree (restic's
/// `printFromTree`): a file is written as is; a directory becomes an archive of everything
/// below it, each entry named by its path from the snapshot root (`srv/app/config.yml`), in
/// tree order, directories before their contents; `/` archives the whole snapshot. Only files,
/// directories and symlinks below the top level go into the archive (as restic does).
///
/// Data is streamed blob by blob: a few blobs are loaded ahead while earlier ones are written,
/// so memory stays bounded by `blobsInFlight` blobs (at most 8 MiB each) whatever the file size.
/// Every blob is verified before it is written (`Repository.loadBlob`).
///
/// Trees are untrusted: an entry whose name `NodeName` rejects (it would climb out of the
/// archive or alias another entry), a directory without a subtree and a file whose content is
/// not data blobs the index has are left out and reported to `onProblem`; a file's size in the
/// archive is what its content adds up to, whatever the node records. So no member of an
/// archive climbs out, and none is reached through another member that is a symlink.
public struct Dump: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case tar, zip
    }

    public let repository: Repository
    public let format: Format
    /// Blobs loaded ahead of the one being written. Four keeps a local disk and a remote
    /// backend busy while the output is written.
    public var blobsInFlight = 4
    /// The snapshot being dumped, for messages.
    public var snapshotID: ID?

    public init(repository: Repository, format: Format = .tar) {
        self.repository = repository
        self.format = format
    }

    /// What `run` wrote.
    public enum Output: Sendable, Equatable {
        case file
        case archive(entries: Int)
    }

    /// Looks `path` up below the tree `root` and writes the file or an archive of the
    /// directory to `sink`. `beforeArchive` runs before an archive is started (the CLI refuses
    /// to write one to a terminal there); `onProblem` gets each entry left out of an archive,
    /// and a file whose recorded size differs from its content (which is written).
    ///
    /// Throws `.notFound` when the path is not in the snapshot, `.invalidArgument` when a
    /// component is not of the kind the path needs (restic's wording), `.invalidData` when the
    /// file's content cannot be read, and the errors of loading trees and blobs and of the sink.
    @discardableResult
    public func run(
        root: ID, path: String, to sink: any ByteSink, beforeArchive: () throws -> Void = {}, onProblem: (String) -> Void = { _ in }
    ) async throws -> Output {
        let components = Self.splitPath(PathName.clean(path))
        var tree = try await repository.loadTree(root)
        var prefix = "/"
        if components == [""] {
            try beforeArchive()
            return .archive(entries: try await archive(tree, under: "/", to: sink, onProblem: onProblem))
        }
        for (i, component) in components.enumerated() {
            let item = PathName.clean(prefix + "/" + component)
            let isLast = i == components.count - 1
            guard let node = tree.node(named: Array(component.utf8)) else {
                throw EngineError(.notFound, "path \(GoQuote.quoted(item)) not found in snapshot")
            }
            switch (isLast, node.type) {
            case (true, .file):
                switch repository.index.contentLength(of: node.content ?? []) {
                case .failure(let problem):
                    throw EngineError(.invalidData, "\(GoQuote.quoted(item)) \(problem) (run offsite check)")
                case .success(let length) where UInt64(length) != node.size:
                    onProblem(
                        "\(GoQuote.quoted(item)): \(FileContentProblem.sizeMismatch(recorded: node.size, content: length)): wrote the content's \(length) bytes"
                    )
                case .success:
                    break
                }
                try await writeContent(of: node, to: { try sink.write($0) })
                return .file
            case (false, .dir), (true, .dir):
                guard let sub = node.subtree else { throw EngineError(.invalidData, "directory \(GoQuote.quoted(item)) has no subtree") }
                tree = try await repository.loadTree(sub)
                if isLast {
                    try beforeArchive()
                    return .archive(entries: try await archive(tree, under: item, to: sink, onProblem: onProblem))
                }
                prefix = item
            case (false, _):
                throw EngineError(
                    .invalidArgument, "\(GoQuote.quoted(item)) should be a dir, but is a \(GoQuote.quoted(node.type.rawValue))")
            case (true, _):
                throw EngineError(
                    .invalidArgument, "\(GoQuote.quoted(item)) should be a file, but is a \(GoQuote.quoted(node.type.rawValue))")
            }
        }
        return .file
    }

    // MARK: Archives

    /// Writes every node of `tree` (and, for directories, everything below) as archive
    /// entries named `rootPath/name…` without the leading slash. Returns the entry count.
    func archive(_ tree: Tree, under rootPath: String, to sink: any ByteSink, onProblem: (String) -> Void = { _ in }) async throws -> Int {
        let writer: any ArchiveWriter = format == .tar ? TarArchive(sink) : ZipArchive(sink)
        let base = GoFilepath.clean(Array(rootPath.utf8)[...])
        var count = 0
        func entry(_ node: Node, _ path: [UInt8]) async throws {
            try Task.checkCancellation()
            var node = node
            if node.type == .file {
                // The archive's size is the content's: a node's recorded size is not trusted.
                switch repository.index.contentLength(of: node.content ?? []) {
                case .failure(let problem):
                    onProblem("\(display(path)): \(problem): left out (run offsite check)")
                    return
                case .success(let length):
                    if UInt64(length) != node.size {
                        onProblem(
                            "\(display(path)): \(FileContentProblem.sizeMismatch(recorded: node.size, content: length)): archived with the content's \(length) bytes"
                        )
                        node.size = UInt64(length)
                    }
                }
            }
            do {
                try writer.begin(node, name: Array(path.drop { $0 == UInt8(ascii: "/") }))
                try await writeContent(of: node, to: { try writer.write($0) })
                try writer.end()
            } catch let e as ArchiveError {
                throw EngineError(.invalidData, e.description)
            }
            count += 1
        }
        /// The nodes of `tree` whose names may become member names; the others are reported.
        func usable(_ tree: Tree, in path: [UInt8]) -> [Node] {
            let (nodes, rejected) = tree.usableNodes
            for r in rejected { onProblem(r.message(snapshot: snapshotID, parent: String(decoding: path, as: UTF8.self))) }
            return nodes
        }
        func directory(_ node: Node, _ path: [UInt8]) -> ID? {
            if node.subtree == nil {
                onProblem("\(display(path)): directory has no subtree: its contents are left out (run offsite check)")
            }
            return node.subtree
        }
        // One path buffer for the whole walk (a name is appended on the way down and cut on the
        // way up), so memory does not grow with the sum of the paths along a deep branch.
        var path = base
        func walk(_ id: ID) async throws {
            let tree = try await repository.loadTree(id)
            let parent = path.count
            for node in usable(tree, in: path) {
                Self.append(node.name, to: &path)
                defer { path.removeSubrange(parent...) }
                switch node.type {
                case .file, .symlink: try await entry(node, path)
                case .dir:
                    try await entry(node, path)
                    if let sub = directory(node, path) { try await walk(sub) }
                default: continue
                }
            }
        }
        for node in usable(tree, in: base) {
            // Top-level nodes go in whatever their type, as in restic.
            Self.append(node.name, to: &path)
            defer { path = base }
            try await entry(node, path)
            if node.type == .dir, let sub = directory(node, path) { try await walk(sub) }
        }
        do {
            try writer.finish()
        } catch let e as ArchiveError {
            throw EngineError(.invalidData, e.description)
        }
        return count
    }

    /// `GoFilepath.join` of a clean directory path and a name `NodeName` accepted, in place:
    /// the two joined with a slash, without cleaning again.
    static func append(_ name: [UInt8], to path: inout [UInt8]) {
        if path != [UInt8(ascii: "/")] { path.append(UInt8(ascii: "/")) }
        path += name
    }

    private func display(_ path: [UInt8]) -> String {
        (snapshotID.map { "snapshot \($0.shortHex): " } ?? "") + GoQuote.quoted(path)
    }

    // MARK: File contents

    /// Loads the node's blobs in order, up to `blobsInFlight` ahead of the writer, and hands
    /// each to `write`. A blob that repeats (sparse or zero-filled files) is loaded once while
    /// it stays in a small cache.
    func writeContent(of node: Node, to write: (UnsafeRawBufferPointer) throws -> Void) async throws {
        guard let content = node.content, !content.isEmpty else { return }
        let window = max(1, blobsInFlight)
        var cache = BlobCache()
        try await withThrowingTaskGroup(of: (Int, Data).self) { group in
            var next = 0
            var pending = 0
            var ready: [Int: Data] = [:]
            func schedule() {
                while next < content.count && ready.count + pending < window {
                    let index = next
                    let id = content[index]
                    next += 1
                    if let hit = cache.get(id) {
                        ready[index] = hit
                        continue
                    }
                    pending += 1
                    group.addTask { [repository] in (index, try await repository.loadBlob(BlobHandle(id: id, type: .data))) }
                }
            }
            schedule()
            for index in content.indices {
                while ready[index] == nil {
                    guard let (i, data) = try await group.next() else { break }
                    pending -= 1
                    ready[i] = data
                    cache.put(content[i], data)
                }
                guard let data = ready.removeValue(forKey: index) else {
                    throw EngineError(.invalidData, "blob \(content[index].hex) could not be loaded")
                }
                try data.withUnsafeBytes { try write($0) }
                schedule()
            }
        }
    }

    /// The last few blobs, up to 32 MiB (restic keeps 64 MiB for the same purpose).
    struct BlobCache {
        private var entries: [(ID, Data)] = []
        private var bytes = 0
        static let budget = 32 << 20

        func get(_ id: ID) -> Data? { entries.first { $0.0 == id }?.1 }

        mutating func put(_ id: ID, _ data: Data) {
            if get(id) != nil { return }
            entries.append((id, data))
            bytes += data.count
            while bytes > Self.budget, entries.count > 1 {
                bytes -= entries.removeFirst().1.count
            }
        }
    }

    // MARK: Paths

    /// restic's `splitPath` of a cleaned path: its components, or `[""]` for the root.
    static func splitPath(_ p: String) -> [String] {
        let parts = p.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        return parts.isEmpty ? [""] : parts
    }
}
