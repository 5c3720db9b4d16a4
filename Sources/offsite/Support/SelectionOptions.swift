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

    /// The targets: those read from files, then the arguments.
    func targets(arguments: [String]) throws -> [String] {
        arguments
    }

    struct Filter {
        var exclude: @Sendable (FSPath, FileStat) throws -> Bool
        var patterns: [String]
    }

    func makeFilter() throws -> Filter {
        Filter(exclude: { _, _ in false }, patterns: exclude + iexclude)
    }
}
