public import OffsiteFormat

/// restic's `diff`: what changed from one snapshot (tree) to another, item by item, and what
/// that means in blobs.
///
/// Items are compared by name, level by level, in sorted order. Each difference is reported
/// as a `Change` with restic's modifier: `+` added, `-` removed, `M` a file's content changed,
/// `T` the type changed (file to symlink…), `U` only metadata changed (with `includeMetadata`);
/// `T` combines with `M`/`U`. Directory paths end in `/`. Everything below an added or removed
/// directory is listed too. A pair of identical subtrees is not compared, though counting the
/// blobs still walks each occurrence of a subtree.
///
/// The report counts added and removed files, directories and other items, the files whose
/// content changed, and the data and tree blobs (with their plaintext bytes) referenced only
/// by the first or only by the second tree.
public struct SnapshotDiff: Sendable {
    public struct Change: Sendable, Equatable {
        /// Path from the root, starting with `/`; directories end with `/`.
        public var path: [UInt8]
        public var modifier: String
    }

    public struct Stat: Sendable, Equatable {
        public var files = 0
        public var dirs = 0
        public var others = 0
        public var dataBlobs = 0
        public var treeBlobs = 0
        public var bytes: UInt64 = 0

        mutating func add(_ node: Node) {
            switch node.type {
            case .file: files += 1
            case .dir: dirs += 1
            default: others += 1
            }
        }
    }

    public struct Report: Sendable, Equatable {
        public var changedFiles = 0
        public var added = Stat()
        public var removed = Stat()
    }

    public let repository: Repository
    /// Report `U` for items whose metadata (mode, times, owner, …) changed.
    public var includeMetadata: Bool
    /// The snapshots compared, for messages.
    public var fromSnapshot: ID?
    public var toSnapshot: ID?

    public init(repository: Repository, includeMetadata: Bool = false) {
        self.repository = repository
        self.includeMetadata = includeMetadata
    }

    /// Compares the tree `from` with the tree `to`. `onChange` gets every change in order;
    /// `warn` gets problems restic only warns about (a subtree that cannot be loaded, a blob
    /// missing from the index), after which the comparison goes on; `onRejected` gets a message
    /// for each node whose name `NodeName` rejects (it is left out of the comparison).
    ///
    /// Throws when either root tree cannot be loaded, or what `onChange` throws.
    public func run(
        from: ID, to: ID, warn: (String) -> Void = { _ in }, onRejected: (String) -> Void = { _ in },
        onChange: (Change) throws -> Void
    ) async throws -> Report {
        var state = State()
        state.before.insert(BlobHandle(id: from, type: .tree))
        state.after.insert(BlobHandle(id: to, type: .tree))
        try await diff(prefix: [UInt8(ascii: "/")], from, to, &state, warn, onRejected, onChange)
        let both = state.before.intersection(state.after)
        count(state.before.subtracting(both).subtracting(state.common), into: &state.report.removed, warn)
        count(state.after.subtracting(both).subtracting(state.common), into: &state.report.added, warn)
        return state.report
    }

    /// The usable nodes of `tree`; the others are reported as in `snapshot`.
    private func usable(_ tree: Tree, _ prefix: [UInt8], _ snapshot: ID?, _ onRejected: (String) -> Void) -> [Node] {
        let (nodes, rejected) = tree.usableNodes
        for r in rejected { onRejected(r.message(snapshot: snapshot, parent: String(decoding: prefix, as: UTF8.self))) }
        return nodes
    }

    private struct State {
        var report = Report()
        var before: Set<BlobHandle> = []
        var after: Set<BlobHandle> = []
        var common: Set<BlobHandle> = []
    }

