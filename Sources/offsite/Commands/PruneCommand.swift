import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

/// Prune's flags, shared with `forget --prune`.
struct PruneOptions: ParsableArguments {
    @Option(
        name: .customLong("max-unused"),
        help: ArgumentHelp("Tolerate this much unused data: a percentage (default 5%), a size (500M) or \"unlimited\".", valueName: "limit")
    )
    var maxUnused = "5%"

    @Option(
        name: .customLong("max-repack-size"),
        help: ArgumentHelp("Repack at most this much data (suffixes k, m, g, t).", valueName: "size"))
    var maxRepackSize: String?

    @Flag(name: .customLong("repack-cacheable-only"), help: "Only repack packs that hold trees (never data packs).")
    var repackCacheableOnly = false

    @Flag(name: .customLong("repack-small"), help: "Repack packs below 80% of the target pack size.")
    var repackSmall = false

    @Flag(
        name: .customLong("repack-uncompressed"), help: "Repack every uncompressed pack so that its data gets compressed (repository v2).")
    var repackUncompressed = false

    func engineOptions(_ global: GlobalOptions, dryRun: Bool, version: Int) throws -> Prune.Options {
        var o = Prune.Options()
        guard let limit = Prune.MaxUnused.parse(maxUnused) else {
            throw CLIError.fatal("invalid value for --max-unused: \"\(maxUnused)\" (use e.g. 5%, 100M or unlimited)")
        }
        o.maxUnused = limit
        if let text = maxRepackSize {
            guard let size = Prune.parseSize(text) else {
                throw CLIError.fatal("invalid --max-repack-size \"\(text)\" (use e.g. 500M or 2G)")
            }
            o.maxRepackBytes = size
        }
        o.repackCacheableOnly = repackCacheableOnly
        o.repackSmall = repackSmall
        o.repackUncompressed = repackUncompressed
        o.dryRun = dryRun
        o.compression = Zstd.Level(rawValue: try global.compressionLevel().rawValue) ?? .auto
        if repackUncompressed && o.compression == .off {
            throw CLIError.fatal("disabled compression and `--repack-uncompressed` are mutually exclusive")
        }
        if repackUncompressed && version < 2 {
            throw CLIError.fatal("compression requires at least repository format version 2")
        }
        o.targetPackSize = try global.packSizeBytes()
        return o
    }
}

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove data that no snapshot references.",
        discussion: """
            Run it after `forget` (or use `forget --prune`). The plan is made from the index: packs \
            with nothing in use are deleted, packs partly in use are repacked (their used blobs \
            copied to new packs) until the unused space left is below --max-unused. Every blob is \
            verified before it is copied. The repository stays valid if prune is interrupted at \
            any point: it writes new packs, then the new index, and deletes old files last; running \
            it again finishes the job. Prune holds an exclusive lock.

            Examples:
              offsite prune --dry-run
              offsite prune --max-unused 10%
              offsite prune --max-repack-size 2G
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var pruneOptions: PruneOptions

    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Show what would be done, change nothing.")
    var dryRun = false

    func run() async throws {
        try await runCommand {
            try await prune()
        }
    }

    func prune() async throws {
        if !global.quiet { Console.out("loading indexes...") }
        let repo = try await RepositoryOpener.open(global, lock: .exclusive)
        try await PruneCommand.run(
            repo, options: try pruneOptions.engineOptions(global, dryRun: dryRun, version: repo.version), global: global)
    }

    /// Plans, prints restic's statistics, and executes (also used by `forget --prune`).
    static func run(_ repo: Repository, options: Prune.Options, global: GlobalOptions) async throws {
        let quiet = global.quiet
        let prune = Prune(repository: repo, options: options) { event in
            switch event {
            case .phase(let text): if !quiet { Console.out(text) }
            case .warning(let text): Console.error(text)
            }
        }
        let (plan, stats) = try await prune.plan()
        if !quiet { print(stats, verbose: global.verbose > 0) }
        if options.dryRun && global.verbose > 0 {
            if !plan.removeFirst.isEmpty {
                Console.out("Would have removed the following unreferenced packs:\n\(idList(plan.removeFirst))\n")
            }
            Console.out("Would have repacked and removed the following packs:\n\(idList(plan.repack))\n")
            Console.out("Would have removed the following no longer used packs:\n\(idList(plan.remove))\n")
        }
        try await prune.execute(plan)
    }

    static func idList(_ ids: Set<ID>) -> String {
        "{" + ids.map(\.shortHex).sorted().joined(separator: " ") + "}"
    }

    static func percent(_ part: UInt64, _ total: UInt64) -> String {
        total == 0 ? "0.00%" : String(format: "%3.2f%%", Double(part) / Double(total) * 100)
    }

    static func print(_ s: Prune.Stats, verbose: Bool) {
        // Clamped: the figures never trap, whatever the repository holds.
        func count(_ n: UInt64) -> String { String(format: "%10d", Int(clamping: n)) }
        func bytes(_ n: UInt64) -> String { Console.bytes(Int(clamping: n)) }
        let totalBlobs = s.blobs.used + s.blobs.unused + s.blobs.duplicate
        let totalSize = s.size.used + s.size.duplicate + s.size.unused + s.size.unref
        let unusedSize = s.size.duplicate + s.size.unused
        var lines: [String] = []
        if verbose {
            lines.append("")
            lines.append("used:         \(count(s.blobs.used)) blobs / \(bytes(s.size.used))")
            if s.blobs.duplicate > 0 { lines.append("duplicates:   \(count(s.blobs.duplicate)) blobs / \(bytes(s.size.duplicate))") }
            lines.append("unused:       \(count(s.blobs.unused)) blobs / \(bytes(s.size.unused))")
            if s.size.unref > 0 { lines.append("unreferenced:                    \(bytes(s.size.unref))") }
            lines.append("total:        \(count(totalBlobs)) blobs / \(bytes(totalSize))")
            lines.append("unused size: \(percent(unusedSize, totalSize)) of total size")
        }
        let totalPrune = s.size.remove + s.size.repackrm + s.size.unref
        // What is removed comes out of what was counted unused (Prune.plan counts duplicate copies
        // by the copy it keeps); clamped all the same, as every figure here: restic 0.14 counted
        // otherwise and printed a wrapped number, and offsite once trapped on it holding its lock.
        let removed = s.size.remove + s.size.repackrm
        let unusedAfter = unusedSize > removed ? unusedSize - removed : 0
        lines.append("")
        lines.append("to repack:    \(count(s.blobs.repack)) blobs / \(bytes(s.size.repack))")
        lines.append("this removes: \(count(s.blobs.repackrm)) blobs / \(bytes(s.size.repackrm))")
        lines.append("to delete:    \(count(s.blobs.remove)) blobs / \(bytes(s.size.remove + s.size.unref))")
        lines.append("total prune:  \(count(s.blobs.remove + s.blobs.repackrm)) blobs / \(bytes(totalPrune))")
        let removedBlobs = s.blobs.remove + s.blobs.repackrm
        let remainingSize = totalSize > totalPrune ? totalSize - totalPrune : 0
        lines.append(
            "remaining:    \(count(totalBlobs > removedBlobs ? totalBlobs - removedBlobs : 0)) blobs / \(bytes(remainingSize))")
        lines.append("unused size after prune: \(bytes(unusedAfter)) (\(percent(unusedAfter, remainingSize)) of remaining size)")
        lines.append("")
        if verbose {
            lines.append("totally used packs: \(count(UInt64(s.packsUsed)))")
            lines.append("partly used packs:  \(count(UInt64(s.packsPartlyUsed)))")
            lines.append("unused packs:       \(count(UInt64(s.packsUnused)))\n")
            lines.append("to keep:      \(count(UInt64(s.packsKeep))) packs")
            lines.append("to repack:    \(count(UInt64(s.packsRepack))) packs")
            lines.append("to delete:    \(count(UInt64(s.packsRemove))) packs")
            if s.packsUnref > 0 { lines.append("to delete:    \(count(UInt64(s.packsUnref))) unreferenced packs\n") }
        }
        Console.out(lines.joined(separator: "\n"))
    }
}
