import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteTesting
import Testing

@Suite struct RepositoryTests {
    @Test(arguments: [1, 2])
    func initThenOpen(version: Int) async throws {
        let backend = MemoryBackend()
        let repo = try await TestRepository.make(version: version, backend: backend)
        let opened = try await Repository.open(backend: backend, password: TestRepository.password)
        #expect(opened.config == repo.config)
        #expect(opened.key == repo.key)
        #expect(opened.keyID == repo.keyID)
        #expect(try await backend.list(.keys).count == 1)
    }

    @Test func wrongPasswordAndMissingRepository() async throws {
        let backend = MemoryBackend()
        _ = try await TestRepository.make(backend: backend)
        await #expect(throws: EngineError.self) {
            do { _ = try await Repository.open(backend: backend, password: "nope") } catch let e as EngineError {
                #expect(e.code == .wrongPassword)
                #expect(e.message.contains("wrong password or no key found"))
                throw e
            }
        }
        await #expect(throws: EngineError.self) {
            do { _ = try await Repository.open(backend: MemoryBackend(), password: "x") } catch let e as EngineError {
                #expect(e.code == .repositoryNotFound)
                throw e
            }
        }
        await #expect(throws: EngineError.self) {
            do { _ = try await TestRepository.make(backend: backend) } catch let e as EngineError {
                #expect(e.code == .alreadyInitialized)
                throw e
            }
        }
    }

    @Test func garbageKeyAndConfigNameTheFile() async throws {
        let backend = MemoryBackend()
        let repo = try await TestRepository.make(backend: backend)
        await backend.corrupt(.config) { $0 = $0.prefix(20) }
        do {
            _ = try await Repository.open(backend: backend, password: TestRepository.password)
            Issue.record("opened a repository with a truncated config")
        } catch let e as EngineError {
            #expect(e.code == .invalidData)
            #expect(e.message.contains("config"))
        }
        await backend.corrupt(Handle(.keys, repo.keyID.hex)) { $0 = Data("{garbage".utf8) }
        do {
            _ = try await Repository.open(backend: backend, password: TestRepository.password)
            Issue.record("opened with a garbage key file")
        } catch let e as EngineError {
            #expect(e.code == .invalidData)
            #expect(e.message.contains("keys/\(repo.keyID.hex)"))
        }
    }

    @Test func blobsRoundTripAndFlippedBytesAreCaught() async throws {
        let backend = MemoryBackend()
        let repo = try await TestRepository.make(backend: backend)
        let plain = Data(TreeFixture.randomBytes(100_000, seed: 3))
        let id = ID.hash(plain)
        let (saved, stats) = try await repo.withPackUploader { up in
            let first = try await up.save(.data, plain)
            let second = try await up.save(.data, plain)
            return [first, second]
        }
        #expect(saved == [true, false])
        #expect(stats.dataBlobs == 1 && stats.packs == 1)
        #expect(try await repo.loadBlob(BlobHandle(id: id, type: .data)) == plain)

        // A fresh open sees the blob through the index file.
        let reopened = try await Repository.open(backend: backend, password: TestRepository.password)
        try await reopened.loadIndex()
        #expect(try await reopened.loadBlob(BlobHandle(id: id, type: .data)) == plain)

        let pack = try #require(reopened.index.locations(of: BlobHandle(id: id, type: .data)).first?.packID)
        await backend.corrupt(Handle(.data, pack.hex)) { $0[$0.startIndex + 500] ^= 0x40 }
        do {
            _ = try await reopened.loadBlob(BlobHandle(id: id, type: .data))
            Issue.record("a corrupted blob loaded")
        } catch let e as EngineError {
            #expect(e.code == .invalidData)
            #expect(e.message.contains(pack.hex))
            #expect(e.message.contains(id.hex))
        }
    }

    @Test func damagedIndexAndSnapshotNameTheFile() async throws {
        let backend = MemoryBackend()
        let repo = try await TestRepository.make(backend: backend)
        _ = try await repo.withPackUploader { up in try await up.save(.data, Data("x".utf8)) }
        let indexID = try #require(try await repo.listIDs(.index).first)
        await backend.corrupt(Handle(.index, indexID.hex)) { $0.removeLast(3) }
        do {
            try await repo.loadIndex()
            Issue.record("loaded a truncated index")
        } catch let e as EngineError {
            #expect(e.message.contains("index/\(indexID.hex)"))
        }
        // A well-encrypted snapshot file whose JSON is garbage.
        let bad = try await repo.saveJSON(.snapshots, Data("{\"time\":42}".utf8))
        do {
            _ = try await repo.loadSnapshot(bad)
            Issue.record("loaded a garbage snapshot")
        } catch let e as EngineError {
            #expect(e.code == .invalidData)
            #expect(e.message.contains("snapshots/\(bad.hex)"))
        }
    }

    @Test func prefixResolution() async throws {
        let repo = try await TestRepository.make()
        let a = try await repo.saveJSON(.snapshots, Data("{}".utf8))
        #expect(try await repo.resolve(.snapshots, prefix: String(a.hex.prefix(6))) == a)
        await #expect(throws: EngineError.self) { _ = try await repo.resolve(.snapshots, prefix: "zz") }
        let other = a.hex.first == "0" ? "1" : "0"
        await #expect(throws: EngineError.self) { _ = try await repo.resolve(.snapshots, prefix: other + "abc") }
    }
}
