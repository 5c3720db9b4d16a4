import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteSync
import OffsiteTesting
import Testing

/// `RepairSnapshots` on in-memory repositories with hand-made trees: each of restic's rules
/// (missing content, wrong sizes, irregular nodes, unreadable and absent subtrees, unreadable
/// roots), the tree cache across snapshots, the snapshot fields, the order of writes, dry runs
/// and unencodable trees.
@Suite struct RepairSnapshotsEngineTests {
    static let time = GoTime(seconds: 1_700_000_000)

    /// Data blobs d1 (1000 bytes) and d2 (2000 bytes) are stored; `gone` is not.
    struct Fixture {
        var repo: Repository
        var d1: ID
        var d2: ID
        var gone = ID.hash(Data("never stored".utf8))
        /// A tree with one file whose only blob is `gone`, used by two directories.
        var shared: ID
        /// The damaged root tree (see `make`).
        var root: ID
        /// An intact tree (one symlink).
        var intact: ID
    }

    static func file(_ name: String, _ content: [ID]?, size: UInt64) -> Node {
        var n = Node(name: name, type: .file)
        n.mode = 0o644
        n.mtime = time
        n.content = content
        n.size = size
        return n
    }

    static func dir(_ name: String, _ subtree: ID?) -> Node {
        var n = Node(name: name, type: .dir)
        n.mode = 0o755 | (1 << 31)
        n.subtree = subtree
        return n
    }

    static func saveTree(_ nodes: [Node], _ uploader: PackUploader) async throws -> ID {
        let json = try Tree(nodes: nodes).json
        try await uploader.save(.tree, json)
        return ID.hash(json)
    }

    /// The root: a.bin (all blobs, size wrong), b.bin (one blob gone), c (irregular), d and e
    /// (both the shared tree), f (a tree not in the index), g (no subtree), h (a symlink), i (a
    /// file whose content is null).
    static func make(backend: any StorageBackend = MemoryBackend()) async throws -> Fixture {
        let repo = try await TestRepository.make(backend: backend)
        let d1Data = Data(repeating: 1, count: 1000)
        let d2Data = Data(repeating: 2, count: 2000)
        let gone = ID.hash(Data("never stored".utf8))
        let ((shared, root, intact), _) = try await repo.withPackUploader { up in
            try await up.save(.data, d1Data)
            try await up.save(.data, d2Data)
            let d1 = ID.hash(d1Data), d2 = ID.hash(d2Data)
            let shared = try await saveTree([file("x", [gone], size: 5)], up)
            var link = Node(name: "h", type: .symlink)
            link.linkTarget = Array("a.bin".utf8)
            let root = try await saveTree(
                [
                    file("a.bin", [d1, d2], size: 999), file("b.bin", [d1, gone], size: 1005), Node(name: "c", type: .irregular),
                    dir("d", shared), dir("e", shared), dir("f", ID.hash(Data("no such tree".utf8))), dir("g", nil), link,
                    file("i", nil, size: 0),
                ], up)
            let intact = try await saveTree([link], up)
            return (shared, root, intact)
        }
        return Fixture(repo: repo, d1: ID.hash(d1Data), d2: ID.hash(d2Data), shared: shared, root: root, intact: intact)
    }

    static func snapshot(_ repo: Repository, tree: ID, tags: [String] = [], original: ID? = nil) async throws -> (ID, Snapshot) {
        let s = Snapshot(time: time, tree: tree, paths: ["/src"], hostname: "host", username: "user", tags: tags, original: original)
        return (try await repo.saveJSON(.snapshots, s.json), s)
    }

