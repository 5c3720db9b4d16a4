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

    private struct BlobJSON: Decodable {
        var id: ID
        var type: BlobType
        var offset: UInt32
        var length: UInt32
        var uncompressed_length: UInt32?
    }

    private struct PackJSON: Decodable {
        var id: ID
        var blobs: [BlobJSON]?
    }

    private struct JSONForm: Decodable {
        var packs: [PackJSON]?
    }

    public init(json: Data) throws {
        let packs: [PackJSON]
        let first = json.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if first == UInt8(ascii: "[") {
            packs = try decodeDocument([PackJSON].self, from: json, what: "index")
        } else {
            packs = try decodeDocument(JSONForm.self, from: json, what: "index").packs ?? []
        }
        self.packs = packs.map { p in
            PackEntry(
                id: p.id,
                blobs: (p.blobs ?? []).map {
                    PackBlob(
                        type: $0.type, id: $0.id, offset: $0.offset, length: $0.length,
                        uncompressedLength: $0.uncompressed_length ?? 0)
                })
        }
    }
}
