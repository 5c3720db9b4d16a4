import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct LsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the files in a snapshot.",
        discussion: "Example: offsite ls latest --json | jq -r 'select(.type==\"file\") | .path'")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Flag(name: [.short, .long], help: "Long listing: mode, owner, size and time.")
    var long = false

    @Argument(help: "Snapshot ID, unique prefix or \"latest\".")
    var snapshot: String

    func run() async throws {
        try await runCommand {
            let repo = try await RepositoryOpener.open(global)
            let (id, s) = try await repo.findSnapshot(snapshot, filter: filterOptions.filter)
            if global.json {
                var w = GoJSONWriter()
                JSONOutput.snapshot(s, id: id, extra: [("struct_type", "snapshot")], writer: &w)
                Console.out(String(decoding: w.bytes, as: UTF8.self))
            } else if !global.quiet {
                Console.out("snapshot \(id.shortHex) of [\(s.paths.joined(separator: " "))] filtered by [] at \(goTimeString(s.time))):")
            }
            try await walk(repo, tree: s.tree, prefix: "")
        }
    }

    func walk(_ repo: Repository, tree id: ID, prefix: String) async throws {
        let tree = try await repo.loadTree(id)
        for node in tree.nodes {
            let path = prefix + "/" + node.nameString
            print(node, path: path)
            if node.type == .dir, let sub = node.subtree {
                try await walk(repo, tree: sub, prefix: path)
            }
        }
    }

    func print(_ node: Node, path: String) {
        if global.json {
            var w = GoJSONWriter()
            w.beginObject()
            w.field("name", node.nameString)
            w.field("type", node.type.rawValue)
            w.field("path", path)
            w.field("uid", node.uid)
            w.field("gid", node.gid)
            if node.type == .file { w.field("size", node.size) }
            w.field("mode", node.mode)
            w.field("permissions", GoFileMode.string(node.mode))
            w.field("mtime", node.mtime)
            w.field("atime", node.atime)
            w.field("ctime", node.ctime)
            w.field("struct_type", "node")
            w.endObject()
            Console.out(String(decoding: w.bytes, as: UTF8.self))
        } else if long {
            func right(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
            let user = node.user.isEmpty ? String(node.uid) : node.user
            let group = node.group.isEmpty ? String(node.gid) : node.group
            var line =
                "\(GoFileMode.string(node.mode)) \(right(user, 5)) \(right(group, 5)) \(right(String(node.size), 6)) \(node.mtime.displayString) \(path)"
            if node.type == .symlink { line += " -> \(node.linkTargetString)" }
            Console.out(line)
        } else {
            Console.out(path)
        }
    }
}
