public import OffsiteFormat
import OffsiteSync

/// Where every blob is: the union of all index files, plus packs written in this session.
///
/// Thread-safe. A blob may be stored in several packs; all locations are kept and readers try
/// them in turn. Memory per blob is kept small (it bounds what a large repository costs to
/// open): one dictionary entry of a 33-byte handle and a 16-byte location whose pack is an index
/// into a table of pack IDs; extra copies of a blob go to a side table.
public final class MasterIndex: Sendable {
    /// One stored copy of a blob.
    public struct Location: Hashable, Sendable {
        public var packID: ID
        public var blob: PackBlob
    }

    /// A location with the pack as a table index: 16 bytes.
    private struct Packed {
        var pack: UInt32
        var offset: UInt32
        var length: UInt32
        var uncompressedLength: UInt32
    }

    private struct State {
        var blobs: [BlobHandle: Packed] = [:]
        var duplicates: [BlobHandle: [Packed]] = [:]
        var packIDs: [ID] = []
        var packNumbers: [ID: UInt32] = [:]
        var indexFiles: Set<ID> = []

        mutating func number(of pack: ID) -> UInt32 {
            if let n = packNumbers[pack] { return n }
            let n = UInt32(packIDs.count)
            packIDs.append(pack)
            packNumbers[pack] = n
            return n
        }

        func location(_ handle: BlobHandle, _ p: Packed) -> Location {
            Location(
                packID: packIDs[Int(p.pack)],
                blob: PackBlob(
                    type: handle.type, id: handle.id, offset: p.offset, length: p.length,
                    uncompressedLength: p.uncompressedLength))
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// Adds every pack of an index file (`fromFile` records the file as loaded).
    public func add(_ file: IndexFile, fromFile id: ID? = nil) {
        state.withLock { s in
            if let id { s.indexFiles.insert(id) }
            for pack in file.packs {
                let n = s.number(of: pack.id)
                for blob in pack.blobs {
                    let p = Packed(pack: n, offset: blob.offset, length: blob.length, uncompressedLength: blob.uncompressedLength)
                    let handle = blob.handle
                    if let existing = s.blobs[handle] {
                        // The same copy listed twice (a pack in two index files) is kept once.
                        if existing.pack == n && existing.offset == p.offset { continue }
                        if s.duplicates[handle]?.contains(where: { $0.pack == n && $0.offset == p.offset }) == true { continue }
                        s.duplicates[handle, default: []].append(p)
                    } else {
                        s.blobs[handle] = p
                    }
                }
            }
        }
    }

    /// Forgets everything added, to load the index afresh (after another process may have
    /// changed the repository: a lock attempt lost to a prune).
    public func removeAll() {
        state.withLock { $0 = State() }
    }

    /// Adds one pack just written.
    public func add(pack: ID, blobs: [PackBlob]) {
        add(IndexFile(packs: [.init(id: pack, blobs: blobs)]))
    }

    /// Makes room for `count` more blobs (avoids rehashing while loading a large index).
    public func reserveCapacity(_ count: Int) {
        state.withLock { $0.blobs.reserveCapacity($0.blobs.count + count) }
    }

    public func has(_ handle: BlobHandle) -> Bool {
        state.withLock { $0.blobs[handle] != nil }
    }

    public func locations(of handle: BlobHandle) -> [Location] {
        state.withLock { s in
            guard let first = s.blobs[handle] else { return [] }
            return [s.location(handle, first)] + (s.duplicates[handle] ?? []).map { s.location(handle, $0) }
        }
    }

    /// Plaintext length of a blob, if known.
    public func plaintextLength(of handle: BlobHandle) -> Int? {
        state.withLock { s in
            s.blobs[handle].map { s.location(handle, $0).blob.plaintextLength }
        }
    }

    /// Every indexed copy (of `type`, or of both types), grouped by pack (each pack's blobs in
    /// offset order). For check and prune: one pass over the whole index.
    public func blobsByPack(type: BlobType? = nil) -> [ID: [PackBlob]] {
        state.withLock { s in
            var out: [ID: [PackBlob]] = [:]
            out.reserveCapacity(type == nil ? s.packIDs.count : 0)
            func add(_ handle: BlobHandle, _ p: Packed) {
                if let type, handle.type != type { return }
                out[s.packIDs[Int(p.pack)], default: []].append(
                    PackBlob(
                        type: handle.type, id: handle.id, offset: p.offset, length: p.length, uncompressedLength: p.uncompressedLength))
            }
            for (handle, p) in s.blobs { add(handle, p) }
            for (handle, copies) in s.duplicates { for p in copies { add(handle, p) } }
            for key in out.keys { out[key]!.sort { $0.offset < $1.offset } }
            return out
        }
    }

    public var blobCount: Int { state.withLock { $0.blobs.count } }
    public var packCount: Int { state.withLock { $0.packIDs.count } }
    public var packIDs: Set<ID> { state.withLock { Set($0.packIDs) } }
    public var loadedIndexFiles: Set<ID> { state.withLock { $0.indexFiles } }
}
