public import Foundation
public import OffsiteEngine
public import OffsiteFormat
public import OffsiteStorage

#if canImport(Glibc)
import Glibc
#endif

/// One entry of a crafted tree. Names are bytes and are stored exactly as given: empty, `.`,
/// `..`, with `/` or NUL, twice in one tree, in any order.
public indirect enum CraftedNode: Sendable {
    case file([UInt8], content: [UInt8])
    case dir([UInt8], [CraftedNode])
    case symlink([UInt8], to: [UInt8])
    case fifo([UInt8])
    /// A file that is one name of a hard-linked inode: every `hardlink` with the same `inode`
    /// in a snapshot is the same file.
    case hardlink([UInt8], content: [UInt8], inode: UInt64)
    /// A node stored as given (sizes, content IDs, subtree and type are not checked).
    case node(Node)

    public static func file(_ name: String, _ content: String) -> CraftedNode { .file(Array(name.utf8), content: Array(content.utf8)) }
    public static func dir(_ name: String, _ children: [CraftedNode]) -> CraftedNode { .dir(Array(name.utf8), children) }
    public static func symlink(_ name: String, to target: String) -> CraftedNode { .symlink(Array(name.utf8), to: Array(target.utf8)) }
}

/// A repository holding crafted trees, as a holder of its key could write them: valid keys,
/// packs, index and MACs, written through the engine's own pack writer, with tree blobs that
/// hold exactly the nodes a test describes, in its order, unchecked. The hostile-repository
/// tests and the `restore` fuzz target build their cases with it.
public struct CraftedRepository: Sendable {
    public let repository: Repository

    public init(repository: Repository) { self.repository = repository }

    /// A new repository in the directory `path` (restic and the offsite binary can open it with
    /// `TestRepository.password`), or in memory when `path` is nil. Cheap scrypt parameters.
    public static func create(at path: String? = nil) async throws -> CraftedRepository {
        let backend: any StorageBackend
        if let path {
            let local = LocalBackend(path: path)
            try await local.create()
            backend = local
        } else {
            backend = MemoryBackend()
        }
        return CraftedRepository(repository: try await TestRepository.make(backend: backend))
    }

    /// An existing repository in the directory `path`, its index loaded: to add a crafted
    /// snapshot to a repository a test made otherwise.
    public static func open(at path: String, password: String) async throws -> CraftedRepository {
        let repository = try await Repository.open(backend: LocalBackend(path: path), password: password)
        try await repository.loadIndex()
        return CraftedRepository(repository: repository)
    }

    /// Stores `nodes` (and everything below them) and a snapshot whose root tree holds them.
    @discardableResult
    public func snapshot(
        _ nodes: [CraftedNode], paths: [String] = ["/crafted"], time: GoTime = GoTime(seconds: 1_700_000_000), hostname: String = "crafted",
        tags: [String] = []
    ) async throws -> ID {
        try await snapshot(tree: try await storeTree(nodes), paths: paths, time: time, hostname: hostname, tags: tags)
    }

    /// Stores a tree holding `nodes` in the given order; returns its ID.
    public func storeTree(_ nodes: [CraftedNode]) async throws -> ID {
        let (id, _) = try await repository.withPackUploader { uploader in try await Self.tree(nodes, uploader) }
        return id
    }

    /// Stores a chain of `depth` directories named `name`, each the only entry of the one above
    /// it, with `leaf` in the deepest; returns the tree of the top one (a tree holding the first
    /// directory). Built bottom up without recursion, in one pack writer.
    public func storeChain(depth: Int, name: [UInt8], leaf: [CraftedNode]) async throws -> ID {
        let (id, _) = try await repository.withPackUploader { uploader in
            var tree = try await Self.tree(leaf, uploader)
            for _ in 0..<depth {
                var node = Node(name: name, type: .dir)
                node.mode = GoFileMode.dir | 0o755
                node.subtree = tree
                tree = try await Self.tree([.node(Self.stamped(node))], uploader)
            }
            return tree
        }
        return id
    }

    /// Stores a snapshot of the tree `tree`.
    @discardableResult
    public func snapshot(
        tree: ID, paths: [String] = ["/crafted"], time: GoTime = GoTime(seconds: 1_700_000_000), hostname: String = "crafted",
        tags: [String] = []
    ) async throws -> ID {
        let snapshot = Snapshot(time: time, tree: tree, paths: paths, hostname: hostname, username: "root", tags: tags)
        return try await repository.saveJSON(.snapshots, snapshot.json)
    }

    /// Stores a data blob; returns its ID.
    public func storeData(_ bytes: [UInt8]) async throws -> ID {
        let id = ID.hash(bytes)
        _ = try await repository.withPackUploader { uploader in try await uploader.save(.data, bytes, id: id) }
        return id
    }

    private static func tree(_ nodes: [CraftedNode], _ uploader: PackUploader) async throws -> ID {
        var out: [Node] = []
        for crafted in nodes { out.append(try await node(crafted, uploader)) }
        let json = Tree.json(of: out)
        let id = ID.hash(json)
        try await uploader.save(.tree, json, id: id)
        return id
    }

    private static func node(_ crafted: CraftedNode, _ uploader: PackUploader) async throws -> Node {
        switch crafted {
        case .file(let name, let content), .hardlink(let name, let content, _):
            var node = Node(name: name, type: .file)
            node.mode = 0o644
            node.size = UInt64(content.count)
            node.content = content.isEmpty ? [] : [ID.hash(content)]
            if !content.isEmpty { try await uploader.save(.data, content, id: ID.hash(content)) }
            if case .hardlink(_, _, let inode) = crafted {
                node.inode = inode
                node.deviceID = 1
                node.links = 2
            }
            return stamped(node)
        case .dir(let name, let children):
            var node = Node(name: name, type: .dir)
            node.mode = GoFileMode.dir | 0o755
            node.subtree = try await tree(children, uploader)
            return stamped(node)
        case .symlink(let name, let target):
            var node = Node(name: name, type: .symlink)
            node.mode = GoFileMode.symlink | 0o777
            node.linkTarget = target
            return stamped(node)
        case .fifo(let name):
            var node = Node(name: name, type: .fifo)
            node.mode = GoFileMode.namedPipe | 0o644
            return stamped(node)
        case .node(let node):
            return node
        }
    }

    /// The restoring user as owner and a fixed time, so restores need no privileges.
    private static func stamped(_ node: Node) -> Node {
        var node = node
        node.uid = getuid()
        node.gid = getgid()
        node.mtime = GoTime(seconds: 1_700_000_000)
        node.atime = node.mtime
        node.ctime = node.mtime
        return node
    }
}
