import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The corruption driver: one file of one kind (a data pack, a tree pack, an index
/// file, a snapshot, the key, the config, a lock) gets one damage (a flipped byte, a
/// truncation at a random offset, or deletion) in a fresh small repository, and what a user
/// sees is verified:
///
/// - `offsite check --read-data` exits non-zero (1; 10, 11 or 12 where the repository cannot
///   be opened) and names the damaged file; `restic check --read-data` (0.14) is run on the
///   same repository and its verdict recorded.
/// - `offsite restore` of every snapshot: a file that exists afterwards holds exactly its
///   source's bytes (never wrong bytes); every file whose chunks and directories are intact is
///   restored; every file that is not is named in the error output (itself or a directory
///   above it); the exit code is non-zero when anything is missing. Where the repository
///   cannot be read at all (key, config, a damaged index or lock) nothing is written.
/// - The repair restic's troubleshooting guide gives (`repair index`, then `repair snapshots
///   --forget`; a pack `check` found damaged is deleted first, as restic 0.14 has no `repair
///   packs`; a damaged snapshot file is deleted; a damaged lock goes with `unlock
///   --remove-all`) leaves a repository `restic check --read-data` and `offsite check
///   --read-data` accept, whose snapshots restore: intact files identically, files that lost
///   chunks with exactly their surviving chunks (restic's rule), directories whose tree was
///   lost empty. A damaged key or config has no repair (the master key and the chunker
///   polynomial exist nowhere else).
///
/// `CORRUPT_ROUNDS` (default 2) rounds per file kind, the damages taking turns (90 gives 30
/// of each); `CORRUPT_SEED` replays a seed; `CORRUPT_KINDS` (comma-separated, e.g.
/// `index,lock`) limits the kinds; `CORRUPT_REPORT` names a file that gets one JSON line per
/// kind and damage (`make corrupt` writes docs/RELIABILITY.md from it). Every failure names
/// the kind, the seed, the round and the damage.
@Suite struct CorruptionTests {
    @Test(arguments: CorruptedKind.allCases)
    func corrupt(_ kind: CorruptedKind) async throws {
        let selected = ProcessInfo.processInfo.environment["CORRUPT_KINDS"].map {
            Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
        if let selected, !selected.contains(kind.name) { return }
        try await withScratchDirectory { dir in
            var driver = CorruptionDriver(kind: kind, dir: dir)
            try await driver.run()
        }
    }
}

/// The kinds of repository file the driver damages.
enum CorruptedKind: String, CaseIterable, Sendable {
    case dataPack = "data pack", treePack = "tree pack", index, snapshot, key, config, lock
    /// The name `CORRUPT_KINDS` uses.
    var name: String { rawValue.replacingOccurrences(of: " ", with: "-") }
    var isPack: Bool { self == .dataPack || self == .treePack }
}

enum Damage: String, CaseIterable, Sendable {
    case flip = "flipped byte", truncate = "truncated", delete = "deleted"
}

/// One kind's rounds.
struct CorruptionDriver {
    let kind: CorruptedKind
    let dir: String
    let seed: UInt64
    let rounds: Int
    var rng: SplitMix64
    var figures: [Damage: Figures] = [:]

    /// Per damage, over its rounds.
    struct Figures {
        var rounds = 0
        /// `offsite check --read-data` exited with the expected non-zero code.
        var detected = 0
        /// ... and its output named the damaged file.
        var named = 0
        /// Rounds where the damage leaves nothing to detect (a deleted snapshot or lock).
        var nothingToDetect = 0
        var resticDetected = 0
        var restores = 0
        /// Rounds in which no restore wrote a byte that differs from the source.
        var onlyGoodBytes = 0
        /// Rounds in which every intact file was restored and every other one named.
        var intactRestored = 0
        var filesNotRestorable = 0
        var repairable = 0
        /// restic check --read-data and offsite check --read-data exit 0 after the repair, and
        /// every remaining snapshot restores as expected.
        var repaired = 0
        var snapshotsLost = 0
        var crashes = 0
        var writers: [String: Int] = [:]
        var offsiteExits: [Int32: Int] = [:]
        var resticExits: [Int32: Int] = [:]
    }

    init(kind: CorruptedKind, dir: String) {
        self.kind = kind
        self.dir = dir
        let env = ProcessInfo.processInfo.environment
        seed = env["CORRUPT_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(Int64.max))
        rounds = env["CORRUPT_ROUNDS"].flatMap { Int($0) } ?? 2
        rng = SplitMix64(seed: seed)
    }

    mutating func run() async throws {
        let started = Date()
        let first = Int(seed % 3)
        for r in 0..<rounds {
            let damage = Damage.allCases[(first + r) % 3]
            var round = CorruptionRound(kind: kind, damage: damage, number: r + 1, seed: seed, dir: dir + "/round-\(r + 1)", rng: rng)
            var fig = figures[damage] ?? Figures()
            do {
                try await round.run(&fig)
            } catch {
                round.problem("the round stopped: \(error)")
            }
            rng = round.rng
            for p in round.problems { Issue.record("\(round.context): \(p)") }
            figures[damage] = fig
            removeTree(round.dir)
        }
        try report(seconds: Date().timeIntervalSince(started))
    }

    /// Appends one JSON line per damage to `$CORRUPT_REPORT`.
    func report(seconds: Double) throws {
        guard let path = ProcessInfo.processInfo.environment["CORRUPT_REPORT"], !path.isEmpty else { return }
        var data = Data()
        for damage in Damage.allCases {
            guard let f = figures[damage] else { continue }
            let line: [String: Any] = [
                "kind": kind.rawValue, "damage": damage.rawValue, "seed": String(seed), "rounds": f.rounds,
                "detected": f.detected, "named": f.named, "nothing_to_detect": f.nothingToDetect,
                "restic_detected": f.resticDetected, "restores": f.restores, "only_good_bytes": f.onlyGoodBytes,
                "intact_restored": f.intactRestored, "files_not_restorable": f.filesNotRestorable,
                "repairable": f.repairable, "repaired": f.repaired, "snapshots_lost": f.snapshotsLost,
                "crashes": f.crashes, "writers": f.writers,
                "offsite_exits": Dictionary(uniqueKeysWithValues: f.offsiteExits.map { (String($0.key), $0.value) }),
                "restic_exits": Dictionary(uniqueKeysWithValues: f.resticExits.map { (String($0.key), $0.value) }),
                "seconds": Int(seconds.rounded()),
            ]
            data.append(try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]))
            data.append(0x0a)
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw FixtureError(message: "cannot open \(path)") }
        defer { close(fd) }
        _ = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}

/// What the undamaged repository holds, read before the damage.
struct RepositoryMap {
    struct FileEntry {
        var blobs: [ID]
        var lengths: [Int]
        /// The trees of the directories above the file, the snapshot's root tree first.
        var trees: [ID]
    }

    struct SnapshotEntry {
        var id: ID
        var tag: String
        var root: ID
        /// Regular files by path below the restore target ("src/big.bin").
        var files: [String: FileEntry] = [:]
        /// Directories by path, with their own tree and the trees above them.
        var dirs: [String: [ID]] = [:]
    }

    var snapshots: [SnapshotEntry] = []
    /// The pack of every blob, data and tree.
    var packOf: [ID: ID] = [:]
    /// Every pack's blobs with their places in it.
    var blobsIn: [ID: [PackBlob]] = [:]
    var dataPacks: [ID] = []
    var treePacks: [ID] = []
    /// The packs each index file lists.
    var indexFiles: [ID: [ID]] = [:]
    var keys: [ID] = []

    static func read(_ path: String) async throws -> RepositoryMap {
        var map = RepositoryMap()
        let repository = try await Repository.open(backend: LocalBackend(path: path), password: password)
        for id in try await repository.listIDs(.index) {
            let file = try IndexFile(json: try await repository.loadJSON(.index, id))
            map.indexFiles[id] = file.packs.map(\.id)
        }
        try await repository.loadIndex()
        var data = Set<ID>(), trees = Set<ID>()
        map.blobsIn = repository.index.blobsByPack()
        for (pack, blobs) in map.blobsIn {
            for blob in blobs {
                map.packOf[blob.id] = pack
                if blob.type == .data { data.insert(pack) } else { trees.insert(pack) }
            }
        }
        map.dataPacks = data.sorted()
        map.treePacks = trees.sorted()
        map.keys = try await repository.listIDs(.keys).sorted()
        for id in try await repository.listIDs(.snapshots).sorted() {
            let snapshot = try await repository.loadSnapshot(id)
            var entry = SnapshotEntry(id: id, tag: snapshot.tags.first ?? "", root: snapshot.tree)
            try await walk(repository, snapshot.tree, prefix: "", above: [snapshot.tree], into: &entry)
            map.snapshots.append(entry)
        }
        return map
    }

    static func walk(_ repository: Repository, _ tree: ID, prefix: String, above: [ID], into entry: inout SnapshotEntry) async throws {
        for node in try await repository.loadTree(tree).nodes {
            let path = prefix.isEmpty ? node.nameString : prefix + "/" + node.nameString
            switch node.type {
            case .file:
                let blobs = node.content ?? []
                let lengths = blobs.map { repository.index.plaintextLength(of: BlobHandle(id: $0, type: .data)) ?? 0 }
                entry.files[path] = FileEntry(blobs: blobs, lengths: lengths, trees: above)
            case .dir:
                guard let sub = node.subtree else { continue }
                entry.dirs[path] = above + [sub]
                try await walk(repository, sub, prefix: path, above: above + [sub], into: &entry)
            default:
                continue
            }
        }
    }

    /// Whether the file needs any of `blobs` (a chunk, or the tree of a directory above it).
    func touches(_ file: FileEntry, _ blobs: Set<ID>) -> Bool {
        file.blobs.contains(where: blobs.contains) || file.trees.contains(where: blobs.contains)
    }
}

/// One round: a fresh repository, one damage, and everything verified.
struct CorruptionRound {
    let kind: CorruptedKind
    let damage: Damage
    let number: Int
    let seed: UInt64
    let dir: String
    var rng: SplitMix64
    var repo: String { dir + "/repo" }
    var writer = "offsite"
    var target = ""
    var detail = ""
    var problems: [String] = []
    /// The packs whose blobs the damage may make unreadable (and a repair loses).
    var damagedPacks = Set<ID>()
    /// The blobs that cannot be read after the damage: those the flipped byte or the cut falls
    /// in, every blob of a deleted pack or of the packs a deleted index listed. A flip or a cut
    /// in a pack's header damages none (restores read blobs where the index says).
    var damagedBlobs = Set<ID>()

    init(kind: CorruptedKind, damage: Damage, number: Int, seed: UInt64, dir: String, rng: SplitMix64) {
        self.kind = kind
        self.damage = damage
        self.number = number
        self.seed = seed
        self.dir = dir
        self.rng = rng
    }

    var context: String {
        "\(kind.rawValue) \(damage.rawValue), seed \(seed), round \(number) (\(writer)-written, \(target)\(detail))"
    }

    mutating func problem(_ text: String) { problems.append(text) }

    mutating func random(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    // MARK: The repository

    /// Three generations of a small source tree, backed up by offsite (or, one round in three,
    /// by restic): a multi-chunk file and a directory that never change (their chunks and
    /// trees are shared by every snapshot), text files rewritten, a new file each generation
    /// and the first one's removed in the third, nested directories. The repository's key and
    /// config are made with cheap scrypt parameters so that each command opens it quickly.
    mutating func makeRepository() async throws -> [String: String] {
        writer = random(3) == 2 ? "restic" : "offsite"
        let src = TreeFixture(root: dir + "/src")
        try src.dir("")
        try FileManager.default.createDirectory(atPath: dir + "/trees", withIntermediateDirectories: true)
        _ = try await Repository.initialize(
            backend: LocalBackend(path: repo), password: password, options: TestRepository.cheapOptions)
        var trees: [String: String] = [:]
        for g in 1...3 {
            if g == 1 {
                for d in ["shared", "shared/deep", "shared/deep/er", "docs"] { try src.dir(d) }
                try src.file("big.bin", TreeFixture.randomBytes(700_000 + random(1_300_000), seed: rng.next()))
                try src.file("shared/a.bin", TreeFixture.randomBytes(20_000 + random(200_000), seed: rng.next()))
                try src.file("shared/b.txt", Array((0..<(50 + random(500))).map { "shared line \($0)\n" }.joined().utf8))
                try src.file("shared/deep/er/c.txt", Array("deep \(rng.next())\n".utf8))
                try src.file("empty", [])
                for i in 0..<3 { try src.file("docs/notes-\(i).txt", Array("notes \(i) of generation 1\n".utf8)) }
            } else {
                let i = random(3)
                try src.file("docs/notes-\(i).txt", Array((0..<(1 + random(300))).map { "generation \(g) line \($0)\n" }.joined().utf8))
            }
            try src.file("gen-\(g).bin", TreeFixture.randomBytes(20_000 + random(500_000), seed: rng.next()))
            if g == 3 {
                try FileManager.default.removeItem(atPath: dir + "/src/gen-1.bin")
                try src.dir("new")
                try src.file("new/x.txt", Array("new in generation 3\n".utf8))
            }
            let copy = try await ProcessRunner.run("/bin/cp", ["-a", dir + "/src", dir + "/trees/g\(g)"])
            guard copy.status == 0 else { throw FixtureError(message: "cp: \(copy.stderr)") }
            trees["g\(g)"] = dir + "/trees/g\(g)"
            let r =
                writer == "restic"
                ? try await Restic.run(["backup", "src", "--tag", "g\(g)"], repo: repo, password: password, cwd: dir)
                : try await OffsiteBinary.run(["-r", repo, "backup", "src", "--tag", "g\(g)"], password: password, cwd: dir)
            guard r.status == 0 else { throw FixtureError(message: "\(writer) backup g\(g): exit \(r.status): \(r.stderr.prefix(1000))") }
        }
        await makeWritable(repo)
        return trees
    }

    // MARK: The round

    mutating func run(_ fig: inout CorruptionDriver.Figures) async throws {
        let trees = try await makeRepository()
        let pristine = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
        guard pristine.status == 0 else {
            problem("the undamaged repository fails restic check: \(pristine.stdoutString.suffix(800)) \(pristine.stderr.prefix(800))")
            return
        }
        let map = try await RepositoryMap.read(repo)
        guard map.snapshots.count == 3, map.snapshots.allSatisfy({ trees[$0.tag] != nil }) else {
            problem("expected three snapshots tagged g1-g3, found \(map.snapshots.map(\.tag))")
            return
        }
        fig.rounds += 1
        fig.writers[writer, default: 0] += 1

        // The damage.
        let (path, names) = try await chooseTarget(map)
        let change = try apply(to: path)
        for pack in damagedPacks {
            for blob in map.blobsIn[pack] ?? [] {
                let start = Int(blob.offset), end = Int(blob.offset) + Int(blob.length)
                switch change {
                case .flipped(let at): if start <= at && at < end { damagedBlobs.insert(blob.id) }
                case .cut(let length): if end > length { damagedBlobs.insert(blob.id) }
                case .removed: damagedBlobs.insert(blob.id)
                }
            }
        }

        // check, by offsite and by restic.
        let expected = expectedFailure()
        let check = try await offsite(["check", "--read-data"], &fig)
        fig.offsiteExits[check.status, default: 0] += 1
        let theirs = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
        fig.resticExits[theirs.status, default: 0] += 1
        if theirs.status != 0 { fig.resticDetected += 1 }
        let checkOutput = check.stdoutString + check.stderr
        if let code = expected {
            if check.status == code {
                fig.detected += 1
            } else {
                problem("offsite check --read-data exited \(check.status), expected \(code): \(checkOutput.suffix(1500))")
            }
            let missing = names.filter { !checkOutput.contains($0) }
            if missing.isEmpty {
                fig.named += 1
            } else {
                problem("offsite check does not name \(missing): \(checkOutput.suffix(1500))")
            }
        } else {
            fig.nothingToDetect += 1
            if check.status != 0 {
                problem("offsite check --read-data exited \(check.status) with nothing damaged: \(checkOutput.suffix(1500))")
            }
        }

        // Restores before any repair.
        var goodBytes = true
        var intact = true
        for s in map.snapshots {
            fig.restores += 1
            let out = dir + "/before-\(s.id.shortHex)"
            let r = try await offsite(["restore", s.id.hex, "--target", out], &fig)
            let v = try verifyRestore(r, out: out, snapshot: s, source: trees[s.tag]!, map: map, names: names)
            goodBytes = goodBytes && v.goodBytes
            intact = intact && v.intact
            fig.filesNotRestorable += v.notRestored
            removeTree(out)
        }
        if goodBytes { fig.onlyGoodBytes += 1 }
        if intact { fig.intactRestored += 1 }

        // The repair.
        guard kind != .key && kind != .config else {
            // Nothing can repair these; commands must still fail the same way.
            let again = try await offsite(["snapshots"], &fig)
            if again.status != expected { problem("offsite snapshots exited \(again.status), expected \(expected ?? 0)") }
            return
        }
        fig.repairable += 1
        var ok = try await repair(checkOutput: checkOutput, map: map, &fig)
        let after = try await Restic.run(["check", "--read-data"], repo: repo, password: password)
        if after.status != 0 {
            ok = false
            problem(
                "after the repair restic check --read-data exits \(after.status): \(after.stdoutString.suffix(1500)) \(after.stderr.prefix(1500))"
            )
        }
        let ours = try await offsite(["check", "--read-data"], &fig)
        if ours.status != 0 {
            ok = false
            problem(
                "after the repair offsite check --read-data exits \(ours.status): \(ours.stdoutString.suffix(1500)) \(ours.stderr.prefix(1500))"
            )
        }
        let restored = try await verifyAfterRepair(map: map, trees: trees, &fig)
        if ok && restored { fig.repaired += 1 }
    }

    /// Runs offsite on the repository; a crash (a signal, or an exit code offsite never uses) is a problem.
    mutating func offsite(_ args: [String], _ fig: inout CorruptionDriver.Figures) async throws -> ProcessRunner.Result {
        let r = try await OffsiteBinary.run(["-r", repo] + args, password: password)
        if ![0, 1, 3, 10, 11, 12].contains(r.status) {
            fig.crashes += 1
            problem("offsite \(args.joined(separator: " ")) crashed (exit \(r.status)): \(r.stderr.suffix(2000))")
        }
        return r
    }

    // MARK: Damage

    /// Picks the file to damage: its path, and what check must name.
    mutating func chooseTarget(_ map: RepositoryMap) async throws -> (String, [String]) {
        func pick<T>(_ a: [T]) -> T { a[random(a.count)] }
        switch kind {
        case .dataPack, .treePack:
            let pack = pick(kind == .dataPack ? map.dataPacks : map.treePacks)
            damagedPacks = [pack]
            target = "pack \(pack.shortHex)"
            return ("\(repo)/data/\(pack.hex.prefix(2))/\(pack.hex)", [pack.hex])
        case .index:
            let id = pick(map.indexFiles.keys.sorted())
            target = "index \(id.shortHex)"
            if damage == .delete {
                // Its packs become unknown: check names each of them.
                damagedPacks = Set(map.indexFiles[id] ?? [])
                return ("\(repo)/index/\(id.hex)", damagedPacks.map(\.hex).sorted())
            }
            return ("\(repo)/index/\(id.hex)", ["index/\(id.hex)"])
        case .snapshot:
            let s = pick(map.snapshots)
            target = "snapshot \(s.id.shortHex) (\(s.tag))"
            return ("\(repo)/snapshots/\(s.id.hex)", ["snapshots/\(s.id.hex)"])
        case .key:
            let id = pick(map.keys)
            target = "key \(id.shortHex)"
            return ("\(repo)/keys/\(id.hex)", damage == .delete ? ["wrong password or no key found"] : ["keys/\(id.hex)"])
        case .config:
            target = "config"
            return ("\(repo)/config", damage == .delete ? ["unable to open config file"] : ["config", "damaged"])
        case .lock:
            // A lock left by a process on another host two hours ago (stale), shared or exclusive.
            let repository = try await Repository.open(backend: LocalBackend(path: repo), password: password)
            let lock = LockDocument(
                time: GoTime(seconds: GoTime.now().seconds - 7200), exclusive: random(2) == 1, hostname: "elsewhere",
                username: "corrupt", pid: 4242)
            let id = try await repository.saveJSON(.locks, lock.json)
            target = "\(lock.exclusive ? "exclusive" : "shared") lock \(id.shortHex)"
            return ("\(repo)/locks/\(id.hex)", ["locks/\(id.hex)"])
        }
    }

    enum Change {
        case flipped(at: Int)
        case cut(to: Int)
        case removed
    }

    mutating func apply(to path: String) throws -> Change {
        chmod(path, 0o600)
        switch damage {
        case .delete:
            try FileManager.default.removeItem(atPath: path)
            return .removed
        case .flip:
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let offset = random(bytes.count)
            let mask = UInt8(1 + random(255))
            bytes[offset] ^= mask
            try bytes.write(to: URL(fileURLWithPath: path))
            detail = ", byte \(offset) of \(bytes.count) xor 0x\(String(mask, radix: 16))"
            return .flipped(at: offset)
        case .truncate:
            var st = stat()
            stat(path, &st)
            let length = random(Int(st.st_size))
            guard truncate(path, off_t(length)) == 0 else { throw FixtureError(message: "truncate \(path) failed") }
            detail = ", cut to \(length) of \(st.st_size) bytes"
            return .cut(to: length)
        }
    }

    /// The exit code `offsite check` (and every command) must give, nil when there is nothing to detect.
    func expectedFailure() -> Int32? {
        switch (kind, damage) {
        case (.snapshot, .delete), (.lock, .delete): return nil
        case (.key, .delete): return 12
        case (.config, .delete): return 10
        case (.lock, _): return 11
        default: return 1
        }
    }

    // MARK: Restores

    /// Whether nothing at all can be restored: the repository does not open, or the snapshot is gone.
    func restoreMustFail(_ s: RepositoryMap.SnapshotEntry) -> Bool {
        switch kind {
        case .key, .config: return true
        case .lock, .index: return damage != .delete
        case .snapshot: return target.hasPrefix("snapshot \(s.id.shortHex)")
        case .dataPack, .treePack: return false
        }
    }

    /// Checks one restore against the source tree it was taken from.
    mutating func verifyRestore(
        _ r: ProcessRunner.Result, out: String, snapshot s: RepositoryMap.SnapshotEntry, source: String, map: RepositoryMap,
        names: [String]
    ) throws -> (goodBytes: Bool, intact: Bool, notRestored: Int) {
        let what = "restore of \(s.id.shortHex) (\(s.tag))"
        let restored = regularFiles(out)
        var goodBytes = true
        // Never a wrong byte: whatever exists is the source's file.
        for rel in restored {
            guard s.files[rel] != nil else {
                goodBytes = false
                problem("\(what): \(rel) is not in the snapshot")
                continue
            }
            let got = FileManager.default.contents(atPath: out + "/" + rel)
            let want = FileManager.default.contents(atPath: source + "/" + rel.dropFirst(4))
            if got != want {
                goodBytes = false
                problem("\(what): \(rel) restored with WRONG BYTES (\(got?.count ?? -1) bytes, the source has \(want?.count ?? -1))")
            }
        }
        if restoreMustFail(s) {
            if r.status == 0 { problem("\(what) exited 0") }
            if !restored.isEmpty { problem("\(what) wrote \(restored.count) files though the repository cannot be read") }
            if let code = expectedFailure(), r.status != code, !(kind == .snapshot) {
                problem("\(what) exited \(r.status), expected \(code): \(r.stderr.prefix(800))")
            }
            if kind != .snapshot || damage != .delete, !names.contains(where: { r.stderr.contains($0) }) {
                problem("\(what) does not name the damaged file: \(r.stderr.prefix(800))")
            }
            return (goodBytes, false, s.files.count)
        }
        var intact = true
        var missing = 0
        let restoredSet = Set(restored)
        for (rel, file) in s.files.sorted(by: { $0.key < $1.key }) where !restoredSet.contains(rel) {
            missing += 1
            if !map.touches(file, damagedBlobs) {
                intact = false
                problem("\(what): \(rel) is intact but was not restored: \(r.stderr.prefix(800))")
                continue
            }
            // Named: the file, or a directory above it, or (nothing restored at all) the root tree or its pack.
            var candidates = [out + "/" + rel]
            var p = rel as NSString
            while p.deletingLastPathComponent != "" {
                p = p.deletingLastPathComponent as NSString
                candidates.append(out + "/" + (p as String))
            }
            candidates.append(out)
            let named =
                candidates.contains { r.stderr.contains($0 + ":") }
                || (restored.isEmpty && (r.stderr.contains(s.root.hex) || damagedPacks.contains { r.stderr.contains($0.hex) }))
            if !named {
                intact = false
                problem("\(what): \(rel) was not restored and is not named: \(r.stderr.prefix(800))")
            }
        }
        if missing > 0 && r.status == 0 { problem("\(what) exited 0 with \(missing) files not restored") }
        if missing == 0 && r.status != 0 { problem("\(what) exited \(r.status) though every file was restored: \(r.stderr.prefix(800))") }
        return (goodBytes, intact, missing)
    }

    /// Regular files below `root`, relative to it.
    func regularFiles(_ root: String) -> [String] {
        var out: [String] = []
        guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
        for case let rel as String in e {
            var st = stat()
            if lstat(root + "/" + rel, &st) == 0, st.st_mode & S_IFMT == S_IFREG { out.append(rel) }
        }
        return out.sorted()
    }

    // MARK: Repair

    /// restic's procedure for the damage; returns whether every step succeeded.
    mutating func repair(checkOutput: String, map: RepositoryMap, _ fig: inout CorruptionDriver.Figures) async throws -> Bool {
        var ok = true
        func must(_ r: ProcessRunner.Result, _ what: String) -> Bool {
            if r.status != 0 { problem("\(what): exit \(r.status): \(r.stdoutString.suffix(800)) \(r.stderr.prefix(1500))") }
            return r.status == 0
        }
        switch kind {
        case .dataPack, .treePack:
            // A pack whose bytes are wrong stays indexed when its header still reads: the
            // guide's step before `repair index` is removing it (restic >= 0.16: `repair packs`).
            for pack in damagedPacks where checkOutput.contains("Pack ID does not match, want \(pack.hex)") {
                try? FileManager.default.removeItem(atPath: "\(repo)/data/\(pack.hex.prefix(2))/\(pack.hex)")
            }
            ok = must(try await offsite(["repair", "index"], &fig), "offsite repair index") && ok
            ok = must(try await offsite(["repair", "snapshots", "--forget"], &fig), "offsite repair snapshots --forget") && ok
        case .index:
            ok = must(try await offsite(["repair", "index"], &fig), "offsite repair index")
        case .snapshot:
            // No command removes a snapshot file that cannot be read (restic's `forget` skips
            // it too): it is deleted by hand, as check named it.
            if damage != .delete, let name = checkOutput.range(of: #"snapshots/[0-9a-f]{64}"#, options: .regularExpression) {
                try FileManager.default.removeItem(atPath: repo + "/" + checkOutput[name])
            }
        case .lock:
            if damage != .delete { ok = must(try await offsite(["unlock", "--remove-all"], &fig), "offsite unlock --remove-all") }
        case .key, .config:
            return false
        }
        return ok
    }

    /// Every snapshot left after the repair restores: intact files identically, files that lost
    /// chunks with exactly the surviving ones, files below a lost directory not at all.
    mutating func verifyAfterRepair(map: RepositoryMap, trees: [String: String], _ fig: inout CorruptionDriver.Figures) async throws -> Bool
    {
        let listed = try await Restic.run(["snapshots", "--json"], repo: repo, password: password)
        guard listed.status == 0 else {
            problem("after the repair restic snapshots exits \(listed.status): \(listed.stderr.prefix(800))")
            return false
        }
        var byTag: [String: String] = [:]
        for s in try jsonArray(listed.stdout) {
            byTag[(s["tags"] as? [String])?.first ?? "", default: ""] = s["id"] as? String ?? ""
        }
        // What must be gone: the damaged snapshot; with lost packs, snapshots whose root tree was in them.
        var ok = true
        for s in map.snapshots {
            let rootLost = damagedPacksAfterRepair.contains(map.packOf[s.root] ?? ID.zero)
            let snapshotLost = kind == .snapshot && target.hasPrefix("snapshot \(s.id.shortHex)")
            guard let id = byTag[s.tag] else {
                if rootLost || snapshotLost {
                    fig.snapshotsLost += 1
                } else {
                    ok = false
                    problem("after the repair snapshot \(s.tag) is gone")
                }
                continue
            }
            if rootLost || snapshotLost {
                ok = false
                problem("after the repair snapshot \(s.tag) (\(id.prefix(8))) is still there")
                continue
            }
            let out = dir + "/after-\(s.tag)"
            defer { removeTree(out) }
            let r = try await offsite(["restore", id, "--target", out], &fig)
            if r.status != 0 {
                ok = false
                problem("after the repair offsite restore \(id.prefix(8)) (\(s.tag)) exits \(r.status): \(r.stderr.prefix(1500))")
            }
            let source = trees[s.tag]!
            var expectedFiles = Set<String>()
            for (rel, file) in s.files {
                if file.trees.dropFirst().contains(where: { damagedPacksAfterRepair.contains(map.packOf[$0] ?? ID.zero) }) { continue }
                expectedFiles.insert(rel)
                guard let source = FileManager.default.contents(atPath: source + "/" + rel.dropFirst(4)) else { continue }
                var want = Data()
                var offset = 0
                for (blob, length) in zip(file.blobs, file.lengths) {
                    if !damagedPacksAfterRepair.contains(map.packOf[blob] ?? ID.zero) {
                        want.append(source[offset..<min(source.count, offset + length)])
                    }
                    offset += length
                }
                let got = FileManager.default.contents(atPath: out + "/" + rel)
                if got != want {
                    ok = false
                    problem(
                        "after the repair \(rel) of \(s.tag) restores as \(got?.count ?? -1) bytes, expected \(want.count) (its surviving chunks)"
                    )
                }
            }
            let extra = Set(regularFiles(out)).subtracting(expectedFiles)
            if !extra.isEmpty {
                ok = false
                problem("after the repair \(s.tag) restores files it should not have: \(extra.sorted().prefix(5))")
            }
        }
        return ok
    }

    /// The packs whose blobs are gone once the repair has run: the damaged pack (deleted, or
    /// dropped from the index as unreadable) for pack damage; none otherwise (`repair index`
    /// finds every pack of a lost index file again).
    var damagedPacksAfterRepair: Set<ID> { kind.isPack ? damagedPacks : [] }
}
