import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteSync
import OffsiteTesting
import Testing

/// On object storage (a backend that asks for several connections) trees are read in pack
/// windows: walking a snapshot of 300 directories takes a handful of requests, not 300, and a
/// damaged tree is still reported as damaged.
@Suite struct TreeWindowsTests {
    /// A memory backend that says it is remote and counts the reads of data packs.
    final class RemoteLike: StorageBackend, @unchecked Sendable {
        let inner = MemoryBackend()
        let packReads = Mutex(0)
        var location: String { "remote-like" }
        var preferredConcurrency: Int { 5 }
        func create() async throws { try await inner.create() }
        func save(_ handle: Handle, data: Data) async throws { try await inner.save(handle, data: data) }
        func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
            if handle.type == .data { packReads.withLock { $0 += 1 } }
            return try await inner.load(handle, offset: offset, length: length)
        }
        func size(_ handle: Handle) async throws -> Int { try await inner.size(handle) }
        func list(_ type: FileType) async throws -> [ObjectInfo] { try await inner.list(type) }
        func remove(_ handle: Handle) async throws { try await inner.remove(handle) }
    }

    @Test func walkingASnapshotReadsTreePacksInWindows() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("")
            for i in 0..<300 {
                try f.dir("d\(i)")
                try f.file("d\(i)/f", Array("file \(i)\n".utf8))
            }
            let backend = RemoteLike()
            let repo = try await TestRepository.make(backend: backend)
            let report = try await Backup(repository: repo, options: .init(paths: [dir + "/src"])).run()
            let root = report.snapshot.tree

            // A fresh opening, as a new command would have.
            let fresh = try await Repository.open(backend: backend, password: TestRepository.password)
            try await fresh.loadIndex()
            backend.packReads.withLock { $0 = 0 }
            let blobs = try await fresh.reachableBlobs(from: [root])
            let trees = blobs.filter { $0.type == .tree }.count
            #expect(trees >= 300)
            let reads = backend.packReads.withLock { $0 }
            #expect(reads <= 5, "\(reads) pack reads for \(trees) trees")

            // A local backend (one connection) reads tree by tree, as before.
            let local = try await Repository.open(backend: backend.inner, password: TestRepository.password)
            try await local.loadIndex()
            #expect(try await local.reachableBlobs(from: [root]) == blobs)
        }
    }

    @Test func aDamagedTreeInAWindowIsStillReported() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("")
            for i in 0..<20 { try f.dir("d\(i)"); try f.file("d\(i)/f", Array("\(i)".utf8)) }
            let backend = RemoteLike()
            let repo = try await TestRepository.make(backend: backend)
            let report = try await Backup(repository: repo, options: .init(paths: [dir + "/src"])).run()
            let fresh = try await Repository.open(backend: backend, password: TestRepository.password)
            try await fresh.loadIndex()
            // Damage one subtree's bytes inside its pack.
            let rootTree = try await fresh.loadTree(report.snapshot.tree)
            let srcNode = try #require(rootTree.nodes.first)
            let srcTree = try await fresh.loadTree(try #require(srcNode.subtree))
            let victim = try #require(srcTree.nodes.first { $0.subtree != nil }?.subtree)
            let loc = try #require(fresh.index.locations(of: BlobHandle(id: victim, type: .tree)).first)
            var pack = try await backend.inner.load(Handle(.data, loc.packID.hex))
            pack[pack.startIndex + Int(loc.blob.offset) + 20] ^= 0x01
            try await backend.inner.save(Handle(.data, loc.packID.hex), data: pack)

            let reopened = try await Repository.open(backend: backend, password: TestRepository.password)
            try await reopened.loadIndex()
            do {
                _ = try await reopened.reachableBlobs(from: [report.snapshot.tree])
                Issue.record("the damaged tree was not noticed")
            } catch let e as EngineError {
                #expect(e.code == .invalidData && e.message.contains(victim.hex), "\(e.message)")
            }
        }
    }
}
