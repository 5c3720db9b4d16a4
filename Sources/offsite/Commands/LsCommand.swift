import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

/// restic 0.14's `ls SNAPSHOT [DIR...]`.
///
/// The tree is walked in name order from the root. Without DIR every item is printed. With DIRs
/// (absolute paths, cleaned as Go's `filepath.Clean` does) an item is printed when its path is
/// one of them or lies below one; the directories above a DIR are walked through but not
/// printed, and a printed directory is only descended into when it leads to a DIR further down
/// or `--recursive` is given. So `ls S /a` prints `/a` and its direct children, `ls S /a/f`
/// prints just the file, and a DIR that is not in the snapshot prints nothing (exit 0).
///
/// As in restic, a snapshot reference that does not resolve is reported on stderr and nothing
/// is listed (exit 0). The JSON snapshot line carries the snapshot's `program_version` and
/// `summary` when it has them, as newer restic versions print them (restic 0.14 drops fields it
/// does not know).
struct LsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the files in a snapshot.",
        usage: "offsite ls [<options>] <snapshot> [<dir> ...]",
        discussion: """
            With DIR arguments (absolute paths, starting with /) only those directories and \
            their direct contents are listed; --recursive lists everything below them too.

            Examples:
              offsite ls latest
              offsite ls --long latest /home/me/projects
              offsite ls latest /etc --recursive --json |
                jq -r 'select(.type=="file") | .path'
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Flag(name: [.short, .long], help: "Long listing: mode, uid, gid, size and modification time.")
    var long = false

    @Flag(name: .long, help: "Include files in subfolders of the listed directories.")
    var recursive = false

    @Argument(help: "Snapshot ID, unique prefix or \"latest\".")
    var snapshot: String?

    @Argument(help: "Absolute directories to list (default: everything).")
    var dirs: [String] = []

    func run() async throws {
        try await runCommand {
            try await list()
        }
    }

    func list() async throws {
        guard let snapshot else {
            throw CLIError.fatal("no snapshot ID specified, specify snapshot ID or use special ID 'latest'")
        }
        for dir in dirs where !dir.hasPrefix("/") {
            throw CLIError.fatal("All path filters must be absolute, starting with a forward slash '/'")
        }
        let filter = LsDirectoryFilter(dirs: dirs)
        let repo = try await RepositoryOpener.open(global)
        let out = StandardOutput()
        defer { try? out.flush() }
        var rejected = 0
        for (id, s) in try await FilteredSnapshots.find(repo, filter: filterOptions, ids: [snapshot]) {
            if global.json {
                var w = GoJSONWriter()
                JSONOutput.snapshot(s, id: id, extra: [("struct_type", "snapshot")], writer: &w)
                try out.write(w.bytes + [0x0A])
            } else if !global.quiet {
                let paths = "[" + s.paths.joined(separator: " ") + "]"
                let filtered = "[" + dirs.joined(separator: " ") + "]"
                try out.print("snapshot \(id.shortHex) of \(paths) filtered by \(filtered) at \(goTimeString(s.time))):\n")
            }
            let root = try await repo.loadTree(s.tree)
            try await walk(repo, root, prefix: [UInt8(ascii: "/")]) { parent, rejection in
                rejected += 1
                Console.error("ignoring error for \(rejection.message(snapshot: id, parent: String(decoding: parent, as: UTF8.self)))")
            } visit: { path, node in
                // restic's walk function: print what is inside a DIR (and, with --recursive,
                // keep going below it); walk on towards DIRs further down; skip the rest.
                if filter.contains(path) {
                    try printNode(path, node, to: out)
                    if recursive { return true }
                }
                return filter.leadsTo(path)
            }
        }
        try out.flush()
        if rejected > 0 { throw CLIError(message: "There were \(rejected) errors", exitCode: ExitStatus.fatal) }
    }

    /// restic 0.14's `walker.Walk`: each tree's nodes in name order; a directory's subtree is
    /// loaded before `visit` decides whether to descend into it (so an unreadable subtree fails
    /// the listing even when it would be skipped, as in restic). Nodes `NodeName` rejects are
    /// handed to `onRejected` with their directory's path and not listed.
    func walk(
        _ repo: Repository, _ tree: Tree, prefix: [UInt8], onRejected: ([UInt8], NodeName.Rejection) -> Void,
        visit: ([UInt8], Node) throws -> Bool
    ) async throws {
        let (usable, rejected) = tree.usableNodes
        for r in rejected { onRejected(prefix, r) }
        var nodes = usable
        if !zip(nodes, nodes.dropFirst()).allSatisfy({ !$1.name.lexicographicallyPrecedes($0.name) }) {
            nodes.sort { $0.name.lexicographicallyPrecedes($1.name) }
        }
        for node in nodes {
            try Task.checkCancellation()
            let path = GoPath.join(prefix, node.name)
            guard node.type == .dir else {
                _ = try visit(path, node)
                continue
            }
            guard let sub = node.subtree else {
                throw CLIError.fatal(
                    "subtree for node \(node.nameString) in tree \(String(decoding: path, as: UTF8.self)) is nil")
            }
            let subtree = try await repo.loadTree(sub)
            if try visit(path, node) {
                try await walk(repo, subtree, prefix: path, onRejected: onRejected, visit: visit)
            }
        }
    }

    func printNode(_ path: [UInt8], _ node: Node, to out: StandardOutput) throws {
        if global.json {
            try out.write(Self.nodeJSON(path, node) + [0x0A])
        } else {
            try out.write((long ? FindPrinter.longLine(path, node) : path) + [0x0A])
        }
    }

    /// One node line of `ls --json`: name, type, path, uid, gid, size (regular files only, even
    /// when 0), mode (left out when 0), permissions, the three times and `struct_type`.
    static func nodeJSON(_ path: [UInt8], _ node: Node) -> [UInt8] {
        var w = GoJSONWriter()
        w.beginObject()
        w.key("name")
        w.string(bytes: node.name)
        w.field("type", node.type.rawValue)
        w.key("path")
        w.string(bytes: path)
        w.field("uid", node.uid)
        w.field("gid", node.gid)
        if node.type == .file { w.field("size", node.size) }
        w.field("mode", node.mode, omitEmpty: true)
        w.field("permissions", GoFileMode.string(node.mode))
        w.field("mtime", node.mtime)
        w.field("atime", node.atime)
        w.field("ctime", node.ctime)
        w.field("struct_type", "node")
        w.endObject()
        return w.bytes
    }
}

/// restic 0.14's DIR arguments of `ls`, compared as `fs.HasPathPrefix` does: on cleaned
/// absolute paths, component by component.
struct LsDirectoryFilter {
    let dirs: [[UInt8]]

    init(dirs: [String]) { self.dirs = dirs.map { GoPath.clean(Array($0.utf8)) } }

    /// The item (a clean absolute path) is one of the DIRs or below one: it is printed.
    /// Everything is, without DIRs.
    func contains(_ path: [UInt8]) -> Bool {
        dirs.isEmpty || dirs.contains { Self.hasPathPrefix($0, path) }
    }

    /// A DIR is this directory (a clean absolute path) or below it: it is walked into.
    /// Everything is, without DIRs.
    func leadsTo(_ path: [UInt8]) -> Bool {
        dirs.isEmpty || dirs.contains { Self.hasPathPrefix(path, $0) }
    }

    /// `base` equals `path` or is one of its ancestors (both clean and absolute).
    static func hasPathPrefix(_ base: [UInt8], _ path: [UInt8]) -> Bool {
        if base == path || base == [UInt8(ascii: "/")] { return true }
        return path.count > base.count && path.starts(with: base) && path[base.count] == UInt8(ascii: "/")
    }
}

/// Go's `path.Clean` and `path.Join` on bytes.
enum GoPath {
    /// On Unix, `path.Clean` is `filepath.Clean`.
    static func clean(_ path: [UInt8]) -> [UInt8] { GoFilepath.clean(path[...]) }

    /// `path.Join(a, b)`; the fast path assumes an absolute `a` is already clean.
    static func join(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        // The usual case: a clean absolute prefix and a plain name.
        let slash = UInt8(ascii: "/")
        if a.first == slash, a.count == 1 || a.last != slash, !b.isEmpty, !b.contains(slash), b != [0x2E], b != [0x2E, 0x2E] {
            return a.count == 1 ? a + b : a + [slash] + b
        }
        if a.isEmpty && b.isEmpty { return [] }
        if a.isEmpty { return clean(b) }
        if b.isEmpty { return clean(a) }
        return clean(a + [UInt8(ascii: "/")] + b)
    }
}
