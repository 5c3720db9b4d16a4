public import OffsiteFormat
import Synchronization

/// Where every blob is: the union of all index files, plus packs written in this session.
///
/// Thread-safe. A blob may be stored in several packs; all locations are kept and readers try
/// them in turn.
public final class MasterIndex: Sendable {
    /// One stored copy of a blob.
    public struct Location: Hashable, Sendable {
        public var packID: ID
        public var blob: PackBlob
    }

    private struct State {
        var blobs: [BlobHandle: [Location]] = [:]
        var packs: Set<ID> = []
        var indexFiles: Set<ID> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Adds every pack of an index file (`fromFile` records the file as loaded).
    public func add(_ file: IndexFile, fromFile id: ID? = nil) {
        state.withLock { s in
            if let id { s.indexFiles.insert(id) }
            for pack in file.packs {
                s.packs.insert(pack.id)
                for blob in pack.blobs {
                    let loc = Location(packID: pack.id, blob: blob)
                    s.blobs[blob.handle, default: []].append(loc)
                }
            }
        }
    }

    /// Adds one pack just written.
    public func add(pack: ID, blobs: [PackBlob]) {
        add(IndexFile(packs: [.init(id: pack, blobs: blobs)]))
    }

    public func has(_ handle: BlobHandle) -> Bool {
        state.withLock { $0.blobs[handle] != nil }
    }

    public func locations(of handle: BlobHandle) -> [Location] {
        state.withLock { $0.blobs[handle] ?? [] }
    }

    /// Plaintext length of a blob, if known.
    public func plaintextLength(of handle: BlobHandle) -> Int? {
        locations(of: handle).first?.blob.plaintextLength
    }

    public var blobCount: Int { state.withLock { $0.blobs.count } }
    public var packCount: Int { state.withLock { $0.packs.count } }
    public var packIDs: Set<ID> { state.withLock { $0.packs } }
    public var loadedIndexFiles: Set<ID> { state.withLock { $0.indexFiles } }
}
