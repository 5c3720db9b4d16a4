public import Foundation

/// An index document (`index/<id>`): which blobs are in which pack, at what offset.
///
/// Written as `{"packs":[…]}` plus a newline (restic's `json.Encoder`), without `supersedes`.
/// Reads the current format, ignores `supersedes`, and also reads the old array format.
public struct IndexFile: Sendable, Equatable {
    public struct PackEntry: Sendable, Equatable {
        public var id: ID
        public var blobs: [PackBlob]
        public init(id: ID, blobs: [PackBlob]) {
            self.id = id
            self.blobs = blobs
        }
    }

    public var packs: [PackEntry]

    public init(packs: [PackEntry] = []) { self.packs = packs }

    public var blobCount: Int { packs.reduce(0) { $0 + $1.blobs.count } }

    public var json: Data {
        var w = GoJSONWriter()
        w.beginObject()
        w.key("packs")
        w.beginArray()
        for p in packs {
            w.beginObject()
            w.field("id", p.id)
            w.key("blobs")
            w.beginArray()
            for b in p.blobs {
                w.beginObject()
                w.field("id", b.id)
                w.field("type", b.type.rawValue)
                w.field("offset", b.offset)
                w.field("length", b.length)
                w.field("uncompressed_length", b.uncompressedLength, omitEmpty: true)
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.endObject()
        var out = w.bytes
        out.append(0x0A)
        return Data(out)
    }

    /// Parses an index document: the current format (`{"packs":[…]}`, `supersedes` and unknown
    /// keys ignored) or the old top-level array. Uses a streaming scanner: index files can list
    /// hundreds of thousands of blobs.
    public init(json: Data) throws {
        self.packs = try json.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw)
            var packs: [PackEntry] = []
            do {
                if scanner.peek() == UInt8(ascii: "[") {
                    try scanner.array { s in packs.append(try Self.pack(&s)) }
                } else {
                    try scanner.object { s, key in
                        if key == Array("packs".utf8) {
                            if try !s.null() { try s.array { s in packs.append(try Self.pack(&s)) } }
                        } else {
                            try s.skipValue()
                        }
                    }
                }
                try scanner.expectEnd()
            } catch let e as FormatError {
                throw FormatError(.invalidData, "index cannot be decoded (\(e.message))")
            }
            return packs
        }
    }

    private static let keyID = Array("id".utf8), keyBlobs = Array("blobs".utf8), keyType = Array("type".utf8)
    private static let keyOffset = Array("offset".utf8), keyLength = Array("length".utf8)
    private static let keyUncompressed = Array("uncompressed_length".utf8)

    private static func pack(_ s: inout JSONScanner) throws -> PackEntry {
        var id: ID?
        var blobs: [PackBlob] = []
        try s.object { s, key in
            if key == keyID {
                id = try s.id()
            } else if key == keyBlobs {
                if try !s.null() { try s.array { s in blobs.append(try blob(&s)) } }
            } else {
                try s.skipValue()
            }
        }
        guard let id else { throw FormatError(.invalidData, "a pack entry has no id") }
        return PackEntry(id: id, blobs: blobs)
    }

    private static func blob(_ s: inout JSONScanner) throws -> PackBlob {
        var id: ID?
        var type: BlobType?
        var offset: UInt64 = 0, length: UInt64 = 0, uncompressed: UInt64 = 0
        try s.object { s, key in
            switch key {
            case keyID: id = try s.id()
            case keyType:
                let t = try s.string()
                guard let bt = BlobType(rawValue: String(decoding: t, as: UTF8.self)) else {
                    throw FormatError(.invalidData, "invalid blob type \"\(String(decoding: t, as: UTF8.self))\"")
                }
                type = bt
            case keyOffset: offset = try s.unsigned()
            case keyLength: length = try s.unsigned()
            case keyUncompressed: uncompressed = try s.null() ? 0 : s.unsigned()
            default: try s.skipValue()
            }
        }
        guard let id, let type else { throw FormatError(.invalidData, "a blob entry has no id or type") }
        guard offset <= UInt32.max, length <= UInt32.max, uncompressed <= UInt32.max, offset + length <= UInt32.max else {
            throw FormatError(.invalidData, "blob \(id.hex) has an offset or length beyond 4 GiB")
        }
        // Every sealed blob holds its IV and MAC: a shorter length would make its plaintext
        // length negative.
        guard length >= UInt64(CryptoKey.overhead) else {
            throw FormatError(
                .invalidData, "blob \(id.hex) has a length of \(length) bytes, less than a sealed blob's \(CryptoKey.overhead)")
        }
        return PackBlob(type: type, id: id, offset: UInt32(offset), length: UInt32(length), uncompressedLength: UInt32(uncompressed))
    }
}
