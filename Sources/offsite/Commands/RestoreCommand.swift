import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteSync

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot into a directory.",
        discussion: """
            Every needed pack is read once and every blob verified (MAC and SHA-256) before it is \
            written. Files are written under temporary names (.offsite-restore-*) and renamed into \
            place when complete, so an interrupted restore never leaves a truncated file that looks \
            restored; running the same restore again finishes the job and does not rewrite files \
            that are already right. A file that cannot be restored (damaged or missing pack) is \
            reported by name, everything else is restored, and the exit code is 1.

            --overwrite: always (default: rewrite existing files whose content differs), if-changed \
            (trust files with the same size and mtime), if-newer (only if the snapshot's file is \
            newer), never.

            Examples:
              offsite restore latest --target /tmp/restore
              offsite restore 1c8cc776:/srv/app/config --target /tmp/config
              offsite restore latest --host web-1 --path /srv/app --target /tmp/app \\
                --include '*.conf'
              offsite restore latest --target /srv/app --delete --dry-run -v
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Option(name: [.short, .long], help: "Directory to restore into (created if missing).")
    var target: String

    @Option(name: [.short, .long], help: ArgumentHelp("Restore only items matching the pattern (may be repeated).", valueName: "pattern"))
    var include: [String] = []

    @Option(name: .long, help: ArgumentHelp("Like --include, ignoring case.", valueName: "pattern"))
    var iinclude: [String] = []

    @Option(name: [.short, .long], help: ArgumentHelp("Leave out items matching the pattern (may be repeated).", valueName: "pattern"))
    var exclude: [String] = []

    @Option(name: .long, help: ArgumentHelp("Like --exclude, ignoring case.", valueName: "pattern"))
    var iexclude: [String] = []

    @Option(name: .customLong("include-file"), help: ArgumentHelp("Read include patterns from a file.", valueName: "file"))
    var includeFile: [String] = []

    @Option(
        name: .customLong("iinclude-file"), help: ArgumentHelp("Read case-insensitive include patterns from a file.", valueName: "file"))
    var iincludeFile: [String] = []

    @Option(name: .customLong("exclude-file"), help: ArgumentHelp("Read exclude patterns from a file.", valueName: "file"))
    var excludeFile: [String] = []

    @Option(
        name: .customLong("iexclude-file"), help: ArgumentHelp("Read case-insensitive exclude patterns from a file.", valueName: "file"))
    var iexcludeFile: [String] = []

    @Option(name: .long, help: "What to do with existing files: always, if-changed, if-newer or never.")
    var overwrite = "always"

    @Flag(name: .long, help: "Delete files in the target that are not in the snapshot (selected by the filters).")
    var delete = false

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Show what would be done; change nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Read every restored file back and check it against the snapshot.")
    var verify = false

    @Flag(name: .long, help: "Restore runs of zeros as holes.")
    var sparse = false

    @Argument(help: "Snapshot ID, unique prefix or \"latest\", optionally followed by :subpath.")
    var snapshot: String

    func run() async throws {
        try await runCommand {
            try await restore()
        }
    }

    func restore() async throws {
        guard let mode = Restore.Overwrite(rawValue: overwrite) else {
            throw CLIError.fatal("invalid --overwrite \"\(overwrite)\": use always, if-changed, if-newer or never")
        }
        guard !(dryRun && verify) else { throw CLIError.fatal("--dry-run and --verify are mutually exclusive") }
        let cwd = SystemInfo.workingDirectory
        let (ref, subpath) = splitSnapshotRef(snapshot)
        let repo = try await RepositoryOpener.open(global)
        let found = try await repo.findSnapshot(ref, filter: filterOptions.filter)
        var options = Restore.Options(snapshotID: found.id, target: target)
        options.subpath = subpath
        options.overwrite = mode
        options.delete = delete
        options.dryRun = dryRun
        options.verify = verify
        options.sparse = sparse
        options.filter = RestoreFilter(
            includes: include + (try RestoreFilter.patterns(fromFiles: includeFile, workingDirectory: cwd)),
            insensitiveIncludes: iinclude + (try RestoreFilter.patterns(fromFiles: iincludeFile, workingDirectory: cwd)),
            excludes: exclude + (try RestoreFilter.patterns(fromFiles: excludeFile, workingDirectory: cwd)),
            insensitiveExcludes: iexclude + (try RestoreFilter.patterns(fromFiles: iexcludeFile, workingDirectory: cwd)))
        if !global.json && !global.quiet {
            let s = found.snapshot
            Console.out(
                "restoring <Snapshot \(found.id.shortHex) of [\(s.paths.joined(separator: " "))] at \(goTimeString(s.time)) by \(s.username)@\(s.hostname)> to \(target)"
            )
        }
        let started = Date()
        let progress = RestoreProgress(json: global.json, enabled: !global.quiet)
        let report = try await Restore(repository: repo, options: options) { progress.update($0) }.run()
        progress.finish()
        if dryRun && global.verbose > 0 {
            for path in report.deletions { Console.out("would delete \(path)") }
        }
        for e in report.errors + report.verifyFailures {
            if global.json { progress.error(e) } else { Console.error("ignoring error for \(e)") }
        }
        let elapsed = Date().timeIntervalSince(started)
        if global.json {
            var w = GoJSONWriter()
            w.beginObject()
            w.field("message_type", "summary")
            w.field("seconds_elapsed", Int(elapsed))
            w.field("total_files", report.totalFiles)
            w.field("files_restored", report.filesRestored)
            w.field("files_skipped", report.filesSkipped + report.filesUnchanged)
            w.field("files_deleted", report.filesDeleted)
            w.field("total_bytes", report.totalBytes)
            w.field("bytes_restored", report.bytesRestored)
            w.field("bytes_skipped", report.bytesSkipped)
            if dryRun { w.key("dry_run"); w.bool(true) }
            w.endObject()
            Console.out(String(decoding: w.bytes, as: UTF8.self))
        } else if !global.quiet {
            let verb = dryRun ? "Would restore" : "Restored"
            var line =
                "Summary: \(verb) \(report.filesRestored + report.directories + report.otherItems) files/dirs (\(Console.bytes(report.bytesRestored))) in \(Console.duration(elapsed))"
            if report.filesUnchanged + report.filesSkipped > 0 {
                line += ", skipped \(report.filesUnchanged + report.filesSkipped) files/dirs \(Console.bytes(report.bytesSkipped))"
            }
            if report.filesDeleted > 0 { line += ", \(dryRun ? "would delete" : "deleted") \(report.filesDeleted) files/dirs" }
            Console.out(line)
            if verify { Console.out("verified \(report.filesRestored + report.filesUnchanged - report.verifyFailures.count) files") }
        }
        let failures = report.errors.count + report.verifyFailures.count
        if failures > 0 {
            throw CLIError(message: "There were \(failures) errors", exitCode: ExitStatus.fatal)
        }
    }
}

/// Restore progress: a status line on a terminal, or restic's `--json` status lines.
final class RestoreProgress: Sendable {
    let json: Bool
    let enabled: Bool
    private let last = Mutex(Date.distantPast)
    private let shown = Mutex(false)
    private let start = Date()

    init(json: Bool, enabled: Bool) {
        self.json = json
        self.enabled = enabled && (json || Console.stderrIsTerminal)
    }

    func update(_ p: Restore.Progress) {
        guard enabled else { return }
        let now = Date()
        let due = last.withLock { l -> Bool in
            guard now.timeIntervalSince(l) >= 0.25 else { return false }
            l = now
            return true
        }
        guard due else { return }
        shown.withLock { $0 = true }
        let elapsed = now.timeIntervalSince(start)
        let fraction = p.totalBytes > 0 ? Double(p.bytes) / Double(p.totalBytes) : 0
        if json {
            var w = GoJSONWriter()
            w.beginObject()
            w.field("message_type", "status")
            w.field("seconds_elapsed", Int(elapsed))
            w.key("percent_done"); w.raw(Array(String(format: "%.6f", fraction).utf8))
            w.field("total_files", p.totalFiles)
            w.field("files_restored", p.files)
            w.field("total_bytes", p.totalBytes)
            w.field("bytes_restored", p.bytes)
            w.endObject()
            Console.out(String(decoding: w.bytes, as: UTF8.self))
        } else {
            var line = "[\(Console.duration(elapsed))] " + String(format: "%.2f%%", fraction * 100)
            line += "  \(p.files) / \(p.totalFiles) files  \(Console.bytes(p.bytes)) / \(Console.bytes(p.totalBytes))"
            if elapsed > 0 { line += "  \(Console.bytes(Int(Double(p.bytes) / elapsed)))/s" }
            if fraction > 0.01 { line += "  ETA \(Console.duration(elapsed / fraction - elapsed))" }
            FileHandle.standardError.write(Data(("\r\u{1b}[2K" + line).utf8))
        }
    }

    func error(_ message: String) {
        Console.error(JSONOutput.errorLine(message, during: "restore"))
    }

    func finish() {
        if !json && shown.withLock({ $0 }) { FileHandle.standardError.write(Data("\r\u{1b}[2K".utf8)) }
    }
}
