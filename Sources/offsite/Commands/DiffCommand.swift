import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show differences between two snapshots.",
        discussion: """
            Lists what changed from the first snapshot to the second, one item per line, with \
            restic's markers:
              +  the item was added
              -  the item was removed
              M  the file's content was modified
              U  only the metadata (mode, times, owner, …) changed (shown with --metadata)
              T  the type changed, e.g. a file became a symlink

            Directories end in "/". A summary follows: items added and removed, files changed, \
            and the blobs (with their size) that only one of the snapshots references, which is \
            roughly what forgetting the older snapshot frees.

            Snapshots are IDs, unique prefixes or "latest"; ID:subfolder compares one folder.

            Examples:
              offsite diff 1c8cc776 5d2e9a01
              offsite diff --metadata 1c8cc776 latest
              offsite diff 1c8cc776:/srv/app 5d2e9a01:/srv/app
              offsite diff --json 1c8cc776 5d2e9a01 |
                jq -r 'select(.message_type=="change") | .path'
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .long, help: "Also show items whose metadata changed (U).")
    var metadata = false

    @Argument(help: "The first snapshot (ID, prefix or \"latest\", optionally :subfolder).")
    var first: String?

    @Argument(help: "The second snapshot.")
    var second: String?

    func run() async throws {
        try await runCommand {
            try await diff()
        }
    }

    func diff() async throws {
        guard let first, let second else { throw CLIError.fatal("specify two snapshot IDs") }
        let repo = try await RepositoryOpener.open(global)
        let (id1, root1) = try await resolve(repo, first)
        let (id2, root2) = try await resolve(repo, second)
        let out = StandardOutput()
        if !global.json && !global.quiet { try out.print("comparing snapshot \(id1.shortHex) to \(id2.shortHex):\n\n") }
        var differ = SnapshotDiff(repository: repo, includeMetadata: metadata)
        differ.fromSnapshot = id1
        differ.toSnapshot = id2
        var rejected = 0
        let report = try await differ.run(from: root1, to: root2) { warning in
            Console.error(warning)
        } onRejected: { message in
            rejected += 1
            Console.error("ignoring error for \(message)")
        } onChange: { change in
            if global.quiet { return }
            if global.json {
                var w = GoJSONWriter()
                w.beginObject()
                w.field("message_type", "change")
                w.key("path")
                w.string(bytes: change.path)
                w.field("modifier", change.modifier)
                w.endObject()
                try out.write(w.bytes + [0x0A])
            } else {
                let marker = change.modifier + String(repeating: " ", count: max(0, 5 - change.modifier.count))
                try out.write(Array(marker.utf8) + change.path + [0x0A])
            }
        }
        if global.json {
            var w = GoJSONWriter()
            w.beginObject()
            w.field("message_type", "statistics")
            w.field("source_snapshot", first)
            w.field("target_snapshot", second)
            w.field("changed_files", report.changedFiles)
            for (key, stat) in [("added", report.added), ("removed", report.removed)] {
                w.key(key)
                w.beginObject()
                w.field("files", stat.files)
                w.field("dirs", stat.dirs)
                w.field("others", stat.others)
                w.field("data_blobs", stat.dataBlobs)
                w.field("tree_blobs", stat.treeBlobs)
                w.field("bytes", stat.bytes)
                w.endObject()
            }
            w.endObject()
            try out.write(w.bytes + [0x0A])
        } else {
            func n(_ v: Int) -> String { String(repeating: " ", count: max(0, 5 - String(v).count)) + String(v) }
            let a = report.added, r = report.removed
            try out.print(
                """

                Files:       \(n(a.files)) new, \(n(r.files)) removed, \(n(report.changedFiles)) changed
                Dirs:        \(n(a.dirs)) new, \(n(r.dirs)) removed
                Others:      \(n(a.others)) new, \(n(r.others)) removed
                Data Blobs:  \(n(a.dataBlobs)) new, \(n(r.dataBlobs)) removed
                Tree Blobs:  \(n(a.treeBlobs)) new, \(n(r.treeBlobs)) removed
                  Added:   \(Self.bytes(a.bytes))
                  Removed: \(Self.bytes(r.bytes))

                """)
        }
        try out.flush()
        if rejected > 0 { throw CLIError(message: "There were \(rejected) errors", exitCode: ExitStatus.fatal) }
    }

    /// The snapshot and the tree to compare: its root, or the folder after `:`.
    func resolve(_ repo: Repository, _ ref: String) async throws -> (ID, ID) {
        let (name, subfolder) = splitSnapshotRef(ref)
        let found = try await repo.findSnapshot(name)
        guard let subfolder, let node = try await repo.findNode(tree: found.snapshot.tree, subpath: subfolder) else {
            return (found.id, found.snapshot.tree)
        }
        guard node.type == .dir, let sub = node.subtree else {
            throw CLIError.fatal("path \"\(subfolder)\" of snapshot \(found.id.shortHex) is not a directory")
        }
        return (found.id, sub)
    }

    /// restic 0.14's `formatBytes`, padded to five characters as `%-5s` does.
    static func bytes(_ c: UInt64) -> String {
        let b = Double(c)
        let s: String
        switch c {
        case (1 << 40 + 1)...: s = String(format: "%.3f TiB", b / Double(1 << 40))
        case (1 << 30 + 1)...: s = String(format: "%.3f GiB", b / Double(1 << 30))
        case (1 << 20 + 1)...: s = String(format: "%.3f MiB", b / Double(1 << 20))
        case (1 << 10 + 1)...: s = String(format: "%.3f KiB", b / Double(1 << 10))
        default: s = "\(c) B"
        }
        return s + String(repeating: " ", count: max(0, 5 - s.count))
    }
}