    private func diff(
        prefix: [UInt8], _ id1: ID, _ id2: ID, _ state: inout State, _ warn: (String) -> Void, _ rejected: (String) -> Void,
        _ onChange: (Change) throws -> Void
    ) async throws {
        let tree1 = try await repository.loadTree(id1)
        let tree2 = try await repository.loadTree(id2)
        var nodes1: [[UInt8]: Node] = [:]
        var nodes2: [[UInt8]: Node] = [:]
        for n in usable(tree1, prefix, fromSnapshot, rejected) { nodes1[n.name] = n }
        for n in usable(tree2, prefix, toSnapshot, rejected) { nodes2[n.name] = n }
        let names = Set(nodes1.keys).union(nodes2.keys).sorted { $0.lexicographicallyPrecedes($1) }
        for name in names {
            let node1 = nodes1[name]
            let node2 = nodes2[name]
            Self.addBlobs(of: node1, to: &state.before)
            Self.addBlobs(of: node2, to: &state.after)
            var path = GoFilepath.join(prefix, name)
            switch (node1, node2) {
            case (let n1?, let n2?):
                var modifier = ""
                if n1.type != n2.type { modifier += "T" }
                if n2.type == .dir { path.append(UInt8(ascii: "/")) }
                if n1.type == .file && n2.type == .file && n1.content != n2.content {
                    modifier += "M"
                    state.report.changedFiles += 1
                } else if includeMetadata && !Self.sameNode(n1, n2) {
                    modifier += "U"
                }
                if !modifier.isEmpty { try onChange(Change(path: path, modifier: modifier)) }
                if n1.type == .dir, n2.type == .dir, let s1 = n1.subtree, let s2 = n2.subtree {
                    do {
                        if s1 == s2 {
                            try await collect(s1, into: &state.common, warn)
                        } else {
                            try await diff(prefix: path, s1, s2, &state, warn, rejected, onChange)
                        }
                    } catch let e as EngineError {
                        warn("error: \(e.message)")
                    }
                }
            case (let n1?, nil):
                if n1.type == .dir { path.append(UInt8(ascii: "/")) }
                try onChange(Change(path: path, modifier: "-"))
                state.report.removed.add(n1)
                if n1.type == .dir, let sub = n1.subtree {
                    do {
                        try await list(
                            sub, prefix: path, modifier: "-", stat: &state.report.removed, blobs: &state.before, fromSnapshot, warn,
                            rejected, onChange)
                    } catch let e as EngineError {
                        warn("error: \(e.message)")
                    }
                }
            case (nil, let n2?):
                if n2.type == .dir { path.append(UInt8(ascii: "/")) }
                try onChange(Change(path: path, modifier: "+"))
                state.report.added.add(n2)
                if n2.type == .dir, let sub = n2.subtree {
                    do {
                        try await list(
                            sub, prefix: path, modifier: "+", stat: &state.report.added, blobs: &state.after, toSnapshot, warn, rejected,
                            onChange)
                    } catch let e as EngineError {
                        warn("error: \(e.message)")
                    }
                }
            case (nil, nil):
                break
            }
        }
    }

    /// Reports everything below an added or removed directory (restic's `printDir`).
    private func list(
        _ id: ID, prefix: [UInt8], modifier: String, stat: inout Stat, blobs: inout Set<BlobHandle>, _ snapshot: ID?,
        _ warn: (String) -> Void, _ rejected: (String) -> Void, _ onChange: (Change) throws -> Void
    ) async throws {
        let tree = try await repository.loadTree(id)
        for node in usable(tree, prefix, snapshot, rejected) {
            var path = GoFilepath.join(prefix, node.name)
            if node.type == .dir { path.append(UInt8(ascii: "/")) }
            try onChange(Change(path: path, modifier: modifier))
            stat.add(node)
            Self.addBlobs(of: node, to: &blobs)
            if node.type == .dir, let sub = node.subtree {
                do {
                    try await list(sub, prefix: path, modifier: modifier, stat: &stat, blobs: &blobs, snapshot, warn, rejected, onChange)
                } catch let e as EngineError {
                    warn("error: \(e.message)")
                }
            }
        }
    }

    /// Every blob below a subtree both snapshots share (restic's `collectDir`).
    private func collect(_ id: ID, into blobs: inout Set<BlobHandle>, _ warn: (String) -> Void) async throws {
        let tree = try await repository.loadTree(id)
        for node in tree.nodes {
            Self.addBlobs(of: node, to: &blobs)
            if node.type == .dir, let sub = node.subtree {
                do {
                    try await collect(sub, into: &blobs, warn)
                } catch let e as EngineError {
                    warn("error: \(e.message)")
                }
            }
        }
    }

    private static func addBlobs(of node: Node?, to blobs: inout Set<BlobHandle>) {
        guard let node else { return }
        switch node.type {
        case .file:
            for id in node.content ?? [] { blobs.insert(BlobHandle(id: id, type: .data)) }
        case .dir:
            if let sub = node.subtree { blobs.insert(BlobHandle(id: sub, type: .tree)) }
        default:
            break
        }
    }

    private func count(_ blobs: Set<BlobHandle>, into stat: inout Stat, _ warn: (String) -> Void) {
        for h in blobs {
            if h.type == .data { stat.dataBlobs += 1 } else { stat.treeBlobs += 1 }
            guard let size = repository.index.plaintextLength(of: h) else {
                warn("unable to find blob size for <\(h.type)/\(h.id.shortHex)>")
                continue
            }
            stat.bytes &+= UInt64(size)
        }
    }

    /// restic's `Node.Equals`: every field, times compared as instants, extended attributes
    /// as a set.
    static func sameNode(_ a: Node, _ b: Node) -> Bool {
        guard a.name == b.name, a.type == b.type, a.mode == b.mode, a.mtime.sameInstant(as: b.mtime),
            a.atime.sameInstant(as: b.atime), a.ctime.sameInstant(as: b.ctime), a.uid == b.uid, a.gid == b.gid,
            a.user == b.user, a.group == b.group, a.inode == b.inode, a.deviceID == b.deviceID, a.size == b.size,
            a.links == b.links, a.linkTarget == b.linkTarget, a.device == b.device, a.content == b.content,
            a.subtree == b.subtree, a.error == b.error,
            a.extendedAttributes.count == b.extendedAttributes.count
        else { return false }
        var values: [String: [UInt8]] = [:]
        for x in a.extendedAttributes { values[x.name] = x.value }
        var seen: Set<String> = []
        for x in b.extendedAttributes {
            guard let v = values[x.name], v == x.value else { return false }
            seen.insert(x.name)
        }
        return seen.count == values.count
    }
}