    /// Runs the repair on a freshly opened repository (index loaded from the files), collecting events.
    static func repair(
        _ backend: any StorageBackend, _ snapshots: [(ID, Snapshot)], dryRun: Bool = false, forget: Bool = false
    ) async throws -> (RepairSnapshots.Report, [RepairSnapshots.Event]) {
        let repo = try await Repository.open(backend: backend, password: TestRepository.password)
        try await repo.loadIndex()
        var options = RepairSnapshots.Options()
        options.dryRun = dryRun
        options.forget = forget
        let events = Mutex<[RepairSnapshots.Event]>([])
        let report = try await RepairSnapshots(repository: repo, options: options) { e in events.withLock { $0.append(e) } }
            .run(snapshots: snapshots.map { (id: $0.0, snapshot: $0.1) })
        return (report, events.withLock { $0 })
    }

    static func path(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func resticRulesAndTheTreeCache() async throws {
        let memory = MemoryBackend()
        let f = try await Self.make(backend: memory)
        let first = try await Self.snapshot(f.repo, tree: f.root)
        // Already repaired once: its original is replaced, the tag not added twice.
        let second = try await Self.snapshot(f.repo, tree: f.root, tags: ["repaired"], original: ID.hash(Data("older".utf8)))
        let lostRoot = try await Self.snapshot(f.repo, tree: ID.hash(Data("lost root".utf8)))
        let intact = try await Self.snapshot(f.repo, tree: f.intact)

        let (report, events) = try await Self.repair(memory, [first, second, lostRoot, intact])
        let new = report.outcomes.map(\.outcome)
        guard case .repaired(let firstNew?) = new[0], case .repaired(let secondNew?) = new[1] else {
            Issue.record("unexpected outcomes \(new)")
            return
        }
        #expect(new[2] == .removed && new[3] == .unchanged)
        #expect(report.modified == 3)
        #expect(
            events == [
                .snapshot(first.0, first.1),
                .fixedIncorrectSize(path: Self.path("/a.bin")),
                .removedMissingContent(path: Self.path("/b.bin")),
                .removedInvalidNode(path: Self.path("/c"), type: "irregular"),
                .removedMissingContent(path: Self.path("/d/x")),  // once: /e holds the same tree
                .replacedWithEmptyDirectory(path: Self.path("/f")),
                .replacedWithEmptyDirectory(path: Self.path("/g")),
                .savedNewSnapshot(firstNew),
                .snapshot(second.0, second.1),  // the root was rewritten already: nothing to report
                .savedNewSnapshot(secondNew),
                .snapshot(lostRoot.0, lostRoot.1),
                .rootNotReadable,
                .removedEmptySnapshot(lostRoot.0),  // even without --forget, as restic does
                .snapshot(intact.0, intact.1),
            ])

        let names = Set(try await memory.list(.snapshots).map(\.name))
        #expect(names == [first.0.hex, second.0.hex, intact.0.hex, firstNew.hex, secondNew.hex])
        let repo = try await Repository.open(backend: memory, password: TestRepository.password)
        try await repo.loadIndex()
        let a = try Snapshot(json: try await repo.loadJSON(.snapshots, firstNew))
        let b = try Snapshot(json: try await repo.loadJSON(.snapshots, secondNew))
        #expect(a.tree == b.tree)
        #expect(a.original == first.0 && a.tags == ["repaired"])
        #expect(b.original == second.0 && b.tags == ["repaired"])
        #expect((a.time, a.paths, a.hostname, a.username) == (Self.time, ["/src"], "host", "user"))

        let root = try await repo.loadTree(a.tree)
        #expect(root.nodes.map(\.nameString) == ["a.bin", "b.bin", "d", "e", "f", "g", "h", "i"])
        let byName = Dictionary(uniqueKeysWithValues: root.nodes.map { ($0.nameString, $0) })
        #expect(byName["a.bin"]?.content == [f.d1, f.d2] && byName["a.bin"]?.size == 3000)
        #expect(byName["b.bin"]?.content == [f.d1] && byName["b.bin"]?.size == 1000)
        // restic writes every file's content as a list, never null.
        #expect(byName["i"]?.content == [] && byName["i"]?.size == 0)
        #expect(byName["h"]?.linkTargetString == "a.bin")
        let d = try #require(byName["d"]?.subtree)
        #expect(byName["e"]?.subtree == d)
        let x = try await repo.loadTree(d).nodes
        #expect(x.count == 1 && x[0].content == [] && x[0].size == 0)
        // restic's empty tree for both the unreadable and the absent subtree.
        let empty = ID.hash(Data("{\"nodes\":null}\n".utf8))
        #expect(byName["f"]?.subtree == empty && byName["g"]?.subtree == empty)
        #expect(try await repo.loadBlob(BlobHandle(id: empty, type: .tree)) == Data("{\"nodes\":null}\n".utf8))
    }

