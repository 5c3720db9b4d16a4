public import Foundation
public import OffsiteFormat
import OffsiteStorage
import OffsiteSync

/// Collects new blobs into packs (~16 MiB, one open pack per blob type), uploads each finished
/// pack, and writes index files for the uploaded packs.
///
/// Safe to call from many tasks at once: hashing, compression and encryption run in the calling
/// task, outside any lock; only appending to the open pack is serialised. A blob is stored once
/// even when several tasks offer it at the same time (the first one claims it).
///
/// Ordering keeps the repository valid at every point: a pack is stored before any index names
/// it, and `flush` (called by `Repository.withPackUploader`) stores the index before the caller
/// saves a snapshot that needs it. A crash leaves at most unreferenced packs, which `prune`
/// removes. With `dryRun`, nothing is written but the statistics are the same.
public final class PackUploader: Sendable {
    public struct Stats: Sendable, Equatable {
        public var dataBlobs = 0
        public var treeBlobs = 0
        /// Plaintext bytes of new blobs.
        public var bytesAdded = 0
        /// Bytes of new blobs as stored (compressed and encrypted).
        public var bytesStored = 0
        /// Bytes of pack files and index files written.
        public var bytesWritten = 0
        public var packs = 0
    }

    private struct State {
        var builders: [BlobType: PackBuilder] = [:]
        /// Blobs accepted but not yet in an uploaded pack.
        var claimed: Set<BlobHandle> = []
        var unindexed: [IndexFile.PackEntry] = []
        var unindexedBlobs = 0
        var stats = Stats()
    }

    let repository: Repository
    let compression: Zstd.Level
    let targetPackSize: Int
    let dryRun: Bool
    /// Write an index file once this many blobs are waiting for one.
    let indexBlobLimit: Int
    private let state = Mutex(State())
    private let uploadSlots: AsyncSemaphore
    /// Data pack buffers, reused from pack to pack.
    private let packBuffers = BufferPool(limit: 1)

    private func takePackBuffer() -> ByteBuffer {
        packBuffers.take(capacity: targetPackSize + (1 << 20))
    }
    /// Compression contexts and buffers, reused from blob to blob (one per blob in flight).
    private let compressors = Mutex<[Zstd.Compressor]>([])

    init(
        repository: Repository, compression: Zstd.Level, targetPackSize: Int, dryRun: Bool = false,
        indexBlobLimit: Int = 50_000, uploadConcurrency: Int = 1
    ) {
        self.repository = repository
        self.compression = compression
        self.targetPackSize = targetPackSize
        self.dryRun = dryRun
        self.indexBlobLimit = indexBlobLimit
        self.uploadSlots = AsyncSemaphore(permits: max(1, uploadConcurrency))
    }

    public var stats: Stats { state.withLock { $0.stats } }

    /// True if the blob is already stored or being stored.
    public func has(_ handle: BlobHandle) -> Bool {
        repository.index.has(handle) || state.withLock { $0.claimed.contains(handle) }
    }

    /// Stores a blob unless the repository already has it. Returns true when it was new.
    @discardableResult
    public func save(_ type: BlobType, _ plaintext: some ContiguousBytes & Sendable, id knownID: ID? = nil) async throws -> Bool {
        guard let blob = seal(type, plaintext, id: knownID) else { return false }
        try await store(blob)
        return true
    }

    /// A new blob, compressed and encrypted, not yet in a pack.
    public struct SealedBlob: Sendable {
        let type: BlobType
        let id: ID
        let parts: CryptoKey.SealedParts
        let plaintextLength: Int
        let compressed: Bool
    }

