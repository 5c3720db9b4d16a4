import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct ForgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Remove snapshots from the repository.",
        discussion: """
            Removes snapshots according to a policy, as restic 0.14 does: the snapshots (all, or \
            those matching --host/--tag/--path) are divided into groups by --group-by (default \
            host,paths), and the --keep-* rules are applied to each group on its own. A snapshot \
            is kept when any rule keeps it. Counts keep the newest snapshot of each of the last N \
            hours, days, ISO weeks, months or years that have snapshots (by the wall clock each \
            snapshot recorded); durations (1y5m7d2h) count back from the newest snapshot, not from \
            now. Snapshots named by ID are removed without a policy.

            Only the snapshot files are removed: add --prune (or run `offsite prune` afterwards) \
            to free the data they alone used; the prune flags (--max-unused, --max-repack-size, \
            --repack-*) apply then. Use --dry-run (-n) to see the plan first.

            Examples:
              offsite forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --dry-run
              offsite forget --keep-within 30d --keep-tag release --host web-1
              offsite forget 1c8cc776 4bba301e
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: [.customShort("l"), .customLong("keep-last")], parsing: .unconditional, help: countHelp("the last N snapshots"))
    var keepLast: String?
    @Option(name: [.customShort("H"), .customLong("keep-hourly")], parsing: .unconditional, help: countHelp("the last N hourly snapshots"))
    var keepHourly: String?
    @Option(name: [.customShort("d"), .customLong("keep-daily")], parsing: .unconditional, help: countHelp("the last N daily snapshots"))
    var keepDaily: String?
    @Option(name: [.customShort("w"), .customLong("keep-weekly")], parsing: .unconditional, help: countHelp("the last N weekly snapshots"))
    var keepWeekly: String?
    @Option(
        name: [.customShort("m"), .customLong("keep-monthly")], parsing: .unconditional, help: countHelp("the last N monthly snapshots"))
    var keepMonthly: String?
    @Option(name: [.customShort("y"), .customLong("keep-yearly")], parsing: .unconditional, help: countHelp("the last N yearly snapshots"))
    var keepYearly: String?

    @Option(name: .customLong("keep-within"), parsing: .unconditional, help: withinHelp("snapshots"))
    var keepWithin: String?
    @Option(name: .customLong("keep-within-hourly"), parsing: .unconditional, help: withinHelp("hourly snapshots"))
    var keepWithinHourly: String?
    @Option(name: .customLong("keep-within-daily"), parsing: .unconditional, help: withinHelp("daily snapshots"))
    var keepWithinDaily: String?
    @Option(name: .customLong("keep-within-weekly"), parsing: .unconditional, help: withinHelp("weekly snapshots"))
    var keepWithinWeekly: String?
    @Option(name: .customLong("keep-within-monthly"), parsing: .unconditional, help: withinHelp("monthly snapshots"))
    var keepWithinMonthly: String?
    @Option(name: .customLong("keep-within-yearly"), parsing: .unconditional, help: withinHelp("yearly snapshots"))
    var keepWithinYearly: String?

    @Option(
        name: .customLong("keep-tag"),
        help: ArgumentHelp("Keep snapshots with all of these tags (tag[,tag,...]; may be repeated).", valueName: "taglist"))
    var keepTag: [String] = []

    @Option(name: .customLong("host"), help: ArgumentHelp("Only consider snapshots from this host (may be repeated).", valueName: "host"))
    var host: [String] = []
    @Option(name: .customLong("hostname"), help: .hidden)
    var hostname: [String] = []
    @Option(
        name: .customLong("tag"),
        help: ArgumentHelp("Only consider snapshots with these tags (tag[,tag,...]; may be repeated).", valueName: "taglist"))
    var tag: [String] = []
    @Option(
        name: .customLong("path"),
        help: ArgumentHelp("Only consider snapshots that include this path (may be repeated).", valueName: "path"))
    var path: [String] = []

    @Flag(name: [.customShort("c"), .customLong("compact")], help: "Use the compact table format.")
    var compact = false
    @Option(
        name: [.customShort("g"), .customLong("group-by")],
        help: ArgumentHelp("Group snapshots by host, paths and/or tags, comma-separated ('' for one group).", valueName: "group"))
    var groupBy = "host,paths"
    @Flag(name: [.customShort("n"), .customLong("dry-run")], help: "Remove nothing; print what would be removed.")
    var dryRun = false
    @Flag(name: .customLong("prune"), help: "Run prune after removing snapshots (with the prune flags below).")
    var prune = false

    @OptionGroup var pruneOptions: PruneOptions

    @Argument(help: "Snapshots to remove (IDs, unique prefixes or \"latest\"); no policy is applied to them.")
    var snapshots: [String] = []

    private static func countHelp(_ what: String) -> ArgumentHelp {
        ArgumentHelp("Keep \(what) ('unlimited' for all).", valueName: "n")
    }

    private static func withinHelp(_ what: String) -> ArgumentHelp {
        ArgumentHelp("Keep \(what) newer than this duration (e.g. 1y5m7d2h) before the newest snapshot.", valueName: "duration")
    }

    func run() async throws {
        try await runCommand {
            if global.quiet && global.verbose > 0 { throw CLIError.fatal("--quiet and --verbose cannot be specified at the same time") }
            if !hostname.isEmpty { Console.error("Flag --hostname has been deprecated, use --host") }
            let policy = try makePolicy()
            let grouping = snapshots.isEmpty ? try engine { try SnapshotGrouping(parsing: groupBy) } : .hostAndPaths
            if global.noLock && !dryRun {
                throw CLIError.fatal("--no-lock is only applicable in combination with --dry-run for forget command")
            }
            let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: dryRun && global.noLock ? .none : .exclusive)
            // The prune flags are checked before anything is removed.
            var pruneEngineOptions = try pruneOptions.engineOptions(global, dryRun: dryRun, version: repo.version)
            var filter = SnapshotFilterOptions()
            filter.host = host + hostname
            filter.tag = tag
            filter.path = path
            let found = try await FilteredSnapshots.find(repo, filter: filter, ids: snapshots)

            var plans: [Forget.GroupPlan] = []
            let removals: [ID]
            if !snapshots.isEmpty {
                removals = Array(Set(found.map(\.id))).sorted()
            } else {
                plans = Forget.plan(found, policy: policy, grouping: grouping, now: .now())
                printPlan(plans, policy: policy)
                removals = Forget.removals(plans)
            }
            if !removals.isEmpty {
                if !dryRun {
                    try await remove(removals, from: repo)
                } else if !global.json {
                    Console.outRaw(
                        Data(
                            ("Would have removed the following snapshots:\n{" + removals.map(\.shortHex).joined(separator: " ") + "}\n\n")
                                .utf8))
                }
            }
            if global.json && !plans.isEmpty { Console.out(ForgetJSON.groups(plans)) }
            if prune && !removals.isEmpty {
                if !global.json { Console.out("\(removals.count) snapshots have been removed, running prune") }
                // In a dry run the snapshots are still there: the plan must not count them.
                pruneEngineOptions.ignoreSnapshots = Set(removals)
                if !global.quiet { Console.out("loading indexes...") }
                try await repo.loadIndex()
                try await PruneCommand.run(repo, options: pruneEngineOptions, global: global)
            }
        }
    }

    /// The policy from the --keep-* flags, with restic's messages for values it refuses.
    private func makePolicy() throws -> ForgetPolicy {
        var p = ForgetPolicy()
        p.last = try count(keepLast, "-l, --keep-last")
        p.hourly = try count(keepHourly, "-H, --keep-hourly")
        p.daily = try count(keepDaily, "-d, --keep-daily")
        p.weekly = try count(keepWeekly, "-w, --keep-weekly")
        p.monthly = try count(keepMonthly, "-m, --keep-monthly")
        p.yearly = try count(keepYearly, "-y, --keep-yearly")
        p.within = try duration(keepWithin, "--keep-within")
        p.withinHourly = try duration(keepWithinHourly, "--keep-within-hourly")
        p.withinDaily = try duration(keepWithinDaily, "--keep-within-daily")
        p.withinWeekly = try duration(keepWithinWeekly, "--keep-within-weekly")
        p.withinMonthly = try duration(keepWithinMonthly, "--keep-within-monthly")
        p.withinYearly = try duration(keepWithinYearly, "--keep-within-yearly")
        p.keepTags = keepTag.map(splitTagList)
        return p
    }

    /// A count: a non-negative integer or `unlimited` (restic 0.16's syntax; 0.14 takes any
    /// integer and a negative one keeps nothing).
    private func count(_ text: String?, _ flag: String) throws -> Int {
        guard let text else { return 0 }
        if text == "unlimited" { return ForgetPolicy.unlimited }
        guard let value = Int(text) else {
            let digits = text.drop { $0 == "+" || $0 == "-" }
            let why =
                !digits.isEmpty && digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber) ? "value out of range" : "invalid syntax"
            throw flagError(text, flag, "strconv.ParseInt: parsing \"\(text)\": \(why)")
        }
        guard value >= 0 else { throw flagError(text, flag, "negative values not allowed, use 'unlimited' instead") }
        return value
    }

    private func duration(_ text: String?, _ flag: String) throws -> RetentionDuration {
        guard let text else { return RetentionDuration() }
        do {
            return try RetentionDuration(parsing: text)
        } catch let e as EngineError {
            throw flagError(text, flag, e.message)
        }
    }

    /// restic's (pflag's) message for a flag value it cannot parse, printed without "Fatal: ".
    private func flagError(_ text: String, _ flag: String, _ why: String) -> ExitCode {
        Console.error("invalid argument \"\(text)\" for \"\(flag)\" flag: \(why)")
        return ExitCode(ExitStatus.fatal)
    }

    private func engine<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as EngineError { throw CLIError.fatal(e.message) }
    }

    /// restic's text: the policy, then for each group (its header with -v) the tables of kept
    /// and removed snapshots.
    private func printPlan(_ plans: [Forget.GroupPlan], policy: ForgetPolicy) {
        guard !global.json else { return }
        if policy.isEmpty {
            if !global.quiet { Console.out("no policy was specified, no snapshots will be removed") }
            return
        }
        var text = global.quiet ? "" : "Applying Policy: \(policy.description)\n"
        for plan in plans {
            if global.verbose >= 1 { text += Self.header(plan.key) }
            guard !global.quiet else { continue }
            let keep = plan.decision.keep
            if !keep.isEmpty {
                var reasons: [ID: [String]] = [:]
                for k in keep { reasons[k.id] = k.matches }
                text += "keep \(keep.count) snapshots:\n"
                text += ResticTable.snapshots(keep.map { ($0.id, $0.snapshot) }, reasons: reasons, compact: compact) + "\n"
            }
            let remove = plan.decision.remove
            if !remove.isEmpty {
                text += "remove \(remove.count) snapshots:\n"
                text += ResticTable.snapshots(remove, compact: compact) + "\n"
            }
        }
        Console.outRaw(Data(text.utf8))
    }

    /// restic's `PrintSnapshotGroupHeader`: nothing when the group has no key.
    static func header(_ key: SnapshotGrouping.Key) -> String {
        var parts: [String] = []
        if !key.hostname.isEmpty { parts.append("host [" + key.hostname + "]") }
        if let tags = key.tags { parts.append("tags [" + tags.joined(separator: ", ") + "]") }
        if let paths = key.paths { parts.append("paths [" + paths.joined(separator: ", ") + "]") }
        return parts.isEmpty ? "" : "snapshots for (" + parts.joined(separator: ", ") + "):\n"
    }

    /// Removes the snapshot files with restic's messages: "removed <snapshot/…>" for each with
    /// -vv, then the final line of its progress counter.
    private func remove(_ ids: [ID], from repo: Repository) async throws {
        let start = Date()
        let chatty = !global.json && !global.quiet
        var done = 0
        do {
            try await Forget.remove(ids, from: repo) { id in
                done += 1
                if chatty && global.verbose >= 2 { Console.out("removed <snapshot/\(id.hex.prefix(10))>") }
            }
        } catch {
            if !global.json { Console.error("unable to remove <snapshot/\(ids[done].hex.prefix(10))> from the repository") }
            throw error
        }
        if chatty {
            let elapsed = Console.duration(Date().timeIntervalSince(start))
            Console.outRaw(Data("[\(elapsed)] 100.00%  \(ids.count) / \(ids.count) files deleted\n\n".utf8))
        }
    }
}
