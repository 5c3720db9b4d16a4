public import Foundation

/// Keeps objects in memory. For tests and for tools that need a scratch repository.
public actor MemoryBackend: StorageBackend {
    private var objects: [Handle: Data] = [:]
    public nonisolated let location: String

    public init(location: String = "memory:") {
        self.location = location
    }

    public func create() async throws {}

    public func save(_ handle: Handle, data: Data) async throws {
        objects[handle] = data
    }

    public func load(_ handle: Handle, offset: Int, length: Int?) async throws -> Data {
        guard let data = objects[handle] else { throw StorageError(.notFound, "\(handle) does not exist") }
        return try sliceForLoad(data, handle: handle, offset: offset, length: length)
    }

    public func size(_ handle: Handle) async throws -> Int {
        guard let data = objects[handle] else { throw StorageError(.notFound, "\(handle) does not exist") }
        return data.count
    }

    public func list(_ type: FileType) async throws -> [ObjectInfo] {
        objects.filter { $0.key.type == type }.map { ObjectInfo(name: $0.key.name, size: $0.value.count) }
    }

    public func remove(_ handle: Handle) async throws {
        guard objects.removeValue(forKey: handle) != nil else {
            throw StorageError(.notFound, "\(handle) does not exist")
        }
    }

    /// Replaces an object's bytes without any check (tests use this to simulate corruption).
    public func corrupt(_ handle: Handle, _ transform: (inout Data) -> Void) {
        if var d = objects[handle] {
            transform(&d)
            objects[handle] = d
        }
    }
}

/// The range rule shared by backends that hold whole objects: exact bytes or an error.
func sliceForLoad(_ data: Data, handle: Handle, offset: Int, length: Int?) throws -> Data {
    guard offset >= 0, offset <= data.count else {
        throw StorageError(.invalidData, "\(handle): offset \(offset) is beyond its size \(data.count)")
    }
    let end = length.map { offset + $0 } ?? data.count
    guard end <= data.count else {
        throw StorageError(.invalidData, "\(handle) is \(data.count) bytes, \(end) needed (truncated?)")
    }
    return data.subdata(in: (data.startIndex + offset)..<(data.startIndex + end))
}
