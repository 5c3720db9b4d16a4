import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct TagCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag",
        abstract: "Modify tags on snapshots.",
        discussion: """
            Sets (--set), adds (--add) or removes (--remove) tags on the snapshots given (ID, \
            unique prefix or "latest"), or, when none is given, on every snapshot matching \
            --host/--tag/--path. Each flag takes tag[,tag,...] and may be repeated.

            A snapshot whose tags change is written again under a new ID, with "original" naming \
            its first version, and the old file is removed afterwards: a failure never loses a \
            snapshot. offsite takes no repository lock yet (restic takes an exclusive one): do not \
            run it while a prune or forget is running on the same repository.

            Examples:
              offsite tag latest --add verified
              offsite tag --tag nightly --remove nightly --add weekly
              offsite tag 1c8cc776 --set release-2.4
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Tags that replace the existing ones (tag[,tag,...]; may be repeated).", valueName: "tags"))
    var setTags: [String] = []

    @Option(name: .customLong("add"), help: ArgumentHelp("Tags to add (tag[,tag,...]; may be repeated).", valueName: "tags"))
    var addTags: [String] = []

    @Option(name: .customLong("remove"), help: ArgumentHelp("Tags to remove (tag[,tag,...]; may be repeated).", valueName: "tags"))
    var removeTags: [String] = []

    @Argument(help: "Snapshot IDs, unique prefixes or \"latest\" (default: all snapshots matching the filter).")
    var snapshots: [String] = []

    func run() async throws {
        try await runCommand {
            // restic checks the flags as given, before dropping empty tags: `--set ""` passes.
            if setTags.isEmpty && addTags.isEmpty && removeTags.isEmpty { throw CLIError.fatal("nothing to do!") }
            if !setTags.isEmpty && !(addTags.isEmpty && removeTags.isEmpty) {
                throw CLIError.fatal("--set and --add/--remove cannot be given at the same time")
            }
            let options = Tag.Options(
                set: setTags.flatMap(splitTagList), add: addTags.flatMap(splitTagList), remove: removeTags.flatMap(splitTagList))
            let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: .exclusive)
            let list = try await FilteredSnapshots.find(repo, filter: filterOptions, ids: snapshots)
            let report = await Tag(repository: repo, options: options).run(snapshots: list)
            for failure in report.failures {
                Console.error(
                    "unable to modify the tags for snapshot ID \(GoQuote.quoted(failure.id.hex)), ignoring: \(failure.message)")
            }
            if !global.quiet {
                Console.out(report.changed.isEmpty ? "no snapshots were modified" : "modified tags on \(report.changed.count) snapshots")
            }
        }
    }
}