    /// First half of `save`: claims the blob and compresses and encrypts it. Returns nil when
    /// the repository already has it (or another task is storing it). The plaintext is not
    /// needed afterwards, so a caller can reuse its buffer before `store`.
    public func seal(_ type: BlobType, _ plaintext: some ContiguousBytes, id knownID: ID? = nil) -> SealedBlob? {
        let id = knownID ?? plaintext.withUnsafeBytes { ID.hash($0) }
        let length = plaintext.withUnsafeBytes { $0.count }
        let handle = BlobHandle(id: id, type: type)
        if repository.index.has(handle) { return nil }
        let fresh = state.withLock { $0.claimed.insert(handle).inserted }
        guard fresh else { return nil }

        var compress = repository.version >= 2 && length > 0 && (type == .tree || compression != .off)
        let key = repository.key
        let parts: CryptoKey.SealedParts = plaintext.withUnsafeBytes { raw in
            guard compress else { return key.sealParts(raw) }
            let compressor = compressors.withLock { $0.popLast() } ?? Zstd.Compressor(level: compression.zstdLevel)
            defer { compressors.withLock { $0.append(compressor) } }
            // Data that does not compress (media, archives, encrypted files) is stored as it is:
            // an uncompressed blob is valid in v2 (restic writes them with --compression off),
            // and neither the compressor's time nor a second full-size copy is spent on it.
            if type == .data && !compressor.looksCompressible(raw) {
                compress = false
                return key.sealParts(raw)
            }
            return compressor.compress(raw) { key.sealParts($0) }
        }
        return SealedBlob(type: type, id: id, parts: parts, plaintextLength: length, compressed: compress)
    }

    /// For prune's repacking: a blob that the index already lists (in a pack about to be
    /// deleted) goes into a new pack. `sealed` is its stored form (IV, ciphertext, MAC), copied
    /// as is, already verified by the caller; with `plaintext` instead it is sealed again
    /// (compressed with the uploader's level), for packs that must be compressed.
    public func repack(_ blob: PackBlob, sealed: Data) async throws {
        let bytes = [UInt8](sealed)
        let parts = CryptoKey.SealedParts(
            iv: Array(bytes[0..<16]), ciphertext: Data(bytes[16..<(bytes.count - 16)]), tag: Array(bytes[(bytes.count - 16)...]))
        try await store(
            SealedBlob(
                type: blob.type, id: blob.id, parts: parts, plaintextLength: blob.plaintextLength, compressed: blob.isCompressed))
    }

    /// `repack` for a blob that must be compressed: seals `plaintext` anew.
    public func repack(_ type: BlobType, id: ID, plaintext: Data) async throws {
        var compress = repository.version >= 2 && !plaintext.isEmpty
        let key = repository.key
        let level = compression == .off ? Zstd.Level.auto : compression
        let parts: CryptoKey.SealedParts = plaintext.withUnsafeBytes { raw in
            guard compress else { return key.sealParts(raw) }
            let compressor = Zstd.Compressor(level: level.zstdLevel)
            if type == .data && !compressor.looksCompressible(raw) {
                compress = false
                return key.sealParts(raw)
            }
            return compressor.compress(raw) { key.sealParts($0) }
        }
        try await store(SealedBlob(type: type, id: id, parts: parts, plaintextLength: plaintext.count, compressed: compress))
    }

    /// Second half of `save`: appends a sealed blob to the open pack of its type, and uploads
    /// the pack when it is full.
    public func store(_ blob: SealedBlob) async throws {
        try throwIfFailed()
        let type = blob.type
        var full = try await failing {
            try state.withLock { s -> PackBuilder? in
                // Take the builder out of the dictionary so appending does not copy the pack.
                // Data packs fill up to the target size; tree packs are usually small.
                var builder =
                    s.builders.removeValue(forKey: type)
                    ?? (type == .data ? PackBuilder(buffer: takePackBuffer()) : PackBuilder())
                try builder.add(type: type, id: blob.id, parts: blob.parts, uncompressedLength: blob.compressed ? blob.plaintextLength : 0)
                s.stats.bytesAdded += blob.plaintextLength
                s.stats.bytesStored += blob.parts.count
                if type == .data { s.stats.dataBlobs += 1 } else { s.stats.treeBlobs += 1 }
                if builder.projectedSize >= targetPackSize { return builder }
                s.builders[type] = builder
                return nil
            }
        }
        // `take()` moves the builder out, so finishing it appends in place instead of copying.
        if var builder = full.take() { try await failing { try await upload(&builder) } }
    }

    // MARK: - Failure

