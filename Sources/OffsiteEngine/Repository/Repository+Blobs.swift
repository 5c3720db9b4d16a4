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
        for loc in locations {
            do {
                let raw = try await backend.load(
                    Handle(.data, loc.packID.hex), offset: Int(loc.blob.offset),
                    length: Int(loc.blob.length))
                return try decodeBlob(raw, loc.blob)
            } catch let e as StorageError {
                failures.append("pack \(loc.packID.hex): \(e.message)")
            } catch let e as FormatError {
                failures.append("pack \(loc.packID.hex): \(e.message)")
            }
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
        let json = try await loadBlob(BlobHandle(id: id, type: .tree))
        do {
            return try Tree(json: json)
        } catch let e as FormatError {
            throw EngineError(.invalidData, "tree \(id.hex) cannot be decoded: \(e.message)")
        }
    }
}
