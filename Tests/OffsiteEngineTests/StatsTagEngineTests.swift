import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteSync
import OffsiteTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `Stats` and `Tag` on in-memory repositories: the counting rules with numbers worked out by
/// hand, restic's tag rules, and the write-then-delete order of a retag.
@Suite struct StatsTagEngineTests {
    /// src/ with a.txt and b.txt ("hello", identical), c.txt ("world!"), h1 and h2 (hard links,
    /// "linked"), an empty file e and a symlink l. Backed up as the relative target "src", so
    /// the root tree holds one directory node.
    static func backUp(_ repo: Repository, dir: String, snapshots: Int = 1) async throws -> [Snapshot] {
        let f = TreeFixture(root: dir + "/src")
        try f.dir("")
        try f.file("a.txt", Array("hello".utf8))
        try f.file("b.txt", Array("hello".utf8))
        try f.file("c.txt", Array("world!".utf8))
        try f.file("h1", Array("linked".utf8))
        guard link(dir + "/src/h1", dir + "/src/h2") == 0 else { throw FixtureError(message: "cannot link") }
        try f.file("e", [])
        try f.symlink("l", to: "a.txt")
        var out: [Snapshot] = []
        for _ in 0..<snapshots {
            var options = Backup.Options(paths: ["src"])
            options.workingDirectory = dir
            out.append(try await Backup(repository: repo, options: options).run().snapshot)
        }
        return out
    }

    static func stats(_ repo: Repository, _ mode: Stats.Mode, _ snapshots: [Snapshot]) async throws -> Stats.Report {
        try await Stats(repository: repo, options: .init(mode: mode)).run(snapshots: snapshots)
    }

    @Test func countingModes() async throws {
        try await withScratchDirectory { dir in
            let repo = try await TestRepository.make()
            let snapshots = try await Self.backUp(repo, dir: dir, snapshots: 2)
            #expect(snapshots[0].tree == snapshots[1].tree)

            // restore-size: 8 nodes (src + 7 items); h2 shares h1's inode and adds nothing.
            var r = try await Self.stats(repo, .restoreSize, [snapshots[0]])
            #expect((r.totalFileCount, r.totalSize, r.totalBlobCount, r.snapshotsCount) == (8, 5 + 5 + 6 + 6, 0, 1))
            // Per snapshot: a second identical snapshot counts again.
            r = try await Self.stats(repo, .restoreSize, snapshots)
            #expect((r.totalFileCount, r.totalSize, r.snapshotsCount) == (16, 44, 2))

            // files-by-contents: hello, world!, linked, and the empty content (src, e, l).
            r = try await Self.stats(repo, .filesByContents, snapshots)
            #expect((r.totalFileCount, r.totalSize, r.totalBlobCount, r.snapshotsCount) == (4, 17, 0, 2))

            // blobs-per-file: one path per distinct non-empty content, each with its one blob.
            r = try await Self.stats(repo, .blobsPerFile, snapshots)
            #expect((r.totalFileCount, r.totalSize, r.totalBlobCount) == (3, 17, 3))

            // raw-data: 3 data blobs and 2 trees (root, src), at their stored lengths.
            r = try await Self.stats(repo, .rawData, snapshots)
            var handles = [BlobHandle(id: snapshots[0].tree, type: .tree)]
            let root = try await repo.loadTree(snapshots[0].tree)
            let src = try #require(root.nodes.first?.subtree)
            handles.append(BlobHandle(id: src, type: .tree))
            for node in try await repo.loadTree(src).nodes where node.type == .file {
                for id in node.content ?? [] { handles.append(BlobHandle(id: id, type: .data)) }
            }
            let distinct = Set(handles)
            #expect(distinct.count == 5)
            let stored = distinct.map { UInt64(repo.index.locations(of: $0)[0].blob.length) }.reduce(0, +)
            #expect((r.totalFileCount, r.totalBlobCount, r.totalSize, r.snapshotsCount) == (0, 5, stored, 2))

            // No snapshots: all zero.
            #expect(try await Self.stats(repo, .restoreSize, []) == Stats.Report())
        }
    }

    @Test func missingBlobIsAnError() async throws {
        try await withScratchDirectory { dir in
            let memory = MemoryBackend()
            let repo = try await TestRepository.make(backend: memory)
            let snapshots = try await Self.backUp(repo, dir: dir)
            // Reopen without loading the index: no blob can be found.
            let blind = try await Repository.open(backend: memory, password: TestRepository.password)
            await #expect(throws: EngineError.self) { _ = try await Self.stats(blind, .restoreSize, snapshots) }
            await #expect(throws: EngineError.self) { _ = try await Self.stats(blind, .rawData, snapshots) }
        }
    }

    // MARK: Tag

    static let id = ID.hash(Array("snapshot".utf8))
    static func snapshot(tags: [String], original: ID? = nil) -> Snapshot {
        Snapshot(time: GoTime(seconds: 1_700_000_000), tree: ID.hash(Array("tree".utf8)), paths: ["/x"], tags: tags, original: original)
    }

