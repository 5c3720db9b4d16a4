/// One blob inside a pack: where it is and how it is stored.
public struct PackBlob: Hashable, Sendable {
    public var type: BlobType
    public var id: ID
    /// Byte offset of the sealed blob in the pack file.
    public var offset: UInt32
    /// Sealed length (payload + 32).
    public var length: UInt32
    /// Plaintext length when the payload is zstd-compressed; 0 when stored uncompressed.
    public var uncompressedLength: UInt32

    public init(type: BlobType, id: ID, offset: UInt32, length: UInt32, uncompressedLength: UInt32 = 0) {
        self.type = type
        self.id = id
        self.offset = offset
        self.length = length
        self.uncompressedLength = uncompressedLength
    }

    public var isCompressed: Bool { uncompressedLength != 0 }

    /// Plaintext length: the uncompressed length, or the sealed length minus the crypto overhead.
    public var plaintextLength: Int {
        isCompressed ? Int(uncompressedLength) : Int(length) - CryptoKey.overhead
    }

    /// Size of this blob's entry in the pack header: 37 bytes plain, 41 compressed.
    public var headerEntrySize: Int { isCompressed ? 41 : 37 }

    public var handle: BlobHandle { BlobHandle(id: id, type: type) }
}
