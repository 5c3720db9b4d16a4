import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat
import Synchronization

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Create a new snapshot of files and directories.",
        discussion: """
            Reads each path, splits files into content-defined chunks, stores only chunks the \
            repository does not have yet (encrypted, compressed in repository v2), and records a \
            snapshot. Unreadable files are reported and skipped; the snapshot is still saved and \
            the exit code is 3. A path that does not exist is skipped with a warning (exit code 3); \
            if none exists, nothing is saved (exit code 1).

            Examples:
              offsite backup /etc /var/lib/app --tag nightly
              offsite backup ./site --host web-1 --time "2026-01-02 03:04:05"
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "Add tags to the snapshot (may be repeated; a,b adds two tags).")
    var tag: [String] = []

    @Option(name: [.customShort("H"), .long], help: "Host name to record (default: this machine's).")
    var host: String?

    @Option(name: .long, help: ArgumentHelp("Record this time instead of now, as \"YYYY-MM-DD HH:MM:SS\" (local time).", valueName: "time"))
    var time: String?

    @Flag(name: .customLong("with-atime"), help: "Store the access time of files and directories.")
    var withAtime = false

    @Argument(help: "Files and directories to back up.")
    var paths: [String] = []

    func run() async throws {
        try await runCommand {
            guard !paths.isEmpty else { throw CLIError.fatal("nothing to backup, please specify target files/dirs") }
            var options = Backup.Options(paths: paths)
            options.tags = tag.flatMap { $0.split(separator: ",").map(String.init) }.filter { !$0.isEmpty }
            options.hostname = host
            options.withAtime = withAtime
            options.compression = Zstd.Level(rawValue: try global.compressionLevel().rawValue) ?? .auto
            options.packSize = try global.packSizeBytes()
            if let time {
                guard let t = Self.parseTime(time) else {
                    throw CLIError.fatal("unable to parse time \"\(time)\": use \"YYYY-MM-DD HH:MM:SS\"")
                }
                options.time = t
            }
            let repo = try await RepositoryOpener.open(global)
            let started = Date()
            let progress = ProgressPrinter(json: global.json, enabled: !global.quiet)
            if !global.json && !global.quiet { Console.out("no parent snapshot found, will read all files") }
            let report = try await Backup(repository: repo, options: options) { p in progress.update(p) }.run()
            progress.finish()
            for p in report.skippedTargets { Console.error("\(p) does not exist, skipping") }
            for e in report.errors { Console.error("error: \(e)") }
            let elapsed = Date().timeIntervalSince(started)
            if global.json {
                var w = GoJSONWriter()
                w.beginObject()
                w.field("message_type", "summary")
                w.field("files_new", report.filesNew)
                w.field("files_changed", report.filesChanged)
                w.field("files_unmodified", report.filesUnmodified)
                w.field("dirs_new", report.dirsNew)
                w.field("dirs_changed", report.dirsChanged)
                w.field("dirs_unmodified", report.dirsUnmodified)
                w.field("data_blobs", report.dataBlobs)
                w.field("tree_blobs", report.treeBlobs)
                w.field("data_added", report.dataAdded)
                w.field("data_added_packed", report.dataAddedPacked)
                w.field("total_files_processed", report.totalFilesProcessed)
                w.field("total_bytes_processed", report.totalBytesProcessed)
                w.key("total_duration"); w.raw(Array(String(format: "%.9f", elapsed).utf8))
                w.field("snapshot_id", report.snapshotID.hex)
                w.endObject()
                Console.out(String(decoding: w.bytes, as: UTF8.self))
            } else if !global.quiet {
                func pad(_ n: Int) -> String { String(repeating: " ", count: max(0, 5 - String(n).count)) + String(n) }
                Console.out(
                    """

                    Files:       \(pad(report.filesNew)) new, \(pad(report.filesChanged)) changed, \(pad(report.filesUnmodified)) unmodified
                    Dirs:        \(pad(report.dirsNew)) new, \(pad(report.dirsChanged)) changed, \(pad(report.dirsUnmodified)) unmodified
                    Added to the repository: \(Console.bytes(report.dataAdded)) (\(Console.bytes(report.dataAddedPacked)) stored)

                    processed \(report.totalFilesProcessed) files, \(Console.bytes(report.totalBytesProcessed)) in \(Console.duration(elapsed))
                    snapshot \(report.snapshotID.shortHex) saved
                    """)
            }
            if !report.isComplete {
                if !report.errors.isEmpty { Console.error("Warning: at least one source file could not be read") }
                throw ExitCode(ExitStatus.partial)
            }
        }
    }

    /// "YYYY-MM-DD HH:MM:SS" in local time.
    static func parseTime(_ s: String) -> GoTime? {
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "-" || $0 == ":" }).compactMap { Int($0) }
        guard parts.count == 6 else { return nil }
        // Resolve the local offset for that wall time (two passes cover DST edges).
        var t = GoTime(
            year: Int64(parts[0]), month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5], utcOffset: 0)
        let guess = GoTime.localOffset(at: t.seconds)
        t = GoTime(
            year: Int64(parts[0]), month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5], utcOffset: guess)
        let offset = GoTime.localOffset(at: t.seconds)
        return GoTime(
            year: Int64(parts[0]), month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5], utcOffset: offset)
    }
}

/// Progress for long backups: a status line on a terminal (at most twice a second), or
/// `{"message_type":"status",…}` lines with --json.
final class ProgressPrinter: Sendable {
    let json: Bool
    let enabled: Bool
    private let state = Mutex<(last: Date, shown: Bool)>((Date.distantPast, false))
    private let start = Date()

    init(json: Bool, enabled: Bool) {
        self.json = json
        self.enabled = enabled && (json || Console.stderrIsTerminal)
    }

    func update(_ p: Backup.Progress) {
        guard enabled else { return }
        let now = Date()
        let due = state.withLock { s -> Bool in
            guard now.timeIntervalSince(s.last) >= 0.5 else { return false }
            s.last = now
            s.shown = true
            return true
        }
        guard due else { return }
        let elapsed = Console.duration(now.timeIntervalSince(start))
        if json {
            var w = GoJSONWriter()
            w.beginObject()
            w.field("message_type", "status")
            w.key("seconds_elapsed"); w.int(Int(now.timeIntervalSince(start)))
            w.field("files_done", p.files)
            w.field("bytes_done", p.bytes)
            w.key("current_files"); w.stringArray([p.currentPath])
            w.endObject()
            Console.out(String(decoding: w.bytes, as: UTF8.self))
        } else {
            let line = "[\(elapsed)] \(p.files) files \(Console.bytes(p.bytes)), \(p.directories) dirs"
            FileHandle.standardError.write(Data(("\r\u{1b}[2K" + line).utf8))
        }
    }

    func finish() {
        if !json && state.withLock({ $0.shown }) { FileHandle.standardError.write(Data("\r\u{1b}[2K".utf8)) }
    }
}
