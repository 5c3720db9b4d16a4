import Foundation
public import OffsiteFormat
public import OffsiteStorage

/// `prune`: removes data no snapshot uses, with restic's plan (docs/FORMAT.md §9.2: restic 0.14's, with duplicate
/// copies counted and chosen as restic 0.15-0.18 do, see `plan()`).
///
/// The plan comes from the index alone (no pack is downloaded to decide): walk every tree of
/// every snapshot for the blobs in use, classify each pack (delete when nothing in it is used,
/// keep when everything is, otherwise a candidate for repacking), and repack candidates until
/// the unused space left is under `--max-unused`.
///
/// Execution order keeps the repository valid if prune is killed at any point: packs no index
/// mentions are deleted first; the used blobs of the packs to repack are copied (verified) into
/// new packs, which get index files; a new index covering every pack that stays is written;
/// only then are the old index files deleted, and last the packs that are no longer needed.
/// A killed prune leaves at most unreferenced packs or duplicate index entries, which `check`
/// accepts and the next prune cleans up.
public struct Prune: Sendable {
    public enum MaxUnused: Sendable, Equatable {
        case percent(Double)
        case bytes(UInt64)
        case unlimited

        /// restic's forms: `5%`, `unlimited`, a size such as `500M` or `0`.
        public static func parse(_ text: String) -> MaxUnused? {
            let t = text.trimmingCharacters(in: .whitespaces)
            if t == "unlimited" { return .unlimited }
            if t.hasSuffix("%") {
                guard let p = Double(t.dropLast()), p >= 0, p < 100 else { return nil }
                return .percent(p)
            }
            return Prune.parseSize(t).map { .bytes($0) }
        }

        /// Unused bytes tolerated after the prune, given the bytes in use.
        func limit(used: UInt64) -> UInt64 {
            switch self {
            case .unlimited: return .max
            case .bytes(let b): return b
            case .percent(let p): return UInt64(p / (100 - p) * Double(used))
            }
        }
    }

    /// Sizes with restic's suffixes: k, m, g, t (powers of 1024, either case), none = bytes.
    public static func parseSize(_ text: String) -> UInt64? {
        guard let last = text.last else { return nil }
        let powers: [Character: UInt64] = ["k": 1, "m": 2, "g": 3, "t": 4]
        if let p = powers[Character(last.lowercased())] {
            guard let v = UInt64(text.dropLast()) else { return nil }
            return v << (10 * p)
        }
        return UInt64(text)
    }

    public struct Options: Sendable {
        public var maxUnused = MaxUnused.percent(5)
        public var maxRepackBytes = UInt64.max
        public var repackCacheableOnly = false
        public var repackSmall = false
        public var repackUncompressed = false
        public var dryRun = false
        public var compression = Zstd.Level.auto
        public var targetPackSize = Pack.defaultTargetSize
        /// Snapshots to leave out of the used data (`forget --prune --dry-run`: not yet removed).
        public var ignoreSnapshots: Set<ID> = []
        public init() {}
    }

    /// restic's prune statistics (sizes are stored bytes).
    public struct Stats: Sendable, Equatable {
        public struct Counts: Sendable, Equatable {
            public var used: UInt64 = 0
            public var duplicate: UInt64 = 0
            public var unused: UInt64 = 0
            public var remove: UInt64 = 0
            public var repack: UInt64 = 0
            public var repackrm: UInt64 = 0
            public var unref: UInt64 = 0
        }
        public var blobs = Counts()
        public var size = Counts()
        public var packsUsed = 0
        public var packsPartlyUsed = 0
        public var packsUnused = 0
        public var packsKeep = 0
        public var packsRepack = 0
        public var packsRemove = 0
        public var packsUnref = 0
        public var snapshots = 0
    }

    public struct Plan: Sendable {
        /// Packs in no index: deleted first.
        public var removeFirst: Set<ID> = []
        /// Packs with nothing used: deleted last.
        public var remove: Set<ID> = []
        /// Packs whose used blobs move to new packs; deleted last.
        public var repack: Set<ID> = []
        /// Indexed packs that are missing from storage and not needed: dropped from the index.
        public var ignore: Set<ID> = []
        /// Used blobs that must be copied out of the repacked packs.
        public var keepBlobs: Set<BlobHandle> = []
    }

