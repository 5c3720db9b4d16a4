/// The two kinds of blob: file content chunks and directory listings.
public enum BlobType: String, Sendable, Hashable, Codable, CustomStringConvertible {
    case data
    case tree

    public var description: String { rawValue }
}

/// A blob's identity within the repository: its type and the SHA-256 of its plaintext.
public struct BlobHandle: Hashable, Sendable, CustomStringConvertible {
    public var id: ID
    public var type: BlobType

    public init(id: ID, type: BlobType) {
        self.id = id
        self.type = type
    }

    public var description: String { "\(type) blob \(id.hex)" }
}
