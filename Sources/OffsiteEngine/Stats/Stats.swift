public import OffsiteFormat

/// Counts what a set of snapshots holds, in one of restic's four `stats` modes (restic 0.14's
/// `cmd_stats.go`; the numbers are restic's for the same snapshots, processed in the same order).
///
/// - `restoreSize`: every node of every snapshot (files, directories, symlinks, …) counts as one
///   file; sizes add up, but within one snapshot each non-zero inode number counts its size only
///   once, so hard links do not add to the restore size.
/// - `filesByContents`: a node counts once per distinct content (the sequence of its data blob
///   IDs) across all snapshots; every node without content (directories, symlinks, empty files)
///   shares the one empty content.
/// - `blobsPerFile`: for each node whose content is new, each of its data blobs counts once per
///   path (by plaintext length) and each new path counts once as a file.
/// - `rawData`: every distinct blob (tree and data) the snapshots reference counts once, by its
///   stored (encrypted, possibly compressed) length from the index.
///
/// The repository's index must be loaded. Read-only: nothing is written. Trees are loaded one at
/// a time; memory grows with the number of distinct contents, paths or blobs counted, not with
/// file sizes. Throws `.notFound` for a blob the index does not know and `.invalidData` for a
/// tree that cannot be loaded, naming it.
public struct Stats: Sendable {
    /// restic's `--mode` values.
    public enum Mode: String, Sendable, CaseIterable {
        case restoreSize = "restore-size"
        case filesByContents = "files-by-contents"
        case blobsPerFile = "blobs-per-file"
        case rawData = "raw-data"
    }

    public struct Options: Sendable {
        public var mode: Mode

        public init(mode: Mode = .restoreSize) {
            self.mode = mode
        }
    }

    /// restic's `statsContainer`: the totals it prints.
    public struct Report: Sendable, Equatable {
        /// Bytes: node sizes (restore-size, files-by-contents), plaintext blob lengths
        /// (blobs-per-file) or stored blob lengths (raw-data).
        public var totalSize: UInt64 = 0
        public var totalFileCount: UInt64 = 0
        /// Zero except in blobs-per-file and raw-data mode.
        public var totalBlobCount: UInt64 = 0
        public var snapshotsCount = 0
        /// Nodes left out because `NodeName` rejects their names (what a restore would skip).
        public var problems: [String] = []

        public init() {}
    }

    public let repository: Repository
    public let options: Options

    public init(repository: Repository, options: Options) {
        self.repository = repository
        self.options = options
    }

    /// Walks `snapshots` in the order given and returns the totals.
    public func run(snapshots: [Snapshot]) async throws -> Report {
        try await run(snapshots: snapshots.map { (nil, $0) })
    }

    /// The same, naming each snapshot in the report's problems.
    public func run(snapshots: [(id: ID?, snapshot: Snapshot)]) async throws -> Report {
        var counter = StatsCounter(repository: repository, mode: options.mode)
        for (id, snapshot) in snapshots {
            try await counter.add(snapshot, id: id)
        }
        return try counter.finish()
    }
}
