import ArgumentParser
import Foundation
import OffsiteEngine

struct UnlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock",
        abstract: "Remove stale locks that other processes left behind.",
        discussion: """
            A lock is stale when it was not refreshed for 30 minutes (a running command refreshes \
            its lock every 5 minutes) or when it was taken on this host by a process that no longer \
            exists. Stale locks still block exclusive commands (and exclusive stale locks block \
            everything), as in restic, until they are removed here.

            --remove-all removes every lock, including those of commands that are still running: \
            use it only when you know nothing else uses the repository.

            Example: offsite unlock
            """)

    @OptionGroup var global: GlobalOptions

    @Flag(name: .customLong("remove-all"), help: "Remove all locks, even those of running commands.")
    var removeAll = false

    func run() async throws {
        try await runCommand {
            let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: .none)
            let removed = try await RepositoryLock.removeLocks(repo, all: removeAll)
            if !removed.isEmpty && !global.quiet {
                Console.out("successfully removed \(removed.count) locks")
            }
        }
    }
}
