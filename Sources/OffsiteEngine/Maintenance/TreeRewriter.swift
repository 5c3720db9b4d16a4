import Foundation
import OffsiteFormat

/// Writes a changed copy of a directory tree, as restic's tree rewriter (`internal/walker`,
/// restic 0.16+) does for `repair snapshots`.
///
/// The walk is depth first, in the stored order of each tree. Every node is offered to
/// `rewriteNode`, which returns it (changed or not) or nil to leave it out; directories are then
/// walked in turn and get the ID of their rewritten tree. Each resulting tree is encoded again
/// with offsite's encoder (byte-identical to restic's) and handed to `save`, so a tree in which
/// nothing changed keeps its ID: the caller learns whether anything changed by comparing the
/// root's ID with the old one. As in restic, fields offsite does not know are not kept.
///
/// A tree that cannot be loaded (not in the index, its pack missing or damaged, its JSON
/// unreadable) goes to `rewriteFailedTree`, which decides what to store instead: an encoded tree
/// (saved like the others), or nil for "none" (a directory node then gets no subtree). A directory without a subtree
/// counts as a tree that cannot be loaded. Cancellation is never taken for a damaged tree: it
/// is thrown.
///
/// Trees that were rewritten are remembered (old ID → new ID) across calls, so a tree shared by
/// several directories or snapshots is walked, reported and saved once. Failed trees are not
/// remembered: `rewriteFailedTree` sees every place they occur.
///
/// A node whose name `NodeName` rejects (it could not be restored: empty, `.`, `..`, with `/`
/// or NUL, or a name an earlier node of the tree has) is left out and handed to
/// `rewriteRejected`. The remaining nodes are written in name order, as restic writes trees;
/// one that `rewriteNode` renames out of order makes `rewrite` throw, naming the node.
struct TreeRewriter {
    /// Returns the node to store, or nil to leave it out. The path is the node's path from the
    /// root (`/dir/file`), joined as Go's `path.Join` does.
    var rewriteNode: (Node, _ path: [UInt8]) -> Node?
    /// Returns the encoded tree to store for a tree that cannot be loaded, or nil for none.
    var rewriteFailedTree: (_ path: [UInt8], _ error: any Error) -> Data?
    /// Learns of each node left out for its name, with its directory's path.
    var rewriteRejected: (NodeName.Rejection, _ directory: [UInt8]) -> Void

    /// Trees already rewritten: old ID → new ID.
    private var replaced: [ID: ID] = [:]

    init(
        rewriteNode: @escaping (Node, _ path: [UInt8]) -> Node?,
        rewriteFailedTree: @escaping (_ path: [UInt8], _ error: any Error) -> Data?,
        rewriteRejected: @escaping (NodeName.Rejection, _ directory: [UInt8]) -> Void = { _, _ in }
    ) {
        self.rewriteNode = rewriteNode
        self.rewriteFailedTree = rewriteFailedTree
        self.rewriteRejected = rewriteRejected
    }

    /// Rewrites the tree `id` found at `path` and returns the ID of the tree to store instead
    /// (the same ID when nothing changed). `load` reads a tree; `save` stores an encoded tree
    /// blob and returns its ID. Throws cancellation, what `save` throws, and unencodable trees.
    mutating func rewrite(
        _ id: ID?, at path: [UInt8], load: (ID) async throws -> Tree, save: (Data) async throws -> ID
    ) async throws -> ID? {
        if let id, let done = replaced[id] { return done }
        let tree: Tree
        do {
            guard let id else { throw EngineError(.notFound, "directory has no subtree") }
            tree = try await load(id)
        } catch {
            if error is CancellationError || Task.isCancelled { throw CancellationError() }
            // Only damage (a missing or corrupt tree) is repaired. A tree out of reach for
            // now (network, permissions) stops the repair: emptying a directory because a
            // request timed out would throw away data that is still there.
            if let e = error as? EngineError, e.code != .invalidData && e.code != .notFound { throw e }
            guard let replacement = rewriteFailedTree(path, error) else { return nil }
            return try await save(replacement)
        }

        var w = GoJSONWriter()
        w.beginObject()
        w.key("nodes")
        w.beginArray()
        var last: [UInt8] = []
        var (nodes, rejected) = tree.usableNodes
        for r in rejected { rewriteRejected(r, path) }
        // Names are unique now: a tree stored out of order is written sorted, as restic writes
        // trees (a sorted tree keeps its order, so an unchanged tree keeps its ID).
        if !tree.isSortedAndUnique { nodes.sort { $0.name.lexicographicallyPrecedes($1.name) } }
        for original in nodes {
            try Task.checkCancellation()
            let nodePath = GoFilepath.join(path, original.name)
            guard var node = rewriteNode(original, nodePath) else { continue }
            // restic's tree builder: names strictly increasing (the first one not empty).
            guard last.lexicographicallyPrecedes(node.name) else {
                throw EngineError(
                    .invalidData,
                    "node \(GoQuote.quoted(node.name)), last \(GoQuote.quoted(last)): nodes are not ordered or duplicate")
            }
            last = node.name
            if node.type == .dir {
                node.subtree = try await rewrite(node.subtree, at: nodePath, load: load, save: save)
            }
            node.write(to: &w)
        }
        w.endArray()
        w.endObject()
        var json = w.bytes
        json.append(UInt8(ascii: "\n"))
        let newID = try await save(Data(json))
        if let id { replaced[id] = newID }
        return newID
    }
}
