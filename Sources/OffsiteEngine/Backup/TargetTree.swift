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

    /// Builds the tree for cleaned targets (duplicates ignored), then expands leaves that also
    /// have children (a target inside another target).
    /// Relative targets are read relative to `cwd`.
    static func build(targets: [String], cwd: String) throws -> TargetTree {
        let tree = TargetTree()
        var seen = Set<String>()
        for target in targets {
            let t = PathName.clean(target)
            if !seen.insert(t).inserted { continue }
            try tree.addTop(t)
        }
        try tree.unroll(cwd: cwd)
        return tree
    }

    /// restic's `rootDirectory`: `/` for absolute paths, `.` or `../..` for relative ones.
    static func rootDirectory(_ target: String) -> String {
        if target.hasPrefix("/") { return "/" }
        var rel = "."
        for c in target.split(separator: "/") where c == ".." { rel += "/.." }
        return rel
    }

    private func addTop(_ target: String) throws {
        let pc = PathName.components(PathName.clean("/" + target))
        guard !pc.isEmpty else { throw EngineError(.invalidArgument, "invalid backup path \"\(target)\" (no path components)") }
        let root = Self.rootDirectory(target)
        var name = pc[0]
        var subtree = TargetTree()
        subtree.root = root
        var i = 0
        while let other = children[Array(name.utf8)] {
            i += 1
            if other.root == root {
                subtree = other
                break
            }
            name = "\(pc[0])-\(i)"
        }
        if pc.count > 1 {
            let subroot = (root == "/" ? "/" : root + "/") + pc[0]
            try subtree.add(target: target, root: subroot, components: Array(pc.dropFirst()))
            subtree.infoPath = FSPath(subroot)
        } else {
            subtree.path = FSPath(target)
        }
        children[Array(name.utf8)] = subtree
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
