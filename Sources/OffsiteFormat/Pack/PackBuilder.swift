public import Foundation

/// Assembles one pack in memory: append sealed blobs, then `finish` adds the sealed header and
/// trailer and returns the file bytes and its ID (SHA-256 of the whole file).
///
/// Not thread-safe. The engine keeps one builder per blob type, so tree and data blobs never
/// share a pack.
public struct PackBuilder: Sendable {
    public private(set) var blobs: [PackBlob] = []
    /// The pack's bytes so far. A reference: copies of a builder share it.
    public private(set) var bytes: ByteBuffer
    private var headerSize = 0

    public init(reserve: Int = 0) {
        bytes = ByteBuffer(capacity: reserve)
    }

    /// A builder that appends to `buffer`, which must be empty (its capacity is reused).
    public init(buffer: ByteBuffer) {
        precondition(buffer.count == 0, "a pack buffer must be empty")
        bytes = buffer
    }

    /// Bytes the pack file will have once finished.
    public var projectedSize: Int { bytes.count + headerSize + CryptoKey.overhead + 4 }

    public var isEmpty: Bool { blobs.isEmpty }

    /// Appends a sealed blob. `uncompressedLength` is the plaintext length for a compressed
    /// payload, or 0 when the payload is the plaintext itself.
    public mutating func add(type: BlobType, id: ID, sealed: Data, uncompressedLength: Int) throws {
        try addEntry(type: type, id: id, length: sealed.count, uncompressedLength: uncompressedLength)
        sealed.withUnsafeBytes { bytes.append($0) }
    }

    /// Appends a blob sealed in parts (see `CryptoKey.sealParts`), without assembling it first.
    public mutating func add(type: BlobType, id: ID, parts: CryptoKey.SealedParts, uncompressedLength: Int) throws {
        try addEntry(type: type, id: id, length: parts.count, uncompressedLength: uncompressedLength)
        bytes.append(parts.iv)
        bytes.append(parts.ciphertext)
        bytes.append(parts.tag)
    }

    /// Records the header entry of a blob of `length` sealed bytes about to be appended.
    private mutating func addEntry(type: BlobType, id: ID, length: Int, uncompressedLength: Int) throws {
        guard bytes.count + length < Int(UInt32.max) - Pack.maxHeaderSize else {
            throw FormatError(.invalidArgument, "pack would exceed 4 GiB")
        }
        let blob = PackBlob(
            type: type, id: id, offset: UInt32(bytes.count), length: UInt32(length),
            uncompressedLength: UInt32(uncompressedLength))
        blobs.append(blob)
        headerSize += blob.headerEntrySize
    }

    /// The finished pack: blobs, sealed header, header length, appended in place (no copy of
    /// the blobs). The `Data` shares the builder's buffer; `onRelease` gets the buffer back when
    /// that `Data` is released. Discard the builder after use.
    public mutating func finish(
        key: CryptoKey, onRelease: @escaping @Sendable (ByteBuffer) -> Void = { _ in }
    )
        -> (id: ID, bytes: Data, blobs: [PackBlob])
    {
        let header = key.seal(Pack.encodeHeader(blobs))
        bytes.append(header)
        let h = UInt32(header.count)
        bytes.append([
            UInt8(truncatingIfNeeded: h), UInt8(truncatingIfNeeded: h >> 8),
            UInt8(truncatingIfNeeded: h >> 16), UInt8(truncatingIfNeeded: h >> 24),
        ])
        let id = bytes.withUnsafeBytes { ID.hash($0) }
        return (id, bytes.data(onRelease: onRelease), blobs)
    }
}
