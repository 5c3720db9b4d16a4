import Foundation
public import OffsiteFormat
public import OffsiteStorage

/// `check`: proves the repository is readable, as restic's checker does (docs/FORMAT.md §9.3).
///
/// 1. Every index file loads (each damaged one is an error naming it).
/// 2. The index agrees with `data/`: an indexed pack that is missing or has the wrong size is
///    an error; a pack no index mentions is only reported (prune removes it).
/// 3. Every snapshot loads, every tree reachable from them loads and verifies, every file's
///    blobs and every directory's subtree are in the index.
/// 4. With `readData`, the selected packs are read whole: the file hashes to its name, the
///    header matches the index entry for entry, and every blob decrypts, decompresses and
///    hashes to its ID.
///
/// Problems are collected, not thrown: the report lists every one found.
public struct Check: Sendable {
    /// Which packs `--read-data-subset` reads.
    public enum Subset: Sendable, Equatable {
        /// `n/t`: packs whose first ID byte mod t is n-1 (the same packs every time).
        case group(n: Int, of: Int)
        /// `x%`: a random share of the packs (at least one).
        case percent(Double)
        /// A byte size: as a share of the total pack bytes.
        case bytes(Int64)

        /// Parses restic's forms: `2/5`, `10%`, `12.5%`, `500M`, `2G`, `1024`.
        public static func parse(_ text: String) -> Subset? {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 2 {
                guard let n = Int(parts[0]), let t = Int(parts[1]), n >= 1, t >= 1, n <= t, t <= 256 else { return nil }
                return .group(n: n, of: t)
            }
            if text.hasSuffix("%") {
                guard let p = Double(text.dropLast()), p > 0, p <= 100 else { return nil }
                return .percent(p)
            }
            var digits = Substring(text)
            var multiplier: Int64 = 1
            if let last = text.last, let power = ["k": 1, "m": 2, "g": 3, "t": 4][last.lowercased()] {
                digits = text.dropLast()
                multiplier = Int64(1) << (10 * power)
            }
            guard let value = Int64(digits), value > 0 else { return nil }
            return .bytes(value * multiplier)
        }
    }

    public struct Options: Sendable {
        public var readData = false
        public var subset: Subset? = nil
        /// Packs read at once with `readData`.
        public var packsInFlight = max(2, ProcessInfo.processInfo.activeProcessorCount * 2)
        public init() {}
    }

    /// What the check found, in restic's wording.
    public struct Report: Sendable {
        /// Problems: any one makes the check fail.
        public var errors: [String] = []
        /// Non-critical findings (duplicate or mixed packs).
        public var hints: [String] = []
        /// Packs in `data/` that no index references.
        public var unreferencedPacks: [ID] = []
        public var snapshots = 0
        public var trees = 0
        public var packsRead = 0
        public var packsTotal = 0
        public var bytesRead: Int64 = 0
        public var ok: Bool { errors.isEmpty }
    }

    /// Progress events for the command line.
    public enum Event: Sendable {
        case phase(String)
        case error(String)
        case hint(String)
        case packRead(done: Int, total: Int)
    }

    public let repository: Repository
    public let options: Options
    public var onEvent: (@Sendable (Event) -> Void)?

    public init(repository: Repository, options: Options, onEvent: (@Sendable (Event) -> Void)? = nil) {
        self.repository = repository
        self.options = options
        self.onEvent = onEvent
    }

