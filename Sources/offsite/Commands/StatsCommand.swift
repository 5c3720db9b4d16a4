import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Scan the repository and show basic statistics.",
        discussion: """
            Walks the snapshots given (ID, unique prefix or "latest"; default: every snapshot \
            matching --host/--tag/--path) and adds up what they hold, counted by --mode:

              restore-size       (default) the files as restored: every file, directory
                                 and link counts; a hard-linked file's size counts once
              files-by-contents  files with distinct contents, each counted once
              raw-data           the blobs used, each once, at their stored size
              blobs-per-file     the blobs of each distinct file, counted per path

            Output and --json fields (total_size, total_file_count, total_blob_count, \
            snapshots_count) are restic 0.14's.

            Examples:
              offsite stats
              offsite stats latest --mode raw-data
              offsite stats --host web-1 --mode files-by-contents --json
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Option(
        name: .long,
        help: ArgumentHelp("Counting mode: restore-size (default), files-by-contents, blobs-per-file or raw-data.", valueName: "mode"))
    var mode = Stats.Mode.restoreSize.rawValue

    @Argument(help: "Snapshot IDs, unique prefixes or \"latest\" (default: all snapshots matching the filter).")
    var snapshots: [String] = []

    func run() async throws {
        guard let countMode = Stats.Mode(rawValue: mode) else {
            // restic returns a plain error here (no "Fatal: " prefix), exit code 1.
            Console.error("unknown counting mode: \(mode) (use the -h flag to get a list of supported modes)")
            throw ExitCode(ExitStatus.fatal)
        }
        try await runCommand {
            let repo = try await RepositoryOpener.open(global)
            if !global.json { Console.out("scanning...") }
            let list = try await FilteredSnapshots.find(repo, filter: filterOptions, ids: snapshots)
            let report: Stats.Report
            do {
                report = try await Stats(repository: repo, options: .init(mode: countMode)).run(
                    snapshots: list.map { ($0.id, $0.snapshot) })
            } catch let e as EngineError {
                Console.error("error walking snapshot: \(e.message)")
                throw ExitCode(ExitStatus.code(for: e))
            }
            for problem in report.problems { Console.error("ignoring error for \(problem)") }
            if global.json {
                Console.out(Self.json(report))
            } else {
                for line in Self.text(report, mode: countMode) { Console.out(line) }
            }
            if !report.problems.isEmpty {
                throw CLIError(message: "There were \(report.problems.count) errors", exitCode: ExitStatus.fatal)
            }
        }
    }

    /// restic's `statsContainer` as `json.Encoder` writes it (`total_blob_count` omitted when 0).
    static func json(_ r: Stats.Report) -> String {
        var w = GoJSONWriter()
        w.beginObject()
        w.field("total_size", r.totalSize)
        w.field("total_file_count", r.totalFileCount)
        w.field("total_blob_count", r.totalBlobCount, omitEmpty: true)
        w.field("snapshots_count", r.snapshotsCount)
        w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// The lines restic 0.14 prints after "scanning...".
    static func text(_ r: Stats.Report, mode: Stats.Mode) -> [String] {
        var lines = ["Stats in \(mode.rawValue) mode:", "Snapshots processed:   \(r.snapshotsCount)"]
        if r.totalBlobCount > 0 { lines.append("   Total Blob Count:   \(r.totalBlobCount)") }
        if r.totalFileCount > 0 { lines.append("   Total File Count:   \(r.totalFileCount)") }
        let size = formatBytes(r.totalSize)
        lines.append("         Total Size:   " + size + String(repeating: " ", count: max(0, 5 - size.count)))
        return lines
    }

    /// restic 0.14's `formatBytes`: a unit is used only above (not at) its size, so 1024 bytes
    /// is "1024 B".
    static func formatBytes(_ c: UInt64) -> String {
        let b = Double(c)
        switch c {
        case ((1 << 40) + 1)...: return String(format: "%.3f TiB", b / Double(1 << 40))
        case ((1 << 30) + 1)...: return String(format: "%.3f GiB", b / Double(1 << 30))
        case ((1 << 20) + 1)...: return String(format: "%.3f MiB", b / Double(1 << 20))
        case ((1 << 10) + 1)...: return String(format: "%.3f KiB", b / Double(1 << 10))
        default: return "\(c) B"
        }
    }
}
