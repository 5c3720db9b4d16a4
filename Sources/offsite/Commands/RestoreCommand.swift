import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot into a directory.",
        discussion: """
            Every blob is verified (MAC and SHA-256) as it is read; a damaged file is reported and \
            the restore goes on with the rest (exit code 3).

            Examples:
              offsite restore latest --target /tmp/restore
              offsite restore 1c8cc776:/srv/app/config --target /tmp/config
              offsite restore latest --host web-1 --path /srv/app --target /tmp/app
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Option(name: [.short, .long], help: "Directory to restore into (created if missing).")
    var target: String

    @Argument(help: "Snapshot ID, unique prefix or \"latest\", optionally followed by :subpath.")
    var snapshot: String

    func run() async throws {
        try await runCommand {
            let (ref, subpath) = splitSnapshotRef(snapshot)
            let repo = try await RepositoryOpener.open(global)
            let found = try await repo.findSnapshot(ref, filter: filterOptions.filter)
            if !global.json && !global.quiet {
                let s = found.snapshot
                Console.out(
                    "restoring <Snapshot \(found.id.shortHex) of [\(s.paths.joined(separator: " "))] at \(goTimeString(s.time)) by \(s.username)@\(s.hostname)> to \(target)"
                )
            }
            var options = Restore.Options(snapshotID: found.id, target: target)
            options.subpath = subpath
            let report = try await Restore(repository: repo, options: options).run()
            for e in report.errors { Console.error("ignoring error for \(e)") }
            if global.json {
                var w = GoJSONWriter()
                w.beginObject()
                w.field("message_type", "summary")
                w.field("total_files", report.files + report.directories + report.otherItems)
                w.field("files_restored", report.files + report.directories + report.otherItems)
                w.field("total_bytes", report.bytes)
                w.field("bytes_restored", report.bytes)
                w.endObject()
                Console.out(String(decoding: w.bytes, as: UTF8.self))
            }
            if !report.errors.isEmpty {
                Console.error("Fatal: There were \(report.errors.count) errors")
                throw ExitCode(ExitStatus.partial)
            }
        }
    }
}
