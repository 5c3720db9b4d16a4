import ArgumentParser
import Foundation
import OffsiteEngine

/// restic's backup selection flags.
struct SelectionOptions: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("Exclude a pattern (may be repeated).", valueName: "pattern"))
    var exclude: [String] = []

    @Option(name: .long, help: ArgumentHelp("Like --exclude, ignoring case.", valueName: "pattern"))
    var iexclude: [String] = []

    @Option(
        name: .customLong("exclude-file"), help: ArgumentHelp("Read exclude patterns from a file (may be repeated).", valueName: "file"))
    var excludeFile: [String] = []

    @Option(name: .customLong("iexclude-file"), help: ArgumentHelp("Like --exclude-file, ignoring case.", valueName: "file"))
    var iexcludeFile: [String] = []

    @Flag(name: .customLong("exclude-caches"), help: "Exclude directories marked with a CACHEDIR.TAG file.")
    var excludeCaches = false

    @Option(
        name: .customLong("exclude-if-present"),
        help: ArgumentHelp("Exclude directories containing this file (filename[:header]; may be repeated).", valueName: "filename[:header]")
    )
    var excludeIfPresent: [String] = []

    @Option(
        name: .customLong("exclude-larger-than"),
        help: ArgumentHelp("Exclude files larger than this size (e.g. 500M, 2G).", valueName: "size"))
    var excludeLargerThan: String?

    @Flag(name: [.customShort("x"), .customLong("one-file-system")], help: "Stay on the filesystem of each target.")
    var oneFileSystem = false

    @Option(
        name: .customLong("files-from"),
        help: ArgumentHelp("Read the targets from a file (glob patterns, # comments; may be repeated).", valueName: "file"))
    var filesFrom: [String] = []

    @Option(
        name: .customLong("files-from-verbatim"),
        help: ArgumentHelp("Read the targets from a file, one path per line, as is.", valueName: "file"))
    var filesFromVerbatim: [String] = []

    @Option(name: .customLong("files-from-raw"), help: ArgumentHelp("Read NUL-separated targets from a file.", valueName: "file"))
    var filesFromRaw: [String] = []

    /// The targets: those read from `--files-from*` lists (with restic's globbing and comment
    /// rules), then the arguments. Returns the targets and the ones that did not exist
    /// (`--files-from*` entries only: missing arguments are reported by the backup itself).
    func targets(arguments: [String]) throws -> (targets: [String], missing: [String]) {
        guard !(filesFrom.isEmpty && filesFromVerbatim.isEmpty && filesFromRaw.isEmpty) else { return (arguments, []) }
        let warnings = WarningCollector()
        let targets = try Selection.targets(
            filesFrom: filesFrom, filesFromVerbatim: filesFromVerbatim, filesFromRaw: filesFromRaw,
            arguments: arguments, warn: { warnings.add($0) })
        var missing: [String] = []
        for w in warnings.all {
            if w.hasSuffix(" does not exist, skipping") {
                missing.append(String(w.dropLast(" does not exist, skipping".count)))
            } else {
                Console.error(w)
            }
        }
        return (targets, missing)
    }

    /// The selection filter for these targets (nil when no selection flag is given); restic's
    /// warnings go to stderr.
    func makeFilter(targets: [String]) throws -> SelectionFilter? {
        let selection = Selection(
            excludes: exclude, insensitiveExcludes: iexclude, excludeFiles: excludeFile,
            insensitiveExcludeFiles: iexcludeFile, excludeCaches: excludeCaches, excludeIfPresent: excludeIfPresent,
            excludeLargerThan: excludeLargerThan, oneFileSystem: oneFileSystem)
        guard selection != Selection() else { return nil }
        // Missing targets are skipped (and reported) by the backup; only existing ones matter here.
        return try selection.makeFilter(targets: targets.filter { FileSystem.exists(FSPath($0)) }, warn: { Console.error($0) })
    }
}

/// Collects warnings from a callback.
final class WarningCollector: @unchecked Sendable {
    private var items: [String] = []
    private let lock = NSLock()
    func add(_ w: String) { lock.withLock { items.append(w) } }
    var all: [String] { lock.withLock { items } }
}
