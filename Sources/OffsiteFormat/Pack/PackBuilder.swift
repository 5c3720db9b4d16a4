public import Foundation

/// Assembles one pack in memory: append sealed blobs, then `finish` adds the sealed header and
/// trailer and returns the file bytes and its ID (SHA-256 of the whole file).
///
/// Not thread-safe. The engine keeps one builder per blob type, so tree and data blobs never
/// share a pack.
public struct PackBuilder: Sendable {
    public private(set) var blobs: [PackBlob] = []
    public private(set) var bytes = Data()
    private var headerSize = 0

    public init(reserve: Int = 0) {
        bytes.reserveCapacity(reserve)
    }

    /// Bytes the pack file will have once finished.
    public var projectedSize: Int { bytes.count + headerSize + CryptoKey.overhead + 4 }

    public var isEmpty: Bool { blobs.isEmpty }

    /// Appends a sealed blob. `uncompressedLength` is the plaintext length for a compressed
    /// payload, or 0 when the payload is the plaintext itself.
    public mutating func add(type: BlobType, id: ID, sealed: Data, uncompressedLength: Int) throws {
        guard bytes.count + sealed.count < Int(UInt32.max) - Pack.maxHeaderSize else {
            throw FormatError(.invalidArgument, "pack would exceed 4 GiB")
        }
        let blob = PackBlob(
            type: type, id: id, offset: UInt32(bytes.count), length: UInt32(sealed.count),
            uncompressedLength: UInt32(uncompressedLength))
        blobs.append(blob)
        headerSize += blob.headerEntrySize
        bytes.append(sealed)
    }

    /// Appends a blob sealed in parts (see `CryptoKey.sealParts`), without assembling it first.
    public mutating func add(type: BlobType, id: ID, parts: CryptoKey.SealedParts, uncompressedLength: Int) throws {
        guard bytes.count + parts.count < Int(UInt32.max) - Pack.maxHeaderSize else {
            throw FormatError(.invalidArgument, "pack would exceed 4 GiB")
        }
        let blob = PackBlob(
            type: type, id: id, offset: UInt32(bytes.count), length: UInt32(parts.count),
            uncompressedLength: UInt32(uncompressedLength))
        blobs.append(blob)
        headerSize += blob.headerEntrySize
        bytes.append(contentsOf: parts.iv)
        bytes.append(parts.ciphertext)
        bytes.append(contentsOf: parts.tag)
    }

    /// The finished pack: blobs, sealed header, header length, appended in place (no copy of
    /// the blobs). Discard the builder after use.
    public mutating func finish(key: CryptoKey) -> (id: ID, bytes: Data, blobs: [PackBlob]) {
        let header = key.seal(Pack.encodeHeader(blobs))
        bytes.append(header)
        let h = UInt32(header.count)
        bytes.append(contentsOf: [
            UInt8(truncatingIfNeeded: h), UInt8(truncatingIfNeeded: h >> 8),
            UInt8(truncatingIfNeeded: h >> 16), UInt8(truncatingIfNeeded: h >> 24),
        ])
        return (ID.hash(bytes), bytes, blobs)
    }
}