    public enum Event: Sendable {
        case phase(String)
        case warning(String)
    }

    public let repository: Repository
    public let options: Options
    public var onEvent: (@Sendable (Event) -> Void)?

    public init(repository: Repository, options: Options, onEvent: (@Sendable (Event) -> Void)? = nil) {
        self.repository = repository
        self.options = options
        self.onEvent = onEvent
    }

    // MARK: Planning

    /// Works out what to delete and what to repack. Throws when the repository is damaged in a
    /// way that makes pruning unsafe (a used blob missing from the index, a needed pack missing
    /// or of the wrong size): nothing has been changed then.
    public func plan() async throws -> (Plan, Stats) {
        var stats = Stats()
        let used = try await usedBlobs(&stats)
        onEvent?(.phase("searching used packs..."))
        let census = try PackCensus(index: repository.index, used: used, stats: &stats)
        onEvent?(.phase("collecting packs for deletion and repacking"))
        var plan = Plan()
        let candidates = try await sortPacks(census, into: &plan, stats: &stats)
        chooseRepacks(candidates, into: &plan, stats: &stats)
        stats.packsUnref = plan.removeFirst.count
        stats.packsRepack = plan.repack.count
        stats.packsRemove = plan.remove.count

        // Blobs that also live in a pack that stays need not be copied.
        if !plan.repack.isEmpty {
            var keepBlobs = census.usedBlobs
            for (pack, blobs) in census.byPack where !plan.remove.contains(pack) && !plan.repack.contains(pack) {
                for blob in blobs { keepBlobs.remove(blob.handle) }
            }
            plan.keepBlobs = keepBlobs
        }
        return (plan, stats)
    }

    /// The blobs the snapshots (but `ignoreSnapshots`) reach.
    private func usedBlobs(_ stats: inout Stats) async throws -> Set<BlobHandle> {
        onEvent?(.phase("loading all snapshots..."))
        var roots: [ID] = []
        for id in try await repository.listIDs(.snapshots).sorted() where !options.ignoreSnapshots.contains(id) {
            do {
                roots.append(try await repository.loadSnapshot(id).tree)
            } catch let e as EngineError where e.code == .storage && e.storageCode == .notFound {
                continue  // removed meanwhile (by this forget)
            } catch let e as EngineError {
                throw EngineError(e.code, "failed loading snapshot: \(e.message)")
            }
        }
        stats.snapshots = roots.count
        onEvent?(.phase("finding data that is still in use for \(roots.count) snapshots"))
        do {
            return try await repository.reachableBlobs(from: roots)
        } catch let e as EngineError {
            throw EngineError(
                e.code,
                "\(e.message)\ndata needed by a snapshot cannot be read, so prune will not start (nothing was changed); run `offsite check` to see what is damaged"
            )
        }
    }

    /// What one pack holds, as far as pruning is concerned.
    struct PackInfo {
        var usedSize: UInt64
        var unusedSize: UInt64 = 0
        var usedBlobs: UInt64 = 0
        var unusedBlobs: UInt64 = 0
        /// Copies of blobs stored more than once, counted unused until one copy is chosen.
        var duplicateBlobs: UInt64 = 0
        var types: Set<BlobType> = []
        var uncompressed = false
        var isData: Bool { types == [.data] }
        var size: UInt64 { usedSize + unusedSize }
    }

    /// Every indexed pack's used and unused blobs, with exactly one copy of each used blob counted
    /// as used.
    struct PackCensus {
        let byPack: [ID: [PackBlob]]
        /// Packs by ID, the order every pass visits them in.
        let order: [ID]
        var info: [ID: PackInfo] = [:]
        /// Every used blob (each in the index at least once).
        let usedBlobs: Set<BlobHandle>

