public import Foundation

/// Where a repository's objects live: a directory, a bucket, a REST server, memory.
///
/// Contract every backend must keep (checked by `BackendConformance` in OffsiteTesting):
/// - `save` is atomic: after it returns, the whole object is durable and readable; after a crash
///   before it returns, the object is absent or complete, never partial. Saving an existing name
///   replaces it (objects are content-addressed, so the bytes are the same).
/// - `load` returns exactly the bytes asked for, or throws (`.notFound`, `.invalidData` on a short
///   object); never a truncated result.
/// - `list` returns every complete object of a type, never temporary files.
/// - Every method may be called concurrently from many tasks.
public protocol StorageBackend: Sendable {
    /// Human-readable location, for messages (`/srv/repo`, `s3:host/bucket`).
    var location: String { get }

    /// Creates the repository structure. Idempotent; does not create `config`.
    func create() async throws

    /// Stores `data` under `handle` atomically and durably.
    func save(_ handle: Handle, data: Data) async throws

    /// Reads `length` bytes from `offset` (to the end when `length` is nil).
    func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data

    /// The object's size in bytes; `.notFound` if it does not exist.
    func size(_ handle: Handle) async throws -> Int

    /// All objects of `type`, in no particular order.
    func list(_ type: FileType) async throws -> [ObjectInfo]

    /// Deletes the object; `.notFound` if it does not exist.
    func remove(_ handle: Handle) async throws

    /// How many uploads or downloads are worth running at once: 1 for a local disk (one
    /// writer keeps its fsyncs in order and fast), the connection count for object storage
    /// (each request waits on the network). Wrappers pass on their inner backend's.
    var preferredConcurrency: Int { get }
}

extension StorageBackend {
    public var preferredConcurrency: Int { 1 }

    /// Reads a whole object.
    public func load(_ handle: Handle) async throws -> Data {
        try await load(handle, offset: 0, length: nil)
    }

    /// True when the object exists.
    public func exists(_ handle: Handle) async throws -> Bool {
        do {
            _ = try await size(handle)
            return true
        } catch let e as StorageError where e.code == .notFound {
            return false
        }
    }
}
