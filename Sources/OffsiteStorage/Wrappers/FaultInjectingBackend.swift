public import Foundation
import OffsiteSync

/// Wraps a backend and makes chosen operations fail, to test that failures are never hidden.
/// `shouldFail` sees every operation with its handle and how many operations ran before it.
public final class FaultInjectingBackend: StorageBackend {
    public enum Operation: Sendable {
        case save, load, size, list, remove
    }

    let inner: any StorageBackend
    let shouldFail: @Sendable (Operation, Handle?, Int) -> StorageError?
    private let count = Mutex(0)

    public init(_ inner: any StorageBackend, shouldFail: @escaping @Sendable (Operation, Handle?, Int) -> StorageError?) {
        self.inner = inner
        self.shouldFail = shouldFail
    }

    public var location: String { inner.location }
    public var preferredConcurrency: Int { inner.preferredConcurrency }

    private func check(_ op: Operation, _ handle: Handle?) throws {
        let n = count.withLock { c -> Int in
            defer { c += 1 }
            return c
        }
        if let error = shouldFail(op, handle, n) { throw error }
    }

    public func create() async throws { try await inner.create() }

    public func save(_ handle: Handle, data: Data) async throws {
        try check(.save, handle)
        try await inner.save(handle, data: data)
    }

    public func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        try check(.load, handle)
        return try await inner.load(handle, offset: offset, length: length)
    }

    public func size(_ handle: Handle) async throws -> Int {
        try check(.size, handle)
        return try await inner.size(handle)
    }

    public func list(_ type: FileType) async throws -> [ObjectInfo] {
        try check(.list, nil)
        return try await inner.list(type)
    }

    public func remove(_ handle: Handle) async throws {
        try check(.remove, handle)
        try await inner.remove(handle)
    }
}
