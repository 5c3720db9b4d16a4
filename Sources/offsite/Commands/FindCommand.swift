import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat

struct FindCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find",
        abstract: "Find files and directories in snapshots.",
        discussion: """
            Each PATTERN is matched against the whole path of every item from the snapshot root \
            (/srv/app/config.yml), with restic's rules: * and ? match within one path component, \
            [a-z] a character class, ** any number of directories; a pattern starting with / is \
            anchored at the root, any other may match at any depth; a pattern that matches a \
            directory also matches everything below it. Quote patterns so the shell leaves them alone.

            All snapshots are searched (oldest first) unless --snapshot names some; --host, --tag \
            and --path narrow the set. --oldest/--newest keep items by modification time: \
            2006-01-02, "2006-01-02 15:04[:05][ -0700|MST]", 02.01.2006[ 15:04[:05]] or \
            "Mon Jan 2 15:04:05 -0700 MST 2006", local time unless a zone is given.

            Examples:
              offsite find config.json
              offsite find '*.sql' --host db-1 --long
              offsite find '/srv/app/**/*.yml' --snapshot latest
              offsite find -i 'readme*' --newest 2024-01-01 --json | jq '.[].matches[].path'
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filterOptions: SnapshotFilterOptions

    @Option(name: [.customShort("O"), .long], help: ArgumentHelp("Only items modified at or after this time.", valueName: "time"))
    var oldest: String?

    @Option(name: [.customShort("N"), .long], help: ArgumentHelp("Only items modified at or before this time.", valueName: "time"))
    var newest: String?

    @Option(name: [.short, .customLong("snapshot")], help: ArgumentHelp("Snapshot to search (may be repeated).", valueName: "id"))
    var snapshots: [String] = []

    @Flag(name: [.short, .customLong("ignore-case")], help: "Ignore case in patterns and paths.")
    var ignoreCase = false

    @Flag(name: [.short, .long], help: "Long listing: mode, owner, size and time.")
    var long = false

    @Argument(help: "Patterns to look for.")
    var patterns: [String] = []

    func run() async throws {
        try await runCommand {
            try await find()
        }
    }

    func find() async throws {
        guard !patterns.isEmpty else { throw CLIError.fatal("wrong number of arguments") }
        var query = Finder.Query(patterns: patterns, ignoreCase: ignoreCase)
        for (text, keyPath) in [(oldest, \Finder.Query.oldest), (newest, \Finder.Query.newest)] {
            guard let text else { continue }
            guard let t = FindTime.parse(text) else { throw CLIError.fatal("unable to parse time: \"\(text)\"") }
            query[keyPath: keyPath] = t
        }
        let repo = try await RepositoryOpener.open(global)
        let finder = try Finder(repository: repo, query: query)
        let out = StandardOutput()
        var printer = FindPrinter(json: global.json, long: long, verbose: !global.quiet)
        var rejected = 0
        for (id, s) in try await selectSnapshots(repo) {
            printer.startSnapshot(id: id, snapshot: s)
            try await finder.search(root: s.tree) { treeID, _ in
                let message = "Unable to load tree \(treeID.hex)\n ... which belongs to snapshot \(id.hex)\n"
                if global.json { Console.error(message) } else { try out.print(message) }
            } onRejected: { parent, rejection in
                rejected += 1
                Console.error("ignoring error for \(rejection.message(snapshot: id, parent: String(decoding: parent, as: UTF8.self)))")
            } onMatch: { path, node in
                try printer.match(path: path, node: node, to: out)
            }
        }
        try printer.finish(to: out)
        try out.flush()
        if rejected > 0 { throw CLIError(message: "There were \(rejected) errors", exitCode: ExitStatus.fatal) }
    }

    /// The snapshots to search (`FilteredSnapshots`), sorted by time as restic 0.16+ does
    /// (0.14 used the order named).
    func selectSnapshots(_ repo: Repository) async throws -> [(id: ID, snapshot: Snapshot)] {
        let chosen = try await FilteredSnapshots.find(repo, filter: filterOptions, ids: snapshots)
        return chosen.enumerated().sorted { ($0.element.snapshot.time, $0.offset) < ($1.element.snapshot.time, $1.offset) }.map(\.element)
    }
}

/// restic's `statefulOutput` for pattern matches: text lines under a "Found matching entries"
/// heading per snapshot, or one JSON array of `{"matches":[…],"hits":N,"snapshot":ID}`.
struct FindPrinter {
    let json: Bool
    let long: Bool
    let verbose: Bool
    private var current: (id: ID, snapshot: Snapshot)?
    private var announced: ID?
    private var printedAny = false
    private var openedArray = false
    private var hits = 0

    init(json: Bool, long: Bool, verbose: Bool) {
        self.json = json
        self.long = long
        self.verbose = verbose
    }

    mutating func startSnapshot(id: ID, snapshot: Snapshot) { current = (id, snapshot) }

    mutating func match(path: [UInt8], node: Node, to out: StandardOutput) throws {
        guard let current else { return }
        json ? try matchJSON(path, node, current.id, out) : try matchText(path, node, current, out)
    }

    private mutating func matchText(_ path: [UInt8], _ node: Node, _ sn: (id: ID, snapshot: Snapshot), _ out: StandardOutput) throws {
        if announced != sn.id {
            if verbose {
                if announced != nil { try out.print("\n") }
                try out.print("Found matching entries in snapshot \(sn.id.shortHex) from \(sn.snapshot.time.inLocalOffset.displayString)\n")
            }
            announced = sn.id
        }
        try out.write(long ? Self.longLine(path, node) : path)
        try out.print("\n")
    }

    private mutating func matchJSON(_ path: [UInt8], _ node: Node, _ id: ID, _ out: StandardOutput) throws {
        if !openedArray {
            try out.print("[")
            openedArray = true
        }
        if announced != id {
            if let previous = announced { try out.print("],\"hits\":\(hits),\"snapshot\":\"\(previous.hex)\"},") }
            try out.print("{\"matches\":[")
            announced = id
            hits = 0
        }
        if hits > 0 { try out.print(",") }
        try out.write(Self.matchJSON(path, node))
        hits += 1
    }

    func finish(to out: StandardOutput) throws {
        guard json else { return }
        if let last = announced { try out.print("],\"hits\":\(hits),\"snapshot\":\"\(last.hex)\"}") }
        try out.print(openedArray ? "]\n" : "[]\n")
    }

    /// One match as restic's find prints it: the node without name, inode, device, content,
    /// subtree and extended attributes, plus `path` and `permissions`.
    static func matchJSON(_ path: [UInt8], _ node: Node) -> [UInt8] {
        var w = GoJSONWriter()
        w.beginObject()
        w.key("path")
        w.string(bytes: path)
        w.field("permissions", GoFileMode.string(node.mode))
        w.field("type", node.type.rawValue)
        w.field("mode", node.mode, omitEmpty: true)
        w.field("mtime", node.mtime)
        w.field("atime", node.atime)
        w.field("ctime", node.ctime)
        w.field("uid", node.uid)
        w.field("gid", node.gid)
        w.field("user", node.user, omitEmpty: true)
        w.field("group", node.group, omitEmpty: true)
        w.field("device_id", node.deviceID, omitEmpty: true)
        w.field("size", node.size, omitEmpty: true)
        w.field("links", node.links, omitEmpty: true)
        if !node.linkTarget.isEmpty {
            w.key("linktarget")
            w.string(bytes: node.linkTarget)
        }
        w.field("error", node.error, omitEmpty: true)
        w.endObject()
        return w.bytes
    }

    /// restic's `formatNode` long form: `mode uid gid size mtime path[ -> target]`.
    static func longLine(_ path: [UInt8], _ node: Node) -> [UInt8] {
        var mode = node.mode
        switch node.type {
        case .dir: mode |= GoFileMode.dir
        case .symlink: mode |= GoFileMode.symlink
        case .dev: mode |= GoFileMode.device
        case .chardev: mode |= GoFileMode.device | GoFileMode.charDevice
        case .fifo: mode |= GoFileMode.namedPipe
        case .socket: mode |= GoFileMode.socket
        default: break
        }
        func right(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        let head =
            "\(GoFileMode.string(mode)) \(right(String(node.uid), 5)) \(right(String(node.gid), 5)) \(right(String(node.size), 6)) "
            + "\(node.mtime.inLocalOffset.displayString) "
        var line = Array(head.utf8) + path
        if node.type == .symlink { line += Array(" -> ".utf8) + node.linkTarget }
        return line
    }
}
