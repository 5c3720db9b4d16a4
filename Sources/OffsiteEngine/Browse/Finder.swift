public import OffsiteFormat

/// restic's `find PATTERN…`: the files, directories and other items of a snapshot whose path
/// matches any of the patterns.
///
/// A pattern is matched against the item's whole path from the snapshot root (`/srv/app/a.yml`)
/// with restic's filter rules: `/`-separated Go `filepath.Match` components (`*`, `?`, `[a-z]`,
/// `\` escapes, none crossing a `/`), `**` for any number of directories, a leading `/` anchors
/// at the root, a relative pattern matches at any depth, and a pattern that matches a
/// directory also matches what is below it. So `config.json` finds every file of that name,
/// `*.go` every Go file, `/etc/*` the top of /etc and all below it.
///
/// A directory's tree is loaded when the walk reaches it; the walk does not go below a
/// directory no pattern can reach below (absolute patterns only). Items are visited in tree
/// order (names sorted bytewise), a directory before its contents.
public struct Finder: Sendable {
    public struct Query: Sendable {
        public var patterns: [String]
        /// Lower-case patterns and paths before matching (Go's `strings.ToLower`).
        public var ignoreCase = false
        /// Only items modified at or after this time.
        public var oldest: GoTime?
        /// Only items modified at or before this time.
        public var newest: GoTime?

        public init(patterns: [String], ignoreCase: Bool = false, oldest: GoTime? = nil, newest: GoTime? = nil) {
            self.patterns = patterns
            self.ignoreCase = ignoreCase
            self.oldest = oldest
            self.newest = newest
        }
    }

    public let repository: Repository
    public let query: Query
    let patterns: [Pattern]

    /// Throws `.invalidArgument` naming the first malformed pattern (an unclosed or empty
    /// `[...]` class, a trailing backslash).
    public init(repository: Repository, query: Query) throws {
        self.repository = repository
        self.query = query
        patterns = query.patterns.map { text in
            let bytes = Array(text.utf8)
            return Pattern(bytes: query.ignoreCase ? GoFilepath.toLower(bytes) : bytes)
        }
        for (p, text) in zip(patterns, query.patterns) where !p.isValid {
            throw EngineError(.invalidArgument, "pattern \"\(text)\" is malformed (syntax error in pattern)")
        }
    }

    /// Walks the tree `root` and calls `onMatch` with the path (bytes, starting with `/`) and the
    /// node of every match. A tree that cannot be loaded is reported to `onTreeError` with the
    /// ID of the tree that refers to it (restic's wording names that one), and skipped. A node
    /// whose name `NodeName` rejects goes to `onRejected` with its directory's path, and is not
    /// searched.
    public func search(
        root: ID, onTreeError: (ID, any Error) throws -> Void, onRejected: ([UInt8], NodeName.Rejection) throws -> Void = { _, _ in },
        onMatch: ([UInt8], Node) throws -> Void
    ) async throws {
        let tree: Tree
        do {
            tree = try await repository.loadTree(root)
        } catch let e as EngineError {
            try onTreeError(root, e)
            return
        }
        try await walk(tree, id: root, prefix: [UInt8(ascii: "/")], onTreeError: onTreeError, onRejected: onRejected, onMatch: onMatch)
    }

    private func walk(
        _ tree: Tree, id: ID, prefix: [UInt8], onTreeError: (ID, any Error) throws -> Void,
        onRejected: ([UInt8], NodeName.Rejection) throws -> Void, onMatch: ([UInt8], Node) throws -> Void
    ) async throws {
        let (nodes, rejected) = tree.usableNodes
        for r in rejected { try onRejected(prefix, r) }
        for node in nodes {
            try Task.checkCancellation()
            let path = GoFilepath.join(prefix, node.name)
            var subtree: Tree?
            if node.type == .dir {
                guard let sub = node.subtree else {
                    throw EngineError(
                        .invalidData, "subtree for node \(node.nameString) in tree \(String(decoding: path, as: UTF8.self)) is nil")
                }
                do {
                    subtree = try await repository.loadTree(sub)
                } catch let e as EngineError {
                    try onTreeError(id, e)
                    continue
                }
            }
            let normalized = query.ignoreCase ? GoFilepath.toLower(path) : path
            let matched = try patterns.contains { try $0.matches(FSPath(bytes: normalized)) }
            if matched && inTimeRange(node) {
                try onMatch(path, node)
            } else if node.type != .dir {
                continue
            } else if try !patterns.contains(where: { try $0.childMayMatch(FSPath(bytes: normalized)) }) {
                continue
            }
            if let subtree, let sub = node.subtree {
                try await walk(subtree, id: sub, prefix: path, onTreeError: onTreeError, onRejected: onRejected, onMatch: onMatch)
            }
        }
    }

    private func inTimeRange(_ node: Node) -> Bool {
        if let oldest = query.oldest, node.mtime < oldest { return false }
        if let newest = query.newest, newest < node.mtime { return false }
        return true
    }
}
