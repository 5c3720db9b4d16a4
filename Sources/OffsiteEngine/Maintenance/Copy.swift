public import OffsiteFormat
import OffsiteStorage
import OffsiteSync

/// Copies snapshots from one repository to another as restic 0.14's `copy` does.
///
/// A source snapshot is skipped when the destination already has a copy of it: a snapshot
/// whose `original` (or own ID) equals the source's `original` (or own ID) and whose fields
/// other than `parent` and `original` are the same (`Copy.similar`). Otherwise every tree and
/// data blob it references that the destination lacks is read from the source's packs,
/// verified (MAC, decompression, SHA-256), and stored in the destination under the
/// destination's key (compressed again when the destination is v2). Trees already walked for
/// an earlier snapshot in the same run are not walked again.
///
/// Write order per snapshot: packs, then index files (the uploader's flush), then the snapshot
/// file, with `parent` cleared and `original` set to the source snapshot's ID when it had none.
/// An interruption leaves at most unreferenced packs in the destination, which `prune`
/// removes; a re-run copies what is still missing.
public struct Copy: Sendable {
    public enum Event: Sendable {
        /// A source snapshot is about to be considered.
        case snapshot(ID, Snapshot)
        /// It was copied before, to `existing`.
        case skipped(ID, existing: ID)
        /// Copying starts: this many source packs hold blobs to copy.
        case copying(packs: Int)
        /// One source pack's blobs are copied.
        case packCopied
        /// The copy was saved as `new`.
        case saved(source: ID, new: ID)
    }

    public struct Report: Sendable {
        public var copied: [(source: ID, new: ID)] = []
        public var skipped: [(source: ID, existing: ID)] = []
        /// Blobs and bytes written to the destination, summed over the snapshots.
        public var stored = PackUploader.Stats()
    }

    public let source: Repository
    public let destination: Repository
    public var compression: Zstd.Level = .auto
    public var targetPackSize = Pack.defaultTargetSize
    /// Source packs read at once.
    public var readers = 4
    public var onEvent: (@Sendable (Event) -> Void)?

    public init(source: Repository, destination: Repository, onEvent: (@Sendable (Event) -> Void)? = nil) {
        self.source = source
        self.destination = destination
        self.onEvent = onEvent
    }

    /// restic's `similarSnapshots`: every field except `parent` and `original` matches (paths
    /// and tags as sets of the same size, excludes in order, times as instants).
    public static func similar(_ a: Snapshot, _ b: Snapshot) -> Bool {
        guard a.time.sameInstant(as: b.time), a.tree == b.tree, a.hostname == b.hostname, a.username == b.username,
            a.uid == b.uid, a.gid == b.gid, a.paths.count == b.paths.count, a.tags.count == b.tags.count,
            a.excludes == b.excludes
        else { return false }
        let paths = Set(a.paths)
        return b.paths.allSatisfy { paths.contains($0) } && ForgetPolicy.hasTags(a.tags, b.tags)
    }

    /// Copies `snapshots` (in order) unless `existing` (the destination's snapshots, filtered
    /// like the source's) already holds a copy. Stops at the first error: snapshots copied
    /// before it stay copied.
    public func run(_ snapshots: [(id: ID, snapshot: Snapshot)], existing: [(id: ID, snapshot: Snapshot)]) async throws -> Report {
        var byOriginal: [ID: [(id: ID, snapshot: Snapshot)]] = [:]
        for s in existing {
            if let original = s.snapshot.original, original != ID.zero { byOriginal[original, default: []].append(s) }
            byOriginal[s.id, default: []].append(s)
        }
        var report = Report()
        var visitedTrees = Set<ID>()
        for (id, snapshot) in snapshots {
            try Task.checkCancellation()
            onEvent?(.snapshot(id, snapshot))
            if let copy = byOriginal[snapshot.original ?? id]?.first(where: { Self.similar($0.snapshot, snapshot) }) {
                onEvent?(.skipped(id, existing: copy.id))
                report.skipped.append((id, copy.id))
                continue
            }
            let reachable = try await source.reachableBlobs(from: [snapshot.tree], skipping: visitedTrees)
            for blob in reachable where blob.type == .tree { visitedTrees.insert(blob.id) }
            let stats = try await copyBlobs(reachable.filter { !destination.index.has($0) })
            report.stored.add(stats)

            var copy = snapshot
            copy.parent = nil
            if copy.original == nil { copy.original = id }
            let newID = try await destination.saveJSON(.snapshots, copy.json)
            onEvent?(.saved(source: id, new: newID))
            report.copied.append((id, newID))
        }
        return report
    }

    /// Copies `blobs` from the source's packs into new packs of the destination; the index
    /// files are written before this returns.
    func copyBlobs(_ blobs: Set<BlobHandle>) async throws -> PackUploader.Stats {
        // Every pack holding a copy of a wanted blob, as restic does; each blob is copied once,
        // from the first of its packs reached.
        var packs = Set<ID>()
        for blob in blobs {
            let locations = source.index.locations(of: blob)
            guard !locations.isEmpty else {
                throw EngineError(
                    .invalidData,
                    "\(blob) is referenced but not in the source repository's index; nothing was copied for this snapshot. Run `offsite check` on the source."
                )
            }
            for loc in locations { packs.insert(loc.packID) }
        }
        onEvent?(.copying(packs: packs.count))
        guard !blobs.isEmpty else { return PackUploader.Stats() }
        let byPack = source.index.blobsByPack()
        let ordered = packs.sorted { $0.hex < $1.hex }
        let (_, stats) = try await destination.withPackUploader(compression: compression, targetPackSize: targetPackSize) { uploader in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (n, pack) in ordered.enumerated() {
                    if n >= readers { try await group.next() }
                    group.addTask {
                        try Task.checkCancellation()
                        var seen = Set<BlobHandle>()
                        let wanted = (byPack[pack] ?? []).filter {
                            blobs.contains($0.handle) && !uploader.has($0.handle) && seen.insert($0.handle).inserted
                        }
                        try await source.readVerifiedBlobs(pack: pack, wanted, ifDamaged: "the snapshot was not copied") {
                            blob, _, plaintext in
                            try await uploader.save(blob.type, plaintext, id: blob.id)
                        }
                        onEvent?(.packCopied)
                    }
                }
                try await group.waitForAll()
            }
            let missing = blobs.filter { !uploader.has($0) }
            guard missing.isEmpty else {
                throw EngineError(
                    .invalidData,
                    "\(missing.count) blobs were not found in the source packs the index names (e.g. \(missing.first!)); the snapshot was not copied. Run `offsite check` on the source."
                )
            }
        }
        return stats
    }
}

extension PackUploader.Stats {
    mutating func add(_ other: PackUploader.Stats) {
        dataBlobs += other.dataBlobs
        treeBlobs += other.treeBlobs
        bytesAdded += other.bytesAdded
        bytesStored += other.bytesStored
        bytesWritten += other.bytesWritten
        packs += other.packs
    }
}
