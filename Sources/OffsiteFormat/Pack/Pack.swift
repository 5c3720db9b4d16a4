public import Foundation

/// Pack files (docs/FORMAT.md §4): sealed blobs back to back from offset 0, then the sealed header
/// (one entry per blob), then the header's sealed length as a little-endian UInt32.
public enum Pack {
    /// Largest header restic accepts (16 MiB, plus the 4-byte trailer).
    public static let maxHeaderSize = 16 * 1024 * 1024 + 4
    /// Smallest valid pack: one plain entry, the seal overhead, the trailer.
    public static let minPackSize = 37 + 32 + 4
    /// restic's default target size.
    public static let defaultTargetSize = 16 * 1024 * 1024
    /// Bytes restic reads from the end first, enough for a header of 15 compressed entries.
    public static let eagerTailSize = 15 * 41 + 36

    /// Encodes the header plaintext for `blobs` in their order in the pack.
    public static func encodeHeader(_ blobs: [PackBlob]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(blobs.count * 41)
        func le32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
        for b in blobs {
            switch (b.type, b.isCompressed) {
            case (.data, false): out.append(0)
            case (.tree, false): out.append(1)
            case (.data, true): out.append(2)
            case (.tree, true): out.append(3)
            }
            le32(b.length)
            if b.isCompressed { le32(b.uncompressedLength) }
            out += b.id.bytes
        }
        return out
    }

    /// Decodes a header plaintext; offsets are derived by summing the lengths from 0.
    public static func decodeHeader(_ plain: some Collection<UInt8>) throws -> [PackBlob] {
        let bytes = Array(plain)
        var blobs = [PackBlob]()
        var i = 0
        var offset: UInt64 = 0
        func le32(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }
        while i < bytes.count {
            let t = bytes[i]
            guard t <= 3 else { throw FormatError(.invalidData, "pack header has invalid blob type \(t) at entry \(blobs.count)") }
            let compressed = t >= 2
            let size = compressed ? 41 : 37
            guard i + size <= bytes.count else {
                throw FormatError(.invalidData, "pack header is truncated at entry \(blobs.count)")
            }
            let length = le32(i + 1)
            let ulen: UInt32 = compressed ? le32(i + 5) : 0
            let idStart = i + (compressed ? 9 : 5)
            let id = ID(bytes: bytes[idStart..<idStart + 32])!
            guard length >= UInt32(CryptoKey.overhead) else {
                throw FormatError(.invalidData, "pack header entry \(blobs.count) has length \(length) < 32")
            }
            guard offset + UInt64(length) <= UInt64(UInt32.max) else {
                throw FormatError(.invalidData, "pack header offsets exceed 4 GiB")
            }
            if compressed && ulen == 0 {
                throw FormatError(.invalidData, "pack header entry \(blobs.count) is compressed with length 0")
            }
            blobs.append(
                PackBlob(
                    type: t & 1 == 0 ? .data : .tree, id: id, offset: UInt32(offset),
                    length: length, uncompressedLength: ulen))
            offset += UInt64(length)
            i += size
        }
        return blobs
    }

    /// Reads the header length from the last 4 bytes and checks it against the pack size.
    public static func headerLength(trailer: some Collection<UInt8>, packSize: Int) throws -> Int {
        let t = Array(trailer.suffix(4))
        guard t.count == 4, packSize >= minPackSize else {
            throw FormatError(.invalidData, "pack is too small (\(packSize) bytes)")
        }
        let h = Int(UInt32(t[0]) | UInt32(t[1]) << 8 | UInt32(t[2]) << 16 | UInt32(t[3]) << 24)
        guard h >= CryptoKey.overhead, h <= packSize - 4, h + 4 <= maxHeaderSize else {
            throw FormatError(.invalidData, "pack header length \(h) is invalid for a pack of \(packSize) bytes")
        }
        return h
    }

    /// Parses the header from the tail of a pack (at least header + 4 bytes, or the whole file).
    /// Checks that the blobs exactly fill the space before the header.
    public static func readHeader(tail: Data, packSize: Int, key: CryptoKey) throws -> [PackBlob] {
        let h = try headerLength(trailer: tail, packSize: packSize)
        guard tail.count >= h + 4 else {
            throw FormatError(.invalidData, "pack tail too short for a header of \(h) bytes")
        }
        let end = tail.endIndex - 4
        let plain = try key.open(tail[(end - h)..<end])
        let blobs = try decodeHeader(plain)
        let dataEnd = blobs.reduce(0) { $0 + Int($1.length) }
        guard dataEnd == packSize - h - 4 else {
            throw FormatError(.invalidData, "pack header describes \(dataEnd) bytes of blobs, pack has \(packSize - h - 4)")
        }
        return blobs
    }

    /// Expected size of a pack holding `blobs` (what restic computes from the index).
    public static func size(of blobs: [PackBlob]) -> Int {
        blobs.reduce(4 + CryptoKey.overhead) { $0 + $1.headerEntrySize + Int($1.length) }
    }
}
