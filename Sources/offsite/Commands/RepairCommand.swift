import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

/// `repair index` (and restic 0.14's name for it, `rebuild-index`) and `repair snapshots`.
struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Repair the repository.",
        subcommands: [RepairIndexCommand.self, RepairSnapshotsCommand.self])
}

struct RepairIndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Rebuild the index from the packs in the repository.",
        discussion: """
            Use it when check reports damaged or missing index files, or packs that no index \
            mentions. Index files that still load are trusted for packs whose size matches; \
            every other pack's header is read. New index files are written before the old ones \
            are deleted, so an interruption leaves a usable repository. Holds an exclusive lock.

            Examples:
              offsite repair index
              offsite repair index --read-all-packs
              offsite rebuild-index            (restic 0.14's name)
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .customLong("read-all-packs"), help: "Read every pack's header instead of trusting the index files.")
    var readAllPacks = false

    func run() async throws {
        try await Self.rebuild(global, readAllPacks: readAllPacks)
    }

    static func rebuild(_ global: GlobalOptions, readAllPacks: Bool) async throws {
        try await runCommand {
            let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: .exclusive)
            let quiet = global.quiet
            let repair = RepairIndex(repository: repo, readAllPacks: readAllPacks) { event in
                switch event {
                case .phase(let text): if !quiet { Console.out(text) }
                case .warning(let text): Console.error(text)
                }
            }
            _ = try await repair.run()
            if !quiet { Console.out("done") }
        }
    }
}

struct RebuildIndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild-index",
        abstract: "Rebuild the index from the packs (the same as `repair index`).")

    @OptionGroup var global: GlobalOptions

    @Flag(name: .customLong("read-all-packs"), help: "Read every pack's header instead of trusting the index files.")
    var readAllPacks = false

    func run() async throws {
        try await RepairIndexCommand.rebuild(global, readAllPacks: readAllPacks)
    }
}

/// `repair snapshots` as restic 0.16+ has it; see `RepairSnapshots` for the rules.
struct RepairSnapshotsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshots",
        abstract: "Repair snapshots: write copies without the data that is gone.",
        discussion: """
            Walks the snapshots given (ID, unique prefix or "latest"; by default every snapshot \
            matching --host/--tag/--path) and saves a repaired copy of each one that refers to \
            something the repository no longer has. The rules are restic's: a file whose data \
            blobs are not all in the index keeps the blobs that are, in order, and its size \
            becomes theirs (restored, it is shorter: the lost chunks are cut out); a directory \
            whose tree cannot be loaded becomes an empty directory; a snapshot whose root tree \
            cannot be loaded is removed. Snapshots that lack nothing are left alone.

            The new snapshot has "original" set to the old snapshot's ID. With --forget the old \
            snapshot is removed once the new one is saved; without it both stay, and the new one \
            gets the tag "repaired" (remove the old one later with `offsite forget ID`). This is \
            what restic does. Run `offsite prune` afterwards to free the space the old snapshots \
            used.

            Run `offsite repair index` first: the repair trusts the index to say which blobs \
            exist. Repairing loses data for good: if the files still exist on the machine they \
            came from, run a new backup instead, which stores the missing data again and heals \
            the old snapshots too; repair a snapshot only when you need it and its source is gone.

            New trees are stored and indexed before the new snapshot is written, and the old \
            snapshot is removed last, so an interruption leaves a valid repository. Holds an \
            exclusive lock; --dry-run (-n) takes no lock and writes nothing.

            Examples:
              offsite repair index
              offsite repair snapshots --dry-run
              offsite repair snapshots --forget
              offsite repair snapshots --host web-1 --tag nightly
              offsite repair snapshots 1c8cc776 latest
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Do not do anything, just print what would be done.")
    var dryRun = false

    @Flag(name: .customLong("forget"), help: "Remove the original snapshots after saving the repaired ones.")
    var forget = false

    @Argument(help: "Snapshot IDs, unique prefixes or \"latest\" (default: all snapshots matching the filter).")
    var snapshots: [String] = []

    func run() async throws {
        try await runCommand {
            try await repair()
        }
    }

    private func repair() async throws {
        let repo = try await RepositoryOpener.open(global, lock: dryRun ? .none : .exclusive)
        let list = try await FilteredSnapshots.find(repo, filter: filterOptions, ids: snapshots)
        var options = RepairSnapshots.Options()
        options.dryRun = dryRun
        options.forget = forget
        options.compression = Zstd.Level(rawValue: try global.compressionLevel().rawValue) ?? .auto
        options.targetPackSize = try global.packSizeBytes()
        let quiet = global.quiet
        let repair = RepairSnapshots(repository: repo, options: options) { event in
            if !quiet { Console.out(Self.message(event)) }
        }
        let report = try await repair.run(snapshots: list)
        guard !quiet else { return }
        let n = report.modified
        Console.out("")
        switch (n, dryRun) {
        case (0, false): Console.out("no snapshots were modified")
        case (0, true): Console.out("no snapshots would be modified")
        case (_, false): Console.out("modified \(n) snapshots")
        case (_, true): Console.out("would modify \(n) snapshots")
        }
    }

    /// restic's line (lines, for a snapshot's header) for an event.
    static func message(_ event: RepairSnapshots.Event) -> String {
        let q: ([UInt8]) -> String = GoQuote.quoted
        switch event {
        case .snapshot(let id, let s):
            let paths = "[" + s.paths.joined(separator: " ") + "]"
            return "\nsnapshot \(id.shortHex) of \(paths) at \(goTimeString(s.time)) by \(s.username)@\(s.hostname)"
        case .removedInvalidNode(let path, let type): return "  file \(q(path)): removed node with invalid type \(GoQuote.quoted(type))"
        case .removedMissingContent(let path): return "  file \(q(path)): removed missing content"
        case .fixedIncorrectSize(let path): return "  file \(q(path)): fixed incorrect size"
        case .removedUnsafeName(let directory, let name, let problem): return "  dir \(q(directory)): removed entry \(q(name)): \(problem)"
        case .rootNotReadable: return "  dir \"/\": not readable"
        case .replacedWithEmptyDirectory(let path): return "  dir \(q(path)): replaced with empty directory"
        case .wouldDeleteEmptySnapshot: return "would delete empty snapshot"
        case .removedEmptySnapshot(let id): return "removed empty snapshot \(id.shortHex)"
        case .wouldSaveNewSnapshot: return "would save new snapshot"
        case .wouldRemoveOldSnapshot: return "would remove old snapshot"
        case .savedNewSnapshot(let id): return "saved new snapshot \(id.shortHex)"
        case .removedOldSnapshot(let id): return "removed old snapshot \(id.shortHex)"
        }
    }
}