    /// Runs the check. The repository should be opened without loading its index: the check
    /// loads it file by file so that every damaged file is reported.
    public func run() async throws -> Report {
        var report = Report()
        func error(_ message: String) {
            report.errors.append(message)
            onEvent?(.error(message))
        }

        onEvent?(.phase("load indexes"))
        var packsInIndexFiles: [ID: [ID]] = [:]
        for id in try await repository.listIDs(.index).sorted() {
            do {
                let file = try IndexFile(json: try await repository.loadJSON(.index, id))
                repository.index.add(file, fromFile: id)
                for pack in file.packs { packsInIndexFiles[pack.id, default: []].append(id) }
            } catch let e as EngineError {
                error(e.message)
            } catch let e as FormatError {
                error("index/\(id.hex) is damaged: \(e.message)")
            }
        }
        for (pack, files) in packsInIndexFiles where Set(files).count > 1 {
            let hint = "pack \(pack.hex) contained in several indexes: {\(files.map(\.hex).sorted().joined(separator: " "))}"
            report.hints.append(hint)
            onEvent?(.hint(hint))
        }
        let byPack = repository.index.blobsByPack()
        for (pack, blobs) in byPack where Set(blobs.map(\.type)).count > 1 {
            let hint = "pack \(pack.shortHex) contains a mix of tree and data blobs"
            report.hints.append(hint)
            onEvent?(.hint(hint))
        }
        // restic stops here when an index file is damaged: what follows would be misleading.
        if !report.errors.isEmpty { return report }

        onEvent?(.phase("check all packs"))
        let stored = try await storage("listing data") { try await repository.backend.list(.data) }
        var storedSizes: [ID: Int] = [:]
        for object in stored { if let id = ID(hex: object.name) { storedSizes[id] = object.size } }
        for (pack, blobs) in byPack.sorted(by: { $0.key.hex < $1.key.hex }) {
            guard let size = storedSizes[pack] else {
                error("pack \(pack.hex): does not exist")
                continue
            }
            let expected = Pack.size(of: blobs)
            if size != expected { error("pack \(pack.hex): unexpected file size: got \(size), expected \(expected)") }
        }
        report.unreferencedPacks = storedSizes.keys.filter { byPack[$0] == nil }.sorted { $0.hex < $1.hex }

        onEvent?(.phase("check snapshots, trees and blobs"))
        var roots: [(snapshot: ID, tree: ID)] = []
        for id in try await repository.listIDs(.snapshots).sorted() {
            do {
                roots.append((id, try await repository.loadSnapshot(id).tree))
                report.snapshots += 1
            } catch let e as EngineError {
                error(e.message)
            }
        }
        let treeErrors = await checkTrees(roots.map(\.tree), count: &report.trees)
        let places = treeErrors.isEmpty ? [:] : await locate(Set(treeErrors.map(\.tree)), in: roots)
        for (tree, problems) in treeErrors.sorted(by: { $0.tree.hex < $1.tree.hex }) {
            let place = places[tree].map { " (snapshot \($0.snapshot.shortHex), \(GoQuote.quoted($0.path)))" } ?? ""
            error("error for tree \(tree.shortHex)\(place):\n" + problems.map { "  \($0)" }.joined(separator: "\n"))
        }

        if options.readData || options.subset != nil {
            let selected = select(byPack)
            report.packsTotal = selected.count
            switch options.subset {
            case nil: onEvent?(.phase("read all data"))
            case .group(let n, let t)?:
                onEvent?(.phase("read group #\(n) of \(selected.count) data packs (out of total \(byPack.count) packs in \(t) groups)"))
            case .percent(let p)?: onEvent?(.phase("read \(String(format: "%.1f", p))% of data packs"))
            case .bytes(let b)?: onEvent?(.phase("read \(b) bytes of data packs"))
            }
            let results = try await readPacks(selected.map { ($0, byPack[$0]!) })
            report.packsRead = results.read
            report.bytesRead = results.bytes
            for e in results.errors { error(e) }
        }
        return report
    }

    // MARK: Trees

    /// Loads every tree reachable from `roots` once (a few at a time) and checks its nodes.
    /// Returns the problems of each tree that has any.
    func checkTrees(_ roots: [ID], count: inout Int) async -> [(tree: ID, problems: [String])] {
        var errors: [(tree: ID, problems: [String])] = []
        var visited = 0
        // checkTree reports a tree it cannot load as that tree's problem and never throws.
        _ = try? await repository.streamTrees(from: roots, load: { await self.checkTree($0) }) { id, checked in
            visited += 1
            if !checked.problems.isEmpty { errors.append((id, checked.problems)) }
            return checked.subtrees
        }
        count += visited
        return errors
    }

    /// Where each of `trees` is first reached: walking the snapshots in ID order, each depth
    /// first, the snapshot and the path of the directory (names as stored, so a crafted name
    /// shows as it is, quoted). Runs only when check found problems.
    func locate(_ trees: Set<ID>, in roots: [(snapshot: ID, tree: ID)]) async -> [ID: (snapshot: ID, path: [UInt8])] {
        var found: [ID: (snapshot: ID, path: [UInt8])] = [:]
        var seen = Set<ID>()
        for (snapshot, root) in roots where found.count < trees.count {
            var stack: [(ID, [UInt8])] = [(root, [UInt8(ascii: "/")])]
            while let (tree, path) = stack.popLast() {
                guard seen.insert(tree).inserted else { continue }
                if trees.contains(tree) { found[tree] = (snapshot, path) }
                guard let loaded = try? await repository.loadTree(tree) else { continue }
                for node in loaded.nodes.reversed() where node.type == .dir {
                    guard let sub = node.subtree else { continue }
                    stack.append((sub, path == [UInt8(ascii: "/")] ? path + node.name : path + [UInt8(ascii: "/")] + node.name))
                }
            }
        }
        return found
    }

