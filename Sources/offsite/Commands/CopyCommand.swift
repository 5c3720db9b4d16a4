import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteSync

/// `copy`: restic 0.14's copy of snapshots between repositories.
struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy snapshots from one repository to another.",
        discussion: """
            Copies snapshots from the source repository (--from-repo) into the repository given \
            with -r / RESTIC_REPOSITORY, for example to keep a second copy with another provider. \
            Only data the destination does not have yet is read, verified and written, and a \
            snapshot copied before (by offsite or restic) is skipped, so running the same copy \
            every night transfers only what is new.

            The two repositories have different keys, so everything copied is downloaded and \
            uploaded again. Files are not chunked again either: for the copies to deduplicate \
            against backups made directly into the destination, create the destination with \
            `offsite init --copy-chunker-params --from-repo SOURCE`.

            Packs and index are written before each snapshot, so an interrupted copy leaves a \
            valid destination (at worst with unreferenced packs that prune removes) and running \
            it again finishes the job. Both repositories are locked (shared).

            Examples:
              offsite -r /srv/offsite-copy copy --from-repo /srv/backup \\
                --from-password-file /etc/offsite/source-password
              RESTIC_FROM_REPOSITORY=/srv/backup RESTIC_FROM_PASSWORD=... \\
                offsite -r /mnt/usb/repo copy latest
              offsite -r /srv/offsite-copy copy --from-repo /srv/backup \\
                --host db1 --tag nightly
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var secondary: SecondaryRepositoryOptions
    @OptionGroup var filter: SnapshotFilterOptions

    @Argument(help: "Snapshots to copy (IDs, prefixes or latest); default: all that match the filters.")
    var snapshots: [String] = []

    func run() async throws {
        try await runCommand {
            let other = try await secondary.resolve(legacyRole: "destination")
            // With --from-repo, -r is the destination; with restic's older --repo2, -r is the source.
            let source: Repository
            let destination: Repository
            if other.isFromRepo {
                source = try await RepositoryOpener.open(global, other: other)
                destination = try await RepositoryOpener.open(global, lock: .shared)
            } else {
                source = try await RepositoryOpener.open(global)
                destination = try await RepositoryOpener.open(global, lock: .shared, other: other)
            }
            let existing = try await FilteredSnapshots.find(destination, filter: filter, ids: [])
            let chosen = try await FilteredSnapshots.find(source, filter: filter, ids: snapshots)

            let verbose = !global.quiet
            let progress = Mutex<CounterProgress?>(nil)
            var copy = Copy(source: source, destination: destination) { event in
                switch event {
                case .snapshot(let id, let s):
                    if verbose {
                        Console.out("\nsnapshot \(id.shortHex) of [\(s.paths.joined(separator: " "))] at \(goTimeString(s.time)))")
                    }
                case .skipped(let id, let existing):
                    if verbose {
                        Console.out("skipping source snapshot \(id.shortHex), was already copied to snapshot \(existing.shortHex)")
                    }
                case .copying(let packs):
                    if verbose { Console.out("  copy started, this may take a while...") }
                    let bar = CounterProgress("packs copied", show: verbose)
                    bar.setTotal(packs)
                    progress.withLock { $0 = bar }
                case .packCopied:
                    progress.withLock { $0 }?.add()
                case .saved(_, let new):
                    progress.withLock { p in
                        p?.done()
                        p = nil
                    }
                    if verbose { Console.out("snapshot \(new.shortHex) saved") }
                }
            }
            copy.compression = Zstd.Level(rawValue: try global.compressionLevel().rawValue) ?? .auto
            copy.targetPackSize = try global.packSizeBytes()
            _ = try await copy.run(chosen, existing: existing)
        }
    }
}