        init(index: MasterIndex, used: Set<BlobHandle>, stats: inout Stats) throws {
            byPack = index.blobsByPack()
            order = byPack.keys.sorted { $0.hex < $1.hex }
            // How many copies of each used blob the index lists (at most 255: only 1 versus more matters).
            var copies: [BlobHandle: Int] = [:]
            for pack in order {
                for blob in byPack[pack]! where used.contains(blob.handle) {
                    copies[blob.handle] = min((copies[blob.handle] ?? 0) + 1, 255)
                }
            }
            let missing = used.subtracting(copies.keys)
            if !missing.isEmpty {
                throw EngineError(
                    .invalidData,
                    "\(missing.count) blobs in use are not in the index (e.g. \(missing.first!)): data seems to be missing, so prune will not start (nothing was changed). Run `offsite check` to see what is damaged."
                )
            }
            usedBlobs = Set(copies.keys)
            count(copies: copies, stats: &stats)
            chooseCopies(copies.filter { $0.value >= 2 }, stats: &stats)
        }

        /// Counts each pack's blobs: used when the index lists them once, duplicate when more.
        private mutating func count(copies: [BlobHandle: Int], stats: inout Stats) {
            for pack in order {
                let blobs = byPack[pack]!
                let header = UInt64(Pack.size(of: blobs) - blobs.reduce(0) { $0 + Int($1.length) })
                var p = PackInfo(usedSize: header)
                for blob in blobs {
                    p.types.insert(blob.type)
                    if !blob.isCompressed { p.uncompressed = true }
                    let size = UInt64(blob.length)
                    switch copies[blob.handle] {
                    case nil:
                        p.unusedSize += size
                        p.unusedBlobs += 1
                        stats.size.unused += size
                        stats.blobs.unused += 1
                    case 1:
                        p.usedSize += size
                        p.usedBlobs += 1
                        stats.size.used += size
                        stats.blobs.used += 1
                    default:
                        p.unusedSize += size
                        p.unusedBlobs += 1
                        p.duplicateBlobs += 1
                        stats.size.duplicate += size
                        stats.blobs.duplicate += 1
                    }
                }
                info[pack] = p
            }
        }

        /// Makes exactly one copy of each duplicated blob used, and the statistics follow the copy
        /// chosen (copies may differ in size: one client compressed, another did not), as restic
        /// 0.15+ counts them. The copy kept, as restic 0.17+ chooses: one in a pack with used
        /// blobs, one in a pack made only of duplicates (what an interrupted prune leaves: keeping
        /// it saves repacking again), else the last copy. (restic 0.14 counted the first copy as
        /// used whichever was kept, so what it removed could exceed what it had counted unused and
        /// its "unused size after prune" wrapped around: the crash the concurrency driver once hit.)
        private mutating func chooseCopies(_ duplicated: [BlobHandle: Int], stats: inout Stats) {
            var pending = duplicated  // copies not yet visited, until one is chosen
            for pack in order where !pending.isEmpty {
                for blob in byPack[pack]! {
                    guard let remaining = pending[blob.handle] else { continue }
                    let p = info[pack]!
                    guard p.usedBlobs > 0 || p.duplicateBlobs == p.unusedBlobs || remaining == 1 else {
                        pending[blob.handle] = remaining - 1
                        continue
                    }
                    let size = UInt64(blob.length)
                    info[pack]!.unusedSize -= size
                    info[pack]!.unusedBlobs -= 1
                    info[pack]!.usedSize += size
                    info[pack]!.usedBlobs += 1
                    stats.size.duplicate -= size
                    stats.blobs.duplicate -= 1
                    stats.size.used += size
                    stats.blobs.used += 1
                    pending[blob.handle] = nil
                }
            }
        }
    }

