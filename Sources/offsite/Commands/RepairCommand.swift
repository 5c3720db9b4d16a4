import ArgumentParser
import Foundation
import OffsiteEngine

/// `repair index` (and restic 0.14's name for it, `rebuild-index`).
struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Repair the repository.",
        subcommands: [RepairIndexCommand.self])
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
            try await runCancellable {
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
