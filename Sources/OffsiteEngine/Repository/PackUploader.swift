public import Foundation
public import OffsiteFormat
import OffsiteStorage

/// Collects new blobs into packs (~16 MiB, one open pack per blob type), uploads each finished
/// pack, and writes index files for the uploaded packs.
///
/// Ordering keeps the repository valid at every point: a pack is stored before any index names
/// it, and `flush` (called by `Repository.withPackUploader`) stores the index before the caller
/// saves a snapshot that needs it. A crash leaves at most unreferenced packs, which `prune`
/// removes.
public actor PackUploader {
    public struct Stats: Sendable, Equatable {
        public var dataBlobs = 0
        public var treeBlobs = 0
        /// Plaintext bytes of new blobs.
        public var bytesAdded = 0
        /// Bytes added to the repository (packs, headers and index files).
        public var bytesStored = 0
        public var packs = 0
    }

    let repository: Repository
    let compression: Zstd.Level
    let targetPackSize: Int
    /// Write an index file once this many blobs are waiting for one.
    let indexBlobLimit: Int
    private var builders: [BlobType: PackBuilder] = [:]
    private var pending: Set<BlobHandle> = []
    private var unindexed: [IndexFile.PackEntry] = []
    private var unindexedBlobs = 0
    public private(set) var stats = Stats()

    init(repository: Repository, compression: Zstd.Level, targetPackSize: Int, indexBlobLimit: Int = 50_000) {
        self.repository = repository
        self.compression = compression
        self.targetPackSize = targetPackSize
        self.indexBlobLimit = indexBlobLimit
    }

    /// True if the blob is already stored or queued.
    public func has(_ handle: BlobHandle) -> Bool {
        pending.contains(handle) || repository.index.has(handle)
    }

    /// Stores a blob unless the repository already has it. Returns true when it was new.
    @discardableResult
    public func save(_ type: BlobType, _ plaintext: Data, id knownID: ID? = nil) async throws -> Bool {
        let id = knownID ?? ID.hash(plaintext)
        let handle = BlobHandle(id: id, type: type)
        if has(handle) { return false }
        let compress = repository.version >= 2 && !plaintext.isEmpty && (type == .tree || compression != .off)
        let payload = compress ? Zstd.compress(plaintext, level: compression.zstdLevel) : plaintext
        let sealed = repository.key.seal(payload)
        var builder = builders[type] ?? PackBuilder(reserve: targetPackSize + 1 << 20)
        try builder.add(type: type, id: id, sealed: sealed, uncompressedLength: compress ? plaintext.count : 0)
        pending.insert(handle)
        stats.bytesAdded += plaintext.count
        if type == .data { stats.dataBlobs += 1 } else { stats.treeBlobs += 1 }
        if builder.projectedSize >= targetPackSize {
            builders[type] = nil
            try await upload(builder)
        } else {
            builders[type] = builder
        }
        return true
    }

    private func upload(_ builder: PackBuilder) async throws {
        let (id, bytes, blobs) = builder.finish(key: repository.key)
        try await storage("saving pack data/\(id.hex)") {
            try await repository.backend.save(Handle(.data, id.hex), data: bytes)
        }
        repository.index.add(pack: id, blobs: blobs)
        for b in blobs { pending.remove(b.handle) }
        unindexed.append(.init(id: id, blobs: blobs))
        unindexedBlobs += blobs.count
        stats.bytesStored += bytes.count
        stats.packs += 1
        if unindexedBlobs >= indexBlobLimit { try await writeIndex() }
    }

    private func writeIndex() async throws {
        guard !unindexed.isEmpty else { return }
        let json = IndexFile(packs: unindexed).json
        let id = try await repository.saveJSON(.index, json)
        stats.bytesStored += try await storage("checking index/\(id.hex)") {
            try await repository.backend.size(Handle(.index, id.hex))
        }
        unindexed = []
        unindexedBlobs = 0
    }

    /// Uploads the open packs and writes the index for everything uploaded.
    public func flush() async throws {
        for type in [BlobType.data, .tree] {
            if let b = builders[type], !b.isEmpty {
                builders[type] = nil
                try await upload(b)
            }
        }
        try await writeIndex()
    }
}

extension Repository {
    /// Runs `body` with a pack uploader, then flushes it: every blob saved inside `body` is in a
    /// stored pack and an index file when this returns. If `body` throws, packs already uploaded
    /// stay (unreferenced, harmless) and no index is written for the unfinished ones.
    public func withPackUploader<T: Sendable>(
        compression: Zstd.Level = .auto, targetPackSize: Int = Pack.defaultTargetSize,
        _ body: (PackUploader) async throws -> T
    ) async throws -> (T, PackUploader.Stats) {
        let uploader = PackUploader(repository: self, compression: compression, targetPackSize: targetPackSize)
        let result = try await body(uploader)
        try await uploader.flush()
        return (result, await uploader.stats)
    }
}
