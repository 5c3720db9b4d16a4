import OffsiteFormat

/// The running state of `Stats`: what has been seen so far and the totals.
///
/// Walk order matters to restic's numbers in two modes (which node is first to show a content
/// decides its path in blobs-per-file; which node is first to show an inode decides what counts
/// in restore-size), so nodes are visited as restic's walker visits them: depth first, each tree's
/// nodes in bytewise name order, a directory before its contents.
struct StatsCounter {
    let repository: Repository
    let mode: Stats.Mode
    var report = Stats.Report()

    /// files-by-contents, blobs-per-file: contents seen (SHA-256 of the content's blob IDs).
    private var uniqueContents: Set<ID> = []
    /// blobs-per-file: the blobs counted for each path (path bytes from the snapshot root).
    private var blobsByPath: [[UInt8]: Set<ID>] = [:]
    /// files-by-contents, blobs-per-file: trees already walked. A tree seen before holds only
    /// contents already counted, so it is not walked again (restic skips it within a snapshot
    /// and finds nothing new in it across snapshots; the totals are the same).
    private var walkedTrees: Set<ID> = []
    /// raw-data: every blob referenced, trees included.
    private var usedBlobs: Set<BlobHandle> = []

    init(repository: Repository, mode: Stats.Mode) {
        self.repository = repository
        self.mode = mode
    }

    /// The snapshot being walked, for messages.
    private var snapshotID: ID?

    mutating func add(_ snapshot: Snapshot, id: ID? = nil) async throws {
        report.snapshotsCount += 1
        snapshotID = id
        switch mode {
        case .rawData:
            try await collectBlobs(tree: snapshot.tree)
        case .restoreSize:
            var inodes: Set<UInt64> = []
            try await walkRestoreSize(tree: snapshot.tree, path: [], inodes: &inodes)
        case .filesByContents, .blobsPerFile:
            guard walkedTrees.insert(snapshot.tree).inserted else { return }
            try await walkContents(tree: snapshot.tree, path: [])
        }
    }

    /// The final totals. raw-data sizes are added here, once every blob is known.
    mutating func finish() throws -> Stats.Report {
        if mode == .rawData {
            for handle in usedBlobs {
                guard let first = repository.index.locations(of: handle).first else {
                    throw EngineError(.notFound, "blob <\(handle.type)/\(handle.id.shortHex)> not found in the index")
                }
                report.totalSize += UInt64(first.blob.length)
                report.totalBlobCount += 1
            }
        }
        return report
    }

    // MARK: Walks

    /// A tree's nodes in name order. The counts of what a restore would write (`path` given)
    /// leave out the nodes `NodeName` rejects, which are reported; raw-data counts every blob.
    private mutating func loadSortedTree(_ id: ID, path: [UInt8]? = nil) async throws -> [Node] {
        var nodes: [Node]
        do {
            let tree = try await repository.loadTree(id)
            nodes = tree.nodes
            if let path {
                let usable = tree.usableNodes
                nodes = usable.nodes
                for r in usable.rejected {
                    report.problems.append(r.message(snapshot: snapshotID, parent: String(decoding: path, as: UTF8.self)))
                }
            }
        } catch let e as EngineError {
            throw EngineError(e.code, "walking tree \(id.hex): \(e.message)", storageCode: e.storageCode)
        }
        let inOrder = zip(nodes, nodes.dropFirst()).allSatisfy { !$1.name.lexicographicallyPrecedes($0.name) }
        return inOrder ? nodes : nodes.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    private func subtree(of node: Node, in tree: ID) throws -> ID {
        guard let sub = node.subtree else {
            throw EngineError(.invalidData, "walking tree \(tree.hex): subtree for node \(node.nameString) is nil")
        }
        return sub
    }

    /// restore-size: every node counts as a file; each inode number's size counts once per snapshot.
    private mutating func walkRestoreSize(tree: ID, path: [UInt8], inodes: inout Set<UInt64>) async throws {
        for node in try await loadSortedTree(tree, path: path) {
            report.totalFileCount += 1
            if node.inode == 0 || inodes.insert(node.inode).inserted {
                // Recorded sizes are untrusted: they add up as Go's uint64 does, wrapping.
                report.totalSize &+= node.size
            }
            if node.type == .dir {
                try await walkRestoreSize(
                    tree: try subtree(of: node, in: tree), path: path + [UInt8(ascii: "/")] + node.name, inodes: &inodes)
            }
        }
    }

    /// files-by-contents and blobs-per-file.
    private mutating func walkContents(tree: ID, path: [UInt8]) async throws {
        for node in try await loadSortedTree(tree, path: path) {
            let nodePath = path + [UInt8(ascii: "/")] + node.name
            let content = node.content ?? []
            if uniqueContents.insert(Self.contentID(content)).inserted {
                if mode == .filesByContents {
                    report.totalSize &+= node.size
                    report.totalFileCount += 1
                } else {
                    try countBlobs(content, path: nodePath, tree: tree)
                }
            }
            if node.type == .dir {
                let sub = try subtree(of: node, in: tree)
                if walkedTrees.insert(sub).inserted {
                    try await walkContents(tree: sub, path: nodePath)
                }
            }
        }
    }

    /// blobs-per-file: a path counts once as a file, each of its blobs once by plaintext length.
    private mutating func countBlobs(_ content: [ID], path: [UInt8], tree: ID) throws {
        for blob in content {
            if blobsByPath[path] == nil {
                blobsByPath[path] = []
                report.totalFileCount += 1
            }
            guard blobsByPath[path]!.insert(blob).inserted else { continue }
            guard let size = repository.index.plaintextLength(of: BlobHandle(id: blob, type: .data)) else {
                throw EngineError(.notFound, "walking tree \(tree.hex): blob \(blob.hex) not found for tree \(tree.hex)")
            }
            report.totalSize &+= UInt64(size)
            report.totalBlobCount += 1
        }
    }

    /// raw-data: collects the tree and, recursively, its subtrees and file contents.
    private mutating func collectBlobs(tree: ID) async throws {
        guard usedBlobs.insert(BlobHandle(id: tree, type: .tree)).inserted else { return }
        for node in try await loadSortedTree(tree) {
            switch node.type {
            case .file:
                for blob in node.content ?? [] { usedBlobs.insert(BlobHandle(id: blob, type: .data)) }
            case .dir:
                try await collectBlobs(tree: try subtree(of: node, in: tree))
            default:
                break
            }
        }
    }

    /// restic's `makeFileIDByContents`: SHA-256 of the concatenated blob IDs.
    static func contentID(_ content: [ID]) -> ID {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32 * content.count)
        for id in content { bytes += id.bytes }
        return ID.hash(bytes)
    }
}
