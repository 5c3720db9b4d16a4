import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage
import OffsiteTesting
import Testing

/// `Repository.addKey`, `removeKey` and `changePassword` on repositories in memory.
@Suite struct KeyManagementTests {
    @Test func addedKeyOpensTheSameMasterKey() async throws {
        let backend = MemoryBackend()
        let repo = try await TestRepository.make(backend: backend)
        let (id, file) = try await repo.addKey(password: "second", options: .init(username: "alice", hostname: "vault"))
        #expect(file.username == "alice" && file.hostname == "vault")
        #expect(file.n == KeyFile.defaultN && file.r == KeyFile.defaultR && file.p == KeyFile.defaultP)
        let opened = try await Repository.open(backend: backend, password: "second")
        #expect(opened.keyID == id)
        #expect(opened.key == repo.key)
        #expect(opened.config == repo.config)
        // No names given: the current user and host, as restic records them.
        let (_, unnamed) = try await repo.addKey(password: "third")
        #expect(unnamed.username == SystemInfo.currentUsername && unnamed.hostname == SystemInfo.hostname)
        #expect(try await backend.list(.keys).count == 3)
        await #expect(throws: EngineError.self) { try await repo.addKey(password: "") }
    }

    @Test func removeRefusesTheKeyInUse() async throws {
        let backend = MemoryBackend()
        let repo = try await TestRepository.make(backend: backend)
        let (other, _) = try await repo.addKey(password: "other")
        do {
            try await repo.removeKey(repo.keyID)
            Issue.record("removed the key in use")
        } catch let e as EngineError {
            #expect(e.message == "refusing to remove key currently used to access repository")
        }
        try await repo.removeKey(other)
        #expect(try await backend.list(.keys).map(\.name) == [repo.keyID.hex])
        await #expect(throws: EngineError.self) { try await Repository.open(backend: backend, password: "other") }
    }

    @Test func changePasswordReplacesTheKeyInUse() async throws {
        let backend = MemoryBackend()
        let repo = try await TestRepository.make(backend: backend)
        let (id, _) = try await repo.changePassword(to: "changed")
        #expect(try await backend.list(.keys).map(\.name) == [id.hex])
        await #expect(throws: EngineError.self) { try await Repository.open(backend: backend, password: TestRepository.password) }
        #expect(try await Repository.open(backend: backend, password: "changed").key == repo.key)
    }

    /// A new key that does not read back is removed again and reported, as restic does.
    @Test func brokenNewKeyIsRemoved() async throws {
        let inner = MemoryBackend()
        _ = try await TestRepository.make(backend: inner)
        let repo = try await Repository.open(backend: KeyDamagingBackend(inner: inner), password: TestRepository.password)
        do {
            _ = try await repo.changePassword(to: "changed")
            Issue.record("a broken key was accepted")
        } catch let e as EngineError {
            #expect(e.message.hasPrefix("failed to access repository with new key: "))
        }
        #expect(try await inner.list(.keys).map(\.name) == [repo.keyID.hex])
        _ = try await Repository.open(backend: inner, password: TestRepository.password)
    }
}

/// Flips a byte of every key file it loads while the repository has more than one key, so the
/// read-back of a new key fails while the original key still opens.
struct KeyDamagingBackend: StorageBackend {
    let inner: MemoryBackend
    var location: String { inner.location }
    func create() async throws { try await inner.create() }
    func save(_ handle: Handle, data: Data) async throws { try await inner.save(handle, data: data) }
    func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        var data = try await inner.load(handle, offset: offset, length: length)
        if handle.type == .keys, !data.isEmpty, try await inner.list(.keys).count > 1 { data[data.count / 2] ^= 1 }
        return data
    }
    func size(_ handle: Handle) async throws -> Int { try await inner.size(handle) }
    func list(_ type: FileType) async throws -> [ObjectInfo] { try await inner.list(type) }
    func remove(_ handle: Handle) async throws { try await inner.remove(handle) }
}
