public import Foundation
public import OffsiteFormat
import OffsiteStorage

extension Repository {
    /// Loads a blob's plaintext, verified: MAC, then decompression to the indexed length, then
    /// SHA-256 against the blob ID. Tries every stored copy; never returns wrong bytes.
    ///
    /// Throws `.notFound` if the blob is in no index, `.invalidData` naming the pack and blob when
    /// no copy verifies.
    public func loadBlob(_ handle: BlobHandle) async throws -> Data {
        let locations = index.locations(of: handle)
        guard !locations.isEmpty else {
            throw EngineError(.notFound, "\(handle) is not in the index (repository damaged? run `restic check`)")
        }
        var failures: [String] = []
        // The storage code when no copy was found damaged or missing, only out of reach
        // (network, permissions): that is not damage, and callers must not treat it as such.
        var unreachable: StorageError.Code? = nil
        var damaged = false
        for loc in locations {
            do {
                let raw = try await backend.load(
                    Handle(.data, loc.packID.hex), offset: Int(loc.blob.offset),
                    length: Int(loc.blob.length))
                return try decodeBlob(raw, loc.blob)
            } catch let e as StorageError {
                failures.append("pack \(loc.packID.hex): \(e.message)")
                if e.code == .notFound || e.code == .invalidData { damaged = true } else { unreachable = unreachable ?? e.code }
            } catch let e as FormatError {
                failures.append("pack \(loc.packID.hex): \(e.message)")
                damaged = true
            }
        }
        if !damaged, let code = unreachable {
            throw EngineError(.storage, "cannot load \(handle): " + failures.joined(separator: "; "), storageCode: code)
        }
        throw EngineError(.invalidData, "cannot load \(handle): " + failures.joined(separator: "; "))
    }

    /// Opens, decompresses and hash-checks one stored blob.
    func decodeBlob(_ sealed: Data, _ blob: PackBlob) throws -> Data {
        let payload = try key.open(sealed)
        let plain = blob.isCompressed ? try Zstd.decompress(payload, expectedSize: Int(blob.uncompressedLength)) : payload
        guard ID.hash(plain) == blob.id else {
            throw FormatError(.invalidData, "blob content does not match its ID (SHA-256 mismatch)")
        }
        return plain
    }

    /// Loads and decodes a tree blob.
    public func loadTree(_ id: ID) async throws -> Tree {
        if let windows = treeWindows, let tree = try await windows.tree(id, in: self) { return tree }
        let json = try await loadBlob(BlobHandle(id: id, type: .tree))
        do {
            return try Tree(json: json)
        } catch let e as FormatError {
            throw EngineError(.invalidData, "tree \(id.hex) cannot be decoded: \(e.message)")
        }
    }

    /// Every tree and data blob reachable from the trees `roots` (`streamTrees`, 16 trees at a
    /// time). Trees in `skipping` are not entered (and not returned), nor is any tree twice.
    /// Throws naming the first tree that cannot be loaded.
    public func reachableBlobs(from roots: [ID], skipping: Set<ID> = []) async throws -> Set<BlobHandle> {
        var found = Set<BlobHandle>()
        try await streamTrees(from: roots, skipping: skipping, load: { try await self.loadTree($0) }) { id, tree in
            found.insert(BlobHandle(id: id, type: .tree))
            var subtrees: [ID] = []
            for node in tree.nodes {
                for blob in node.content ?? [] { found.insert(BlobHandle(id: blob, type: .data)) }
                if let sub = node.subtree { subtrees.append(sub) }
            }
            return subtrees
        }
        return found
    }

    /// Reads `blobs` of one pack (sorted by offset) in ranged reads of at most 4 MiB rather
    /// than the whole pack, verifies each (MAC, decompression, SHA-256) and hands it to `body`
    /// with its stored bytes (IV, ciphertext, MAC) and its plaintext. A damaged blob stops the
    /// walk with `.invalidData` naming the blob and pack; `ifDamaged` says what the caller left
    /// undone ("nothing was deleted").
    public func readVerifiedBlobs(
        pack: ID, _ blobs: [PackBlob], ifDamaged: String,
        _ body: (_ blob: PackBlob, _ sealed: Data, _ plaintext: Data) async throws -> Void
    ) async throws {
        var data = Data()
        var dataOffset = 0
        for (i, blob) in blobs.enumerated() {
            if Int(blob.offset) < dataOffset || Int(blob.offset + blob.length) > dataOffset + data.count {
                var end = i + 1
                while end < blobs.count && Int(blobs[end].offset + blobs[end].length) - Int(blob.offset) <= 4 << 20 { end += 1 }
                let length = Int(blobs[end - 1].offset + blobs[end - 1].length) - Int(blob.offset)
                data = Data()
                data = try await storage("loading pack \(pack.hex)") {
                    try await backend.load(Handle(.data, pack.hex), offset: Int(blob.offset), length: length)
                }
                dataOffset = Int(blob.offset)
            }
            let start = data.startIndex + Int(blob.offset) - dataOffset
            let sealed = Data(data[start..<start + Int(blob.length)])
            let plaintext: Data
            do {
                plaintext = try decodeBlob(sealed, blob)
            } catch let e as FormatError {
                throw EngineError(
                    .invalidData,
                    "\(blob.type) blob \(blob.id.hex) in pack \(pack.hex) is damaged (\(e.message)); \(ifDamaged). Run `offsite check`.")
            }
            try await body(blob, sealed, plaintext)
        }
    }
}