    /// Sorts the stored packs against the census: unindexed packs go first, unused ones are
    /// removed, full ones kept, the rest returned as candidates for repacking (best first).
    /// Throws when a pack's size disagrees with the index or a needed pack is missing.
    private func sortPacks(_ census: PackCensus, into plan: inout Plan, stats: inout Stats) async throws -> [(ID, PackInfo)] {
        let small = smallPackLimit
        var candidates: [(ID, PackInfo)] = []
        var smallCandidates: [(ID, PackInfo)] = []
        let stored = try await storage("listing data") { try await repository.backend.list(.data) }
        var seen = Set<ID>()
        for object in stored.sorted(by: { $0.name < $1.name }) {
            guard let id = ID(hex: object.name) else { continue }
            seen.insert(id)
            guard var p = census.info[id] else {
                plan.removeFirst.insert(id)
                stats.size.unref += UInt64(object.size)
                continue
            }
            if p.size != UInt64(object.size) && p.usedBlobs != 0 {
                throw EngineError(
                    .invalidData,
                    "pack \(id.shortHex): calculated size \(p.size) does not match real size \(object.size); run `offsite check` and repair the index first (nothing was changed)"
                )
            }
            if p.usedBlobs == 0 {
                stats.packsUnused += 1
            } else if p.unusedBlobs == 0 {
                stats.packsUsed += 1
            } else {
                stats.packsPartlyUsed += 1
            }
            let mustCompress = repository.version >= 2 && (p.types == [.tree] || options.repackUncompressed) && p.uncompressed
            p.uncompressed = mustCompress
            if p.usedBlobs == 0 {
                plan.remove.insert(id)
                stats.blobs.remove += p.unusedBlobs
                stats.size.remove += p.unusedSize
            } else if options.repackCacheableOnly && p.isData {
                stats.packsKeep += 1
            } else if p.unusedBlobs == 0 && p.types.count == 1 && !mustCompress {
                if object.size >= small {
                    stats.packsKeep += 1
                } else {
                    smallCandidates.append((id, p))
                }
            } else {
                candidates.append((id, p))
            }
        }
        // Indexed packs missing from storage: harmless if nothing in them is used.
        var missingNeeded: [ID] = []
        for (id, p) in census.info where !seen.contains(id) {
            if p.usedBlobs == 0 {
                plan.ignore.insert(id)
                stats.blobs.remove += p.unusedBlobs
                stats.size.remove += p.unusedSize
            } else {
                missingNeeded.append(id)
            }
        }
        if !missingNeeded.isEmpty {
            throw EngineError(
                .invalidData,
                "the index references \(missingNeeded.count) needed pack files which are missing from the repository: \(missingNeeded.map(\.hex).sorted().joined(separator: ", ")) (nothing was changed)"
            )
        }
        for id in plan.ignore.sorted(by: { $0.hex < $1.hex }) {
            onEvent?(.warning("will forget missing pack file \(id.hex)"))
        }
        if smallCandidates.count < 10 {
            stats.packsKeep += smallCandidates.count
        } else {
            candidates += smallCandidates
        }
        let target = UInt64(small)
        candidates.sort { a, b in
            let (pi, pj) = (a.1, b.1)
            if !pi.isData && pj.isData { return true }
            if !pj.isData && pi.isData { return false }
            if pi.size < target && pj.size >= target { return true }
            if pj.size < target && pi.size >= target { return false }
            return pi.unusedSize * pj.usedSize > pj.unusedSize * pi.usedSize
        }
        return candidates
    }

    /// A pack below this size is small: worth repacking when there are enough of them.
    private var smallPackLimit: Int { options.repackSmall ? options.targetPackSize / 5 * 4 : options.targetPackSize / 25 }

    /// Picks the candidates to repack, in order, until `--max-unused` is met or
    /// `--max-repack-size` reached; tree packs and packs that must be compressed are always
    /// repacked (while the size limit allows).
    private func chooseRepacks(_ candidates: [(ID, PackInfo)], into plan: inout Plan, stats: inout Stats) {
        let target = UInt64(smallPackLimit)
        let maxUnusedAfter = options.maxUnused.limit(used: stats.size.used)
        for (id, p) in candidates {
            // Duplicates count as unused here too, as in restic 0.18+ (0.14 left them out, so a
            // repository full of duplicate copies was never repacked). Never below zero: what is
            // removed comes out of what was counted unused.
            let counted = stats.size.unused + stats.size.duplicate, removed = stats.size.remove + stats.size.repackrm
            let reachedUnused = (counted > removed ? counted - removed : 0) < maxUnusedAfter
            let (sum, overflow) = stats.size.repack.addingReportingOverflow(p.size)
            let reachedRepackSize = overflow || sum >= options.maxRepackBytes
            if reachedRepackSize || (p.isData && !p.uncompressed && reachedUnused && p.size >= target) {
                stats.packsKeep += 1
                continue
            }
            plan.repack.insert(id)
            stats.blobs.repack += p.unusedBlobs + p.usedBlobs
            stats.size.repack += p.size
            stats.blobs.repackrm += p.unusedBlobs
            stats.size.repackrm += p.unusedSize
        }
    }