    /// The first failure to store blobs is remembered and thrown again by every later `store`
    /// and by `flush`: the blobs of a pack that failed are lost, and the task that saw the error
    /// may have been cancelled and its error dropped (a task group keeps only its body's error),
    /// so only a failure that sticks guarantees that no index and no snapshot is written after it.
    private let failure = Mutex<StoredError?>(nil)

    private struct StoredError: @unchecked Sendable {
        let error: any Error
    }

    private func throwIfFailed() throws {
        if let f = failure.withLock({ $0 }) { throw f.error }
    }

    private func failing<T>(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            failure.withLock { if $0 == nil { $0 = StoredError(error: error) } }
            throw error
        }
    }

    private func upload(_ builder: inout PackBuilder) async throws {
        // At most `uploadConcurrency` packs are written at once; the task that filled the next
        // pack waits here, which holds back new blobs and bounds the memory of full packs.
        await uploadSlots.acquire()
        defer { uploadSlots.release() }
        let pool = builder.blobs.first?.type == .data ? packBuffers : nil
        // The buffer goes back to the pool once the backend has let go of the bytes.
        let (id, bytes, blobs) = builder.finish(key: repository.key) { pool?.give($0) }
        let size = bytes.count
        if !dryRun {
            try await storage("saving pack data/\(id.hex)") {
                try await repository.backend.save(Handle(.data, id.hex), data: bytes)
            }
            repository.index.add(pack: id, blobs: blobs)
        }
        let indexDue = state.withLock { s -> [IndexFile.PackEntry]? in
            // In a dry run nothing enters the index, so the claims keep deduplicating.
            if !dryRun { for b in blobs { s.claimed.remove(b.handle) } }
            s.stats.bytesWritten += size
            s.stats.packs += 1
            s.unindexed.append(.init(id: id, blobs: blobs))
            s.unindexedBlobs += blobs.count
            guard s.unindexedBlobs >= indexBlobLimit else { return nil }
            defer { s.unindexed = []; s.unindexedBlobs = 0 }
            return s.unindexed
        }
        if let indexDue { try await writeIndex(indexDue) }
    }

    private func writeIndex(_ packs: [IndexFile.PackEntry]) async throws {
        guard !packs.isEmpty, !dryRun else { return }
        let json = IndexFile(packs: packs).json
        let id = try await repository.saveJSON(.index, json)
        let size = try await storage("checking index/\(id.hex)") {
            try await repository.backend.size(Handle(.index, id.hex))
        }
        state.withLock { $0.stats.bytesWritten += size }
    }

    /// Uploads the open packs and writes the index for everything uploaded. Call once, after
    /// every `save` has returned.
    public func flush() async throws {
        try throwIfFailed()
        let open = state.withLock { s -> [PackBuilder] in
            defer { s.builders = [:] }
            return [BlobType.data, .tree].compactMap { s.builders[$0] }.filter { !$0.isEmpty }
        }
        for var b in open { try await failing { try await upload(&b) } }
        let rest = state.withLock { s -> [IndexFile.PackEntry] in
            defer { s.unindexed = []; s.unindexedBlobs = 0 }
            return s.unindexed
        }
        try await writeIndex(rest)
    }
}

extension Repository {
    /// Runs `body` with a pack uploader, then flushes it: every blob saved inside `body` is in a
    /// stored pack and an index file when this returns. If `body` throws, packs already uploaded
    /// stay (unreferenced, harmless) and no index is written for the unfinished ones.
    public func withPackUploader<T: Sendable>(
        compression: Zstd.Level = .auto, targetPackSize: Int = Pack.defaultTargetSize, dryRun: Bool = false,
        _ body: (PackUploader) async throws -> T
    ) async throws -> (T, PackUploader.Stats) {
        // Object storage takes several packs at once (its connection count); a disk one.
        let uploader = PackUploader(
            repository: self, compression: compression, targetPackSize: targetPackSize, dryRun: dryRun,
            uploadConcurrency: backend.preferredConcurrency)
        let result = try await body(uploader)
        try await uploader.flush()
        return (result, uploader.stats)
    }
}