    @Test(
        arguments: [
            // (tags before, set, add, remove, tags after or nil when unchanged)
            ([], [], ["a"], [], ["a"]),
            (["a"], [], ["a"], [], nil),
            (["a"], [], ["b", "b", "a"], [], ["a", "b"]),
            (["a", "b", "c", "d"], [], [], ["a"], ["d", "b", "c"]),
            (["a", "b", "a"], [], [], ["a"], ["a", "b"]),
            (["a"], [], [], ["z"], nil),
            (["a"], ["a"], [], [], ["a"]),
            (["a"], ["x", "x"], [], [], ["x", "x"]),
            (["a"], [""], [], [], nil),
            (["a"], [], ["", "b"], [""], ["a", "b"]),
            (["t"], [], ["a"], ["t"], ["a"]),
        ] as [([String], [String], [String], [String], [String]?)])
    func tagRules(before: [String], set: [String], add: [String], remove: [String], after: [String]?) {
        let changed = Tag.retagged(Self.snapshot(tags: before), id: Self.id, options: .init(set: set, add: add, remove: remove))
        #expect(changed?.tags == after)
        if changed != nil { #expect(changed?.original == Self.id) }
    }

    @Test func originalIsKept() {
        let first = ID.hash(Array("first".utf8))
        let s = Tag.retagged(Self.snapshot(tags: [], original: first), id: Self.id, options: .init(add: ["x"]))
        #expect(s?.original == first)
        #expect(s?.tags == ["x"])
    }

    /// The new snapshot is written before the old one is removed, and a failure at either step
    /// leaves a complete snapshot behind.
    @Test func writeThenRemove() async throws {
        try await withScratchDirectory { dir in
            let memory = MemoryBackend()
            let setup = try await TestRepository.make(backend: memory)
            let snapshot = try #require(try await Self.backUp(setup, dir: dir).first)
            let oldID = try #require(try await setup.listIDs(.snapshots).first)

            // Removing fails: both files stay, the failure is reported, nothing counts as changed.
            let ops = Mutex<[String]>([])
            let failRemove = Mutex(true)
            let recording = FaultInjectingBackend(memory) { op, handle, _ in
                guard let handle, handle.type == .snapshots, op == .save || op == .remove else { return nil }
                ops.withLock { $0.append("\(op) \(handle.name)") }
                return op == .remove && failRemove.withLock({ $0 }) ? StorageError(.io, "remove refused (injected)") : nil
            }
            let repo = try await Repository.open(backend: recording, password: TestRepository.password)
            var report = await Tag(repository: repo, options: .init(add: ["new"])).run(snapshots: [(oldID, snapshot)])
            #expect(report.changed.isEmpty)
            #expect(report.failures.map(\.id) == [oldID])
            #expect(report.failures.first?.message.contains("remove refused") == true)
            var names = try await memory.list(.snapshots).map(\.name)
            #expect(names.count == 2 && names.contains(oldID.hex))
            let written = try #require(names.first { $0 != oldID.hex })
            #expect(ops.withLock { $0 } == ["save \(written)", "remove \(oldID.hex)"])
            try await memory.remove(Handle(.snapshots, written))

            // Saving fails: the old file is not touched.
            ops.withLock { $0 = [] }
            let failing = FaultInjectingBackend(memory) { op, handle, _ in
                guard handle?.type == .snapshots else { return nil }
                ops.withLock { $0.append("\(op)") }
                return op == .save ? StorageError(.io, "disk full (injected)") : nil
            }
            let repo2 = try await Repository.open(backend: failing, password: TestRepository.password)
            report = await Tag(repository: repo2, options: .init(add: ["new"])).run(snapshots: [(oldID, snapshot)])
            #expect(report.failures.count == 1)
            #expect(ops.withLock { $0 } == ["save"])
            #expect(try await memory.list(.snapshots).map(\.name) == [oldID.hex])

            // Both succeed: one file, the new one, with the new tag and the old ID as original.
            failRemove.withLock { $0 = false }
            ops.withLock { $0 = [] }
            report = await Tag(repository: repo, options: .init(add: ["new"])).run(snapshots: [(oldID, snapshot)])
            let change = try #require(report.changed.first)
            names = try await memory.list(.snapshots).map(\.name)
            #expect(names == [change.new.hex])
            #expect(ops.withLock { $0 } == ["save \(change.new.hex)", "remove \(oldID.hex)"])
            let stored = try await repo.loadSnapshot(change.new)
            #expect(stored.tags == ["new"])
            #expect(stored.original == oldID)
            #expect(stored.summary == snapshot.summary)
            #expect(stored.tree == snapshot.tree)

            // Unchanged tags: nothing written or removed.
            ops.withLock { $0 = [] }
            report = await Tag(repository: repo, options: .init(add: ["new"])).run(snapshots: [(change.new, stored)])
            #expect(report.unchanged == [change.new])
            #expect(ops.withLock { $0 }.isEmpty)
        }
    }
}