    // MARK: Execution

    /// Carries out `plan` (nothing with `dryRun`).
    public func execute(_ plan: Plan) async throws {
        if options.dryRun { return }
        if !(plan.removeFirst.isEmpty && plan.repack.isEmpty && plan.remove.isEmpty && plan.ignore.isEmpty) {
            try await checkDeletionsAllowed()
        }
        if !plan.removeFirst.isEmpty {
            onEvent?(.phase("deleting unreferenced packs"))
            try await repository.removeFiles(plan.removeFirst, .data)
        }
        var remove = plan.remove
        if !plan.repack.isEmpty {
            onEvent?(.phase("repacking packs"))
            let left = try await repack(plan.repack, keep: plan.keepBlobs)
            guard left.isEmpty else {
                throw EngineError(
                    .invalidData,
                    "\(left.count) used blobs were not found in the packs being repacked (e.g. \(left.first!)); nothing was deleted. Run `offsite check`."
                )
            }
            remove.formUnion(plan.repack)
        }
        let dropped = remove.union(plan.ignore)
        if !dropped.isEmpty {
            onEvent?(.phase("rebuilding index"))
            let old = try await repository.listIDs(.index)
            try await repository.saveIndex(
                packs: repository.index.blobsByPack().filter { !dropped.contains($0.key) }.map { .init(id: $0.key, blobs: $0.value) })
            onEvent?(.phase("deleting obsolete index files"))
            try await repository.removeFiles(old, .index)
        }
        if !remove.isEmpty {
            onEvent?(.phase("removing \(remove.count) old packs"))
            try await repository.removeFiles(remove, .data)
        }
        onEvent?(.phase("done"))
    }

    /// Fails, before anything is written, when the storage refuses deletions (an append-only
    /// REST server, S3 credentials without s3:DeleteObject): otherwise prune would repack and
    /// save a new index, then stop at the first deletion, leaving copies of packs and index
    /// files behind at every attempt. It removes a pack that does not exist (a random name):
    /// such storage refuses before looking (rest-server and rclone answer 403, S3 AccessDenied),
    /// other storage answers "not found" or OK. (On a versioned S3 bucket this leaves a delete
    /// marker, which lists nothing.)
    func checkDeletionsAllowed() async throws {
        do {
            try await repository.backend.remove(Handle(.data, ID.random().hex))
        } catch let e as StorageError where e.code == .notFound {
            return
        } catch let e as StorageError where e.code == .unauthorized {
            throw EngineError.storage(
                e,
                "prune stopped before changing anything: the storage refused a deletion (an append-only server, or credentials without the right to delete); run prune where deleting is allowed"
            )
        } catch let e as StorageError {
            throw EngineError.storage(e, "prune stopped before changing anything: trying whether the storage allows deletions failed")
        }
    }

    /// Copies the blobs of `keep` found in `packs` into new packs; returns those not found.
    func repack(_ packs: Set<ID>, keep: Set<BlobHandle>) async throws -> Set<BlobHandle> {
        let byPack = repository.index.blobsByPack()
        var wanted = keep
        _ = try await repository.withPackUploader(compression: options.compression, targetPackSize: options.targetPackSize) { uploader in
            for pack in packs.sorted(by: { $0.hex < $1.hex }) {
                try Task.checkCancellation()
                let all = byPack[pack] ?? []
                let blobs = all.filter { wanted.contains($0.handle) }
                guard !blobs.isEmpty else { continue }
                let forceCompress =
                    repository.version >= 2 && blobs.contains { !$0.isCompressed }
                    && (options.repackUncompressed || all.allSatisfy { $0.type == .tree })
                try await repository.readVerifiedBlobs(pack: pack, blobs, ifDamaged: "nothing was deleted") { blob, sealed, plaintext in
                    guard wanted.remove(blob.handle) != nil else { return }
                    if forceCompress && !blob.isCompressed {
                        try await uploader.repack(blob.type, id: blob.id, plaintext: plaintext)
                    } else {
                        try await uploader.repack(blob, sealed: sealed)
                    }
                }
            }
        }
        return wanted
    }
}
