/// The shape of a snapshot's root, built from the backup targets the way restic builds it:
/// each target's path components become nested directories (`/srv/app` → `srv` → `app`),
/// intermediate directories take their metadata from the real directory, targets sharing a
/// prefix share the intermediate nodes, and a target inside another target is merged into it.
final class TargetTree {
    /// Children by name.
    var children: [[UInt8]: TargetTree] = [:]
    /// Set on leaves: the filesystem path whose contents go here.
    var path: FSPath?
    /// Set on intermediate directories: where to read their metadata.
    var infoPath: FSPath?
    /// The directory that holds the first component (`/` for absolute targets).
    var root: String = ""

    init() {}

    /// Builds the tree for the targets (cleaned; duplicates ignored), then expands leaves that
    /// also have children (a target inside another target). Relative targets are read relative
    /// to `cwd`. A target with no name of its own (`.`, `..`, `/`) stands for its entries, in
    /// bytewise order, as restic's `resolveRelativeTargets` has it: `backup .` puts the working
    /// directory's entries at the snapshot's root.
    static func build(targets: [String], cwd: String) throws -> TargetTree {
        let tree = TargetTree()
        var seen = Set<[UInt8]>()
        for target in targets.map(PathName.clean) {
            let pc = PathName.components(PathName.clean("/" + target))
            guard pc.isEmpty else {
                if seen.insert(Array(target.utf8)).inserted { try tree.addTop(target, components: pc) }
                continue
            }
            let dir = target.hasPrefix("/") ? FSPath(target) : FSPath(cwd).appending(target)
            let root = rootDirectory(target)
            for entry in try FileSystem.readDirectory(dir).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let path = target == "." ? FSPath(bytes: entry) : FSPath(target).appending(entry)
                guard seen.insert(path.bytes).inserted else { continue }
                let (name, node) = tree.topSlot(entry, root: root)
                node.path = path
                tree.children[name] = node
            }
        }
        try tree.unroll(cwd: cwd)
        return tree
    }

    /// restic's `rootDirectory`: `/` for absolute paths, `.` or `./..` for relative ones.
    static func rootDirectory(_ target: String) -> String {
        if target.hasPrefix("/") { return "/" }
        var rel = "."
        for c in target.split(separator: "/") where c == ".." { rel += "/.." }
        return rel
    }

    /// The root-level node for a target whose first component is `first`: the one already there
    /// for the same root directory, or a new one, renamed `first-1`, `first-2`… while the name is
    /// taken by another root's (`/srv` and a relative `srv` both back up).
    private func topSlot(_ first: [UInt8], root: String) -> ([UInt8], TargetTree) {
        var name = first
        var i = 0
        while let other = children[name] {
            i += 1
            if other.root == root { return (name, other) }
            name = first + Array("-\(i)".utf8)
        }
        let node = TargetTree()
        node.root = root
        return (name, node)
    }

    private func addTop(_ target: String, components pc: [String]) throws {
        let root = Self.rootDirectory(target)
        let (name, subtree) = topSlot(Array(pc[0].utf8), root: root)
        if pc.count > 1 {
            let subroot = (root == "/" ? "/" : root + "/") + pc[0]
            try subtree.add(target: target, root: subroot, components: Array(pc.dropFirst()))
            subtree.infoPath = FSPath(subroot)
        } else {
            subtree.path = FSPath(target)
        }
        children[name] = subtree
    }

    private func add(target: String, root: String, components pc: [String]) throws {
        let name = Array(pc[0].utf8)
        if pc.count == 1 {
            let node = children[name] ?? TargetTree()
            if node.path != nil { throw EngineError(.invalidArgument, "backup path \(target) is given twice") }
            node.path = FSPath(target)
            children[name] = node
            return
        }
        let node = children[name] ?? TargetTree()
        let subroot = root + "/" + pc[0]
        node.infoPath = FSPath(subroot)
        try node.add(target: target, root: subroot, components: Array(pc.dropFirst()))
        children[name] = node
    }

    private func unroll(cwd: String) throws {
        if let path, !children.isEmpty {
            let resolved = path.bytes.first == UInt8(ascii: "/") ? path : FSPath(cwd).appending(path.bytes)
            for entry in try FileSystem.readDirectory(resolved) {
                let full = path.appending(entry)
                if let node = children[entry] {
                    if node.path == nil { node.path = full; continue }
                    if node.path == full { continue }
                    throw EngineError(.invalidArgument, "backup targets collide at \(full)")
                }
                let leaf = TargetTree()
                leaf.path = full
                children[entry] = leaf
            }
            self.path = nil
        }
        for child in children.values { try child.unroll(cwd: cwd) }
    }

    var isLeaf: Bool { path != nil }

    /// Child names in bytewise order.
    var sortedNames: [[UInt8]] { children.keys.sorted { $0.lexicographicallyPrecedes($1) } }
}
