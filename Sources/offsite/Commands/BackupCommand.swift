import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Create a new snapshot of files and directories, or of a stream.",
        discussion: """
            Files that did not change since the parent snapshot (same size, mtime, ctime and \
            inode) are not read again. The rest is split into content-defined chunks; only chunks \
            the repository does not have yet are stored (encrypted, and compressed in repository v2).

            The parent is the latest snapshot of this host that covers the same paths; --parent \
            picks another, --force reads everything.

            Unreadable files are reported and skipped; the snapshot is still saved and the exit \
            code is 3. A path that does not exist is skipped with a warning (exit code 3); if none \
            exists, nothing is saved (exit code 1). Ctrl-C stops cleanly (exit code 130): the \
            repository stays valid and no snapshot is written.

            Examples:
              offsite backup /etc /var/lib/app --tag nightly --exclude '*.tmp'
              offsite backup ./site --host web-1 --time "2026-01-02 03:04:05"
              pg_dump app | offsite backup --stdin --stdin-filename app.sql
              offsite backup --stdin-filename app.sql --stdin-from-command -- pg_dump app
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var selection: SelectionOptions

    @Option(name: .long, help: "Add tags to the snapshot (may be repeated; a,b adds two tags).")
    var tag: [String] = []

    @Option(name: [.customShort("H"), .long], help: "Host name to record (default: this machine's).")
    var host: String?

    @Option(name: .long, help: ArgumentHelp("Record this time instead of now, as \"YYYY-MM-DD HH:MM:SS\" (local time).", valueName: "time"))
    var time: String?

    @Option(name: .long, help: ArgumentHelp("Use this snapshot as the parent (ID or prefix).", valueName: "snapshot"))
    var parent: String?

    @Flag(name: [.short, .long], help: "Read every file, even those unchanged since the parent snapshot.")
    var force = false

    @Flag(name: .customLong("ignore-ctime"), help: "Do not treat a changed ctime as a change.")
    var ignoreCtime = false

    @Flag(name: .customLong("ignore-inode"), help: "Do not treat a changed inode as a change.")
    var ignoreInode = false

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Do everything but write nothing to the repository.")
    var dryRun = false

    @Flag(name: .customLong("with-atime"), help: "Store the access time of files and directories.")
    var withAtime = false

    @Flag(name: .long, help: "Back up standard input as one file.")
    var stdin = false

    @Option(name: .customLong("stdin-filename"), help: "File name for --stdin and --stdin-from-command.")
    var stdinFilename = "stdin"

    @Flag(
        name: .customLong("stdin-from-command"),
        help: "Run the command given after -- and back up its output; if it fails, no snapshot is saved.")
    var stdinFromCommand = false

    @Argument(help: "Files and directories to back up (or, with --stdin-from-command, the command after --).")
    var paths: [String] = []

    func run() async throws {
        try await runCommand {
            try await backup()
        }
    }

    func backup() async throws {
        var args = paths
        if args.first == "--" { args.removeFirst() }
        var options = Backup.Options(paths: args)
        var missingTargets: [String] = []
        if stdin || stdinFromCommand {
            guard !(stdin && stdinFromCommand) else { throw CLIError.fatal("--stdin and --stdin-from-command cannot be used together") }
            guard selection.filesFrom.isEmpty && selection.filesFromVerbatim.isEmpty && selection.filesFromRaw.isEmpty else {
                throw CLIError.fatal("--stdin cannot be used with --files-from")
            }
            if stdin {
                guard args.isEmpty else { throw CLIError.fatal("--stdin was specified and files/dirs were listed as arguments") }
                options.stdin = StreamSources.standardInput(filename: stdinFilename)
            } else {
                guard !args.isEmpty else { throw CLIError.fatal("--stdin-from-command needs a command after --") }
                options.stdin = StreamSources.command(args, filename: stdinFilename)
            }
            options.paths = []
        } else {
            let (targets, missing) = try selection.targets(arguments: args)
            missingTargets = missing
            options.paths = targets
            guard !options.paths.isEmpty else { throw CLIError.fatal("nothing to backup, please specify target files/dirs") }
            options.filter = try selection.makeFilter(targets: targets)
            options.excludePatterns = selection.exclude
        }
        options.tags = tag.flatMap { $0.split(separator: ",").map(String.init) }.filter { !$0.isEmpty }
        options.hostname = host
        options.withAtime = withAtime
        options.forceRead = force
        options.ignoreCtime = ignoreCtime
        options.ignoreInode = ignoreInode
        options.dryRun = dryRun
        // Tuning knobs for benchmarks and small machines (not restic flags).
        if let v = global.environment["OFFSITE_FILE_CONCURRENCY"].flatMap(Int.init), v > 0 { options.fileConcurrency = v }
        if let v = global.environment["OFFSITE_CHUNKS_IN_FLIGHT"].flatMap(Int.init), v > 0 { options.chunksInFlight = v }
        options.compression = Zstd.Level(rawValue: try global.compressionLevel().rawValue) ?? .auto
        options.packSize = try global.packSizeBytes()
        if let time {
            guard let t = Self.parseTime(time) else {
                throw CLIError.fatal("unable to parse time \"\(time)\": use \"YYYY-MM-DD HH:MM:SS\"")
            }
            options.time = t
        }
        if stdin && global.passwordFile == nil && global.passwordCommand == nil
            && (global.environment["RESTIC_PASSWORD"] ?? "").isEmpty && (global.environment["RESTIC_PASSWORD_FILE"] ?? "").isEmpty
            && (global.environment["RESTIC_PASSWORD_COMMAND"] ?? "").isEmpty
        {
            throw CLIError.fatal(
                "unable to read password from stdin when data is to be read from stdin, use --password-file or $RESTIC_PASSWORD")
        }
        let repo = try await RepositoryOpener.open(global, lock: .shared)
        if let parent { options.parent = try await repo.findSnapshot(parent).id }
        let started = Date()
        let progress = BackupProgress(json: global.json, enabled: !global.quiet)
        if options.stdin == nil {
            progress.startScan(paths: options.paths, workingDirectory: options.workingDirectory, filter: options.filter)
        }
        let report = try await Backup(repository: repo, options: options) { p in progress.update(p) }.run()
        progress.finish()
        for p in missingTargets + report.skippedTargets { Console.error("\(p) does not exist, skipping") }
        for e in report.errors {
            if global.json { progress.error(e) } else { Console.error("error: \(e)") }
        }
        let elapsed = Date().timeIntervalSince(started)
        if global.json {
            Console.out(BackupOutput.jsonSummary(report, elapsed: elapsed, dryRun: dryRun))
        } else if !global.quiet {
            Console.out(BackupOutput.textSummary(report, elapsed: elapsed, dryRun: dryRun))
        }
        if !report.isComplete || !missingTargets.isEmpty {
            if !report.errors.isEmpty { Console.error("Warning: at least one source file could not be read") }
            throw ExitCode(ExitStatus.partial)
        }
    }

    /// "YYYY-MM-DD HH:MM:SS" in local time.
    static func parseTime(_ s: String) -> GoTime? {
        let parts = s.split(whereSeparator: { $0 == " " || $0 == "-" || $0 == ":" }).compactMap { Int($0) }
        guard parts.count == 6 else { return nil }
        func at(_ offset: Int32) -> GoTime {
            GoTime(
                year: Int64(parts[0]), month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5], utcOffset: offset
            )
        }
        // Resolve the local offset for that wall time (two passes cover DST edges).
        let guess = GoTime.localOffset(at: at(0).seconds)
        return at(GoTime.localOffset(at: at(guess).seconds))
    }
}