    @Test func writesTreesThenIndexThenSnapshotThenRemovesTheOld() async throws {
        let memory = MemoryBackend()
        let ops = Mutex<[String]>([])
        let recording = FaultInjectingBackend(memory) { op, handle, _ in
            guard let handle, op == .save || op == .remove, handle.type != .locks else { return nil }
            ops.withLock { $0.append("\(op) \(handle.type.rawValue)") }
            return nil
        }
        let f = try await Self.make(backend: memory)
        let old = try await Self.snapshot(f.repo, tree: f.root)
        let (report, _) = try await Self.repair(recording, [old], forget: true)
        #expect(ops.withLock { $0 } == ["save data", "save index", "save snapshots", "remove snapshots"])
        guard case .repaired(let new?) = report.outcomes.first?.outcome else {
            Issue.record("not repaired: \(report.outcomes)")
            return
        }
        #expect(try await memory.list(.snapshots).map(\.name) == [new.hex])
        let repo = try await Repository.open(backend: memory, password: TestRepository.password)
        let s = try Snapshot(json: try await repo.loadJSON(.snapshots, new))
        // With --forget restic does not add the tag.
        #expect(s.original == old.0 && s.tags.isEmpty)
    }

    @Test func dryRunWritesNothing() async throws {
        let memory = MemoryBackend()
        let f = try await Self.make(backend: memory)
        let damaged = try await Self.snapshot(f.repo, tree: f.root)
        let lostRoot = try await Self.snapshot(f.repo, tree: ID.hash(Data("lost root".utf8)))
        func listing() async throws -> [String] {
            var out: [String] = []
            for type in FileType.listable { out += try await memory.list(type).map { "\(type.rawValue)/\($0.name) \($0.size)" } }
            return out.sorted()
        }
        let before = try await listing()
        let (report, events) = try await Self.repair(memory, [damaged, lostRoot], dryRun: true, forget: true)
        #expect(report.outcomes.map(\.outcome) == [.repaired(new: nil), .removed])
        #expect(events.contains(.wouldSaveNewSnapshot) && events.contains(.wouldRemoveOldSnapshot))
        #expect(events.last == .wouldDeleteEmptySnapshot)
        #expect(try await listing() == before)
    }

    @Test func unorderedTreeIsWrittenSortedWithoutRepeatedNames() async throws {
        let repo = try await TestRepository.make()
        // Stored out of order with a name twice: "b", "a", "b" (restic never writes this).
        let first = Self.file("b", [], size: 0)
        var second = Self.file("b", [], size: 0)
        second.mode = 0o600
        let json = Tree.json(of: [first, Self.file("a", [], size: 0), second])
        _ = try await repo.withPackUploader { try await $0.save(.tree, json) }
        let s = try await Self.snapshot(repo, tree: ID.hash(json))
        let (report, events) = try await Self.repair(repo.backend, [s])
        guard case .repaired(let new?) = report.outcomes.first?.outcome else {
            Issue.record("not repaired: \(report.outcomes)")
            return
        }
        #expect(events.contains(.removedUnsafeName(directory: Array("/".utf8), name: Array("b".utf8), problem: .duplicate)))
        let reopened = try await Repository.open(backend: repo.backend, password: TestRepository.password)
        try await reopened.loadIndex()
        let tree = try await reopened.loadTree(try await reopened.loadSnapshot(new).tree)
        #expect(tree.nodes.map(\.nameString) == ["a", "b"])
        #expect(tree.nodes.last == first)
        #expect(tree.isSortedAndUnique)
    }
}
