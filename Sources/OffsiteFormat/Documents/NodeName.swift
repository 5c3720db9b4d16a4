/// The one rule for node names that become paths.
///
/// A tree is untrusted input: anyone holding a repository key can write one, and the holder of a
/// backed-up server's key is exactly who is compromised when its backups are needed. A name is
/// turned into a path (restore, dump, ls, find, diff, stats, repair) only if it is one path
/// component: not empty, not `.` or `..`, without `/` or NUL. Within one tree a name is used
/// once: the first node of a name is taken and a later one of the same name is rejected, so two
/// entries can never claim one path (a symlink `x` and a directory `x` whose files would be
/// written through it).
public enum NodeName {
    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        case empty
        case dot
        case dotDot
        case slash
        case nul
        /// A second node of a name already taken in the same tree.
        case duplicate

        public var description: String {
            switch self {
            case .empty: "an empty name"
            case .dot: "the name \".\" (the directory itself)"
            case .dotDot: "the name \"..\" (the parent directory)"
            case .slash: "a name containing \"/\""
            case .nul: "a name containing a NUL byte"
            case .duplicate: "a name an earlier entry of the directory already has (the earlier one is used)"
            }
        }
    }

    /// What is wrong with `name` as a single path component, or nil when it is one.
    public static func problem(_ name: [UInt8]) -> Problem? {
        switch name.count {
        case 0: return .empty
        case 1 where name[0] == 0x2E: return .dot
        case 2 where name[0] == 0x2E && name[1] == 0x2E: return .dotDot
        default: break
        }
        for b in name {
            if b == 0x2F { return .slash }
            if b == 0 { return .nul }
        }
        return nil
    }

    /// A node left out of a tree's usable entries, and why.
    public struct Rejection: Sendable, Equatable {
        public var node: Node
        public var problem: Problem

        /// The message for a user: the snapshot, the directory in it (`parent`, a path from the
        /// snapshot's root, "/" for the root) and the entry, quoted so that control bytes show.
        public func message(snapshot: ID?, parent: String) -> String {
            let dir = parent.isEmpty ? "/" : parent
            let prefix = snapshot.map { "snapshot \($0.shortHex): " } ?? ""
            return prefix + "directory \(GoQuote.quoted(Array(dir.utf8))) holds entry \(GoQuote.quoted(node.name)) with \(problem): "
                + "skipped (the tree is damaged or was crafted; offsite check reports it)"
        }
    }
}

extension Tree {
    /// The nodes whose names may become paths, in tree order, and the others with the reason
    /// (`NodeName`). Every caller that builds a path from a node name goes through this.
    public var usableNodes: (nodes: [Node], rejected: [NodeName.Rejection]) {
        var nodes: [Node] = []
        nodes.reserveCapacity(self.nodes.count)
        var rejected: [NodeName.Rejection] = []
        // restic writes trees sorted with unique names: then no name repeats and no set is needed.
        var seen: Set<[UInt8]>? = isSortedAndUnique ? nil : []
        for node in self.nodes {
            if let problem = NodeName.problem(node.name) {
                rejected.append(.init(node: node, problem: problem))
            } else if seen?.insert(node.name).inserted == false {
                rejected.append(.init(node: node, problem: .duplicate))
            } else {
                nodes.append(node)
            }
        }
        return (nodes, rejected)
    }
}
