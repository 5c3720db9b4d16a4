import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct DumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print a backed-up file to stdout, or a directory as a tar or zip archive.",
        discussion: """
            PATH is a path inside the snapshot, as `offsite ls` prints it. A file is written to \
            stdout as its bytes, streamed blob by blob (any size, little memory). A directory is \
            written as an archive of everything below it (tar by default, --archive zip), each \
            entry named by its path from the snapshot root; "/" archives the whole snapshot. \
            Archives keep names, modes (with setuid/setgid/sticky), owners, modification times, \
            symlinks and, in tar, extended attributes; they are byte-identical to restic's. \
            Archives are never written to a terminal: redirect or pipe stdout. An entry the \
            snapshot should not hold (a name that would climb out of the archive or repeat \
            another, a directory without its tree) is left out and named on stderr, and the exit \
            code is 1.

            The snapshot is an ID, a unique prefix or "latest" (the newest matching --host, \
            --tag and --path), optionally followed by :subfolder to make PATH relative to it.

            Examples:
              offsite dump latest /etc/hosts
              offsite dump 1c8cc776 /srv/app/db.sqlite > db.sqlite
              offsite dump latest /srv/app | tar -tv
              offsite dump --archive zip --host web-1 latest /srv/app > app.zip
              offsite dump latest / | tar -x -C /tmp/everything
              offsite dump latest:/srv/app config.yml
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Option(name: [.short, .long], help: ArgumentHelp("Archive format for directories: tar or zip.", valueName: "format"))
    var archive = "tar"

    @Argument(help: "Snapshot ID, unique prefix or \"latest\", optionally followed by :subfolder.")
    var snapshot: String

    @Argument(help: "Path of the file or directory inside the snapshot.")
    var path: String

    func run() async throws {
        try await runCommand {
            try await dump()
        }
    }

    func dump() async throws {
        guard let format = Dump.Format(rawValue: archive) else {
            throw CLIError.fatal("unknown archive format \"\(archive)\" (use tar or zip)")
        }
        let (ref, subfolder) = splitSnapshotRef(snapshot)
        let repo = try await RepositoryOpener.open(global)
        let found: (id: ID, snapshot: Snapshot)
        do {
            found = try await repo.findSnapshot(ref, filter: filterOptions.filter)
        } catch let e as EngineError where e.code == .notFound || e.code == .ambiguous {
            throw CLIError.fatal("failed to find snapshot: \(e.message)")
        }
        var root = found.snapshot.tree
        if let subfolder, let node = try await repo.findNode(tree: root, subpath: subfolder) {
            guard node.type == .dir, let sub = node.subtree else {
                throw CLIError.fatal("path \"\(subfolder)\" of snapshot \(found.id.shortHex) is not a directory")
            }
            root = sub
        }
        let out = StandardOutput()
        var dumper = Dump(repository: repo, format: format)
        dumper.snapshotID = found.id
        var problems = 0
        do {
            try await dumper.run(root: root, path: path, to: out) {
                if StandardOutput.isTerminal { throw CLIError.fatal("stdout is the terminal, please redirect output") }
            } onProblem: { message in
                problems += 1
                Console.error("ignoring error for \(message)")
            }
            try out.flush()
        } catch let e as CLIError {
            throw CLIError(message: "cannot dump file: \(e.message)", exitCode: e.exitCode)
        } catch let e as EngineError {
            throw EngineError(e.code, "cannot dump file: \(e.message)", storageCode: e.storageCode)
        }
        if problems > 0 {
            throw CLIError(message: "There were \(problems) errors", exitCode: ExitStatus.fatal)
        }
    }
}
