import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteSync
import OffsiteTesting
import Testing

/// Failures of the repository are never downgraded: no snapshot is written after one.
@Suite struct FailureTests {
    @Test(arguments: [1, 2, 3])
    func failedPackUploadMeansNoSnapshot(failAtPack: Int) async throws {
        try await withScratchDirectory { dir in
            // Many files of a few chunks each, so several packs are written by different tasks.
            let f = TreeFixture(root: dir + "/src")
            try f.dir("")
            for i in 0..<40 { try f.file("file-\(i)", TreeFixture.randomBytes(700_000, seed: UInt64(i + 1))) }
            let memory = MemoryBackend()
            _ = try await TestRepository.make(backend: memory)
            let packsSaved = Mutex(0)
            let faulty = FaultInjectingBackend(memory) { op, handle, _ in
                guard op == .save, handle?.type == .data else { return nil }
                let n = packsSaved.withLock { c -> Int in
                    c += 1
                    return c
                }
                return n == failAtPack ? StorageError(.io, "disk full (injected)") : nil
            }
            let repo = try await Repository.open(backend: faulty, password: TestRepository.password)
            try await repo.loadIndex()
            var options = Backup.Options(paths: [dir + "/src"])
            options.packSize = 4 << 20
            do {
                _ = try await Backup(repository: repo, options: options).run()
                Issue.record("the backup succeeded although pack \(failAtPack) could not be stored")
            } catch let e as EngineError {
                #expect(e.code == .storage)
                #expect(e.message.contains("disk full"))
            }
            #expect(try await memory.list(.snapshots).isEmpty)
        }
    }

    @Test func everyPackFailingMeansNoIndexAndNoSnapshot() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir + "/src")
            try f.dir("")
            for i in 0..<12 { try f.file("file-\(i)", TreeFixture.randomBytes(1_500_000, seed: UInt64(i + 100))) }
            let memory = MemoryBackend()
            _ = try await TestRepository.make(backend: memory)
            let faulty = FaultInjectingBackend(memory) { op, handle, _ in
                op == .save && handle?.type == .data ? StorageError(.io, "repository unreachable (injected)") : nil
            }
            let repo = try await Repository.open(backend: faulty, password: TestRepository.password)
            var options = Backup.Options(paths: [dir + "/src"])
            options.packSize = 4 << 20
            await #expect(throws: EngineError.self) { _ = try await Backup(repository: repo, options: options).run() }
            #expect(try await memory.list(.snapshots).isEmpty)
            #expect(try await memory.list(.index).isEmpty)
        }
    }
}