    /// One tree: its problems and its subtrees.
    func checkTree(_ id: ID) async -> (problems: [String], subtrees: [ID]) {
        let tree: Tree
        do {
            tree = try await repository.loadTree(id)
        } catch let e as EngineError {
            return ([e.message], [])
        } catch {
            return (["\(error)"], [])
        }
        var problems: [String] = []
        var children: [ID] = []
        // Names no path may be built from (restic's check passes them): every consumer skips
        // these nodes, so they are reported; their blobs are still checked below.
        for rejected in tree.usableNodes.rejected {
            if rejected.problem == .empty {
                problems.append("tree \(id.hex): node with empty name")
            } else {
                problems.append("tree \(id.hex): node \(GoQuote.quoted(rejected.node.name)) has \(rejected.problem)")
            }
        }
        for node in tree.nodes {
            let name = GoQuote.quoted(node.name)
            switch node.type {
            case .file:
                guard let content = node.content else {
                    problems.append("tree \(id.hex): file \(name) has nil blob list")
                    continue
                }
                for blob in content where !repository.index.has(BlobHandle(id: blob, type: .data)) {
                    if repository.index.has(BlobHandle(id: blob, type: .tree)) {
                        problems.append("tree \(id.hex): file \(name) names tree blob \(blob.hex) as content")
                    } else {
                        problems.append("tree \(id.hex): file \(name) blob \(blob.hex) not found in index")
                    }
                }
                if case .success(let length) = repository.index.contentLength(of: content), UInt64(length) != node.size {
                    problems.append(
                        "tree \(id.hex): file \(name): \(FileContentProblem.sizeMismatch(recorded: node.size, content: length))")
                }
            case .dir:
                guard let sub = node.subtree else {
                    problems.append("tree \(id.hex): dir node \(name) has no subtree")
                    continue
                }
                if !repository.index.has(BlobHandle(id: sub, type: .tree)) {
                    let what = repository.index.has(BlobHandle(id: sub, type: .data)) ? "is a data blob, not a tree" : "not found in index"
                    problems.append("tree \(id.hex): dir node \(name) subtree \(sub.hex) \(what)")
                    continue
                }
                children.append(sub)
            default:
                continue
            }
        }
        return (problems, children)
    }

    // MARK: Reading packs

    /// The packs `--read-data`/`--read-data-subset` read, by restic's selection rules.
    func select(_ byPack: [ID: [PackBlob]]) -> [ID] {
        let all = byPack.keys.sorted { $0.hex < $1.hex }
        switch options.subset {
        case nil:
            return all
        case .group(let n, let t)?:
            return all.filter { Int($0.bytes[0]) % t == n - 1 }
        case .percent(let p)?:
            return randomShare(all, fraction: p / 100)
        case .bytes(let b)?:
            let total = byPack.values.reduce(Int64(0)) { $0 + Int64(Pack.size(of: $1)) }
            guard total > 0 else { return [] }
            return randomShare(all, fraction: min(1, Double(b) / Double(total)))
        }
    }

    func randomShare(_ packs: [ID], fraction: Double) -> [ID] {
        var count = Int(Double(packs.count) * fraction)
        if !packs.isEmpty && count < 1 { count = 1 }
        return Array(packs.shuffled().prefix(count))
    }

    /// Reads packs whole and verifies them; returns (packs read, bytes, problems).
    func readPacks(_ packs: [(ID, [PackBlob])]) async throws -> (read: Int, bytes: Int64, errors: [String]) {
        var errors: [String] = []
        var read = 0
        var bytes: Int64 = 0
        try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            var next = 0
            func schedule() {
                while next < packs.count && next - read < options.packsInFlight {
                    let (id, blobs) = packs[next]
                    next += 1
                    group.addTask { await self.verifyPack(id, blobs) }
                }
            }
            schedule()
            while let (size, problems) = try await group.next() {
                read += 1
                bytes += Int64(size)
                errors += problems
                onEvent?(.packRead(done: read, total: packs.count))
                try Task.checkCancellation()
                schedule()
            }
        }
        return (read, bytes, errors)
    }

    /// One pack: (its size, its problems).
    func verifyPack(_ id: ID, _ indexed: [PackBlob]) async -> (Int, [String]) {
        let data: Data
        do {
            data = try await repository.backend.load(Handle(.data, id.hex))
        } catch let e as StorageError {
            return (0, ["pack \(id.hex) failed to download: \(e.message)"])
        } catch {
            return (0, ["pack \(id.hex) failed to download: \(error)"])
        }
        let hash = ID.hash(data)
        if hash != id { return (data.count, ["Pack ID does not match, want \(id.hex), got \(hash.hex)"]) }
        var problems: [String] = []
        // The index's entries must tile the data part without gaps or overlaps.
        var offset: UInt32 = 0
        for blob in indexed {
            if blob.offset != offset {
                problems.append("Index for pack contains gaps / overlapping blobs")
                break
            }
            offset += blob.length
        }
        let header: [PackBlob]
        do {
            header = try Pack.readHeader(tail: data, packSize: data.count, key: repository.key)
        } catch let e as FormatError {
            return (data.count, ["pack \(id.hex): \(e.message)"])
        } catch {
            return (data.count, ["pack \(id.hex): \(error)"])
        }
        let indexedSet = Set(indexed)
        for blob in header {
            if !indexedSet.contains(blob) {
                problems.append("Blob \(blob.id.hex) is not contained in index or position is incorrect")
                continue
            }
            let start = data.startIndex + Int(blob.offset)
            do {
                _ = try repository.decodeBlob(data[start..<start + Int(blob.length)], blob)
            } catch let e as FormatError {
                problems.append("blob \(blob.id.hex): \(e.message)")
            } catch {
                problems.append("blob \(blob.id.hex): \(error)")
            }
        }
        if header.count != indexed.count && problems.isEmpty {
            problems.append("pack \(id.hex): header lists \(header.count) blobs, the index \(indexed.count)")
        }
        if problems.isEmpty { return (data.count, []) }
        return (data.count, ["pack \(id.hex) contains \(problems.count) errors: [\(problems.joined(separator: " "))]"])
    }
}
