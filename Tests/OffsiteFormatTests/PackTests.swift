import Foundation
import OffsiteFormat
import Testing

/// docs/FORMAT.md §4 and §5: pack layout, headers and zstd framing.
@Suite struct PackTests {
    @Test func packRoundTrip() throws {
        let key = CryptoKey.random()
        var builder = PackBuilder()
        let plain1 = Data(repeating: 7, count: 1000)
        let frame = Zstd.compress(plain1, level: 3)
        try builder.add(type: .data, id: ID.hash(plain1), sealed: key.seal(frame), uncompressedLength: plain1.count)
        let plain2 = Data("raw blob".utf8)
        try builder.add(type: .data, id: ID.hash(plain2), sealed: key.seal(plain2), uncompressedLength: 0)
        let projected = builder.projectedSize
        let (id, bytes, blobs) = builder.finish(key: key)
        #expect(id == ID.hash(bytes))
        #expect(bytes.count == Pack.size(of: blobs))
        #expect(bytes.count == projected)
        let header = try Pack.readHeader(tail: bytes, packSize: bytes.count, key: key)
        #expect(header == blobs)
        #expect(header[0].headerEntrySize == 41 && header[1].headerEntrySize == 37)
        let b0 = header[0]
        let opened = try key.open(bytes[Int(b0.offset)..<Int(b0.offset + b0.length)])
        #expect(try Zstd.decompress(opened, expectedSize: Int(b0.uncompressedLength)) == plain1)
        // A tail holding just header + trailer is enough.
        let tail = bytes.suffix(Int(bytes.count) - Int(header[1].offset + header[1].length))
        #expect(try Pack.readHeader(tail: Data(tail), packSize: bytes.count, key: key) == blobs)
    }

    @Test func headerRejectsGarbage() throws {
        #expect(throws: FormatError.self) { try Pack.decodeHeader([UInt8](repeating: 4, count: 37)) }
        #expect(throws: FormatError.self) { try Pack.decodeHeader([UInt8](repeating: 0, count: 36)) }
        #expect(throws: FormatError.self) { try Pack.headerLength(trailer: [0xff, 0xff, 0xff, 0x7f], packSize: 100) }
        #expect(throws: FormatError.self) { try Pack.headerLength(trailer: [10, 0, 0, 0], packSize: 100) }
        #expect(throws: FormatError.self) { try Pack.headerLength(trailer: [40, 0, 0, 0], packSize: 10) }
    }

    @Test func zstdRoundTripsAndChecksLength() throws {
        let data = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 % 251) })
        for level in Zstd.Level.allCases {
            let c = Zstd.compress(data, level: level.zstdLevel)
            #expect(c.prefix(4) == Data([0x28, 0xb5, 0x2f, 0xfd]))
            #expect(try Zstd.decompress(c, expectedSize: data.count) == data)
            #expect(try Zstd.decompressStream(c) == data)
            #expect(throws: FormatError.self) { try Zstd.decompress(c, expectedSize: data.count - 1) }
            #expect(throws: FormatError.self) { try Zstd.decompress(c, expectedSize: data.count + 1) }
        }
        let c = Zstd.compress(data, level: 3)
        #expect(throws: FormatError.self) { try Zstd.decompressStream(c.prefix(c.count / 2)) }
        #expect(throws: FormatError.self) { try Zstd.decompressStream(Data([1, 2, 3, 4, 5, 6])) }
        // Two concatenated frames decode as one stream.
        var two = Zstd.compress(Data("ab".utf8), level: 3)
        two.append(Zstd.compress(Data("cd".utf8), level: 3))
        #expect(try Zstd.decompressStream(two) == Data("abcd".utf8))
        #expect(try Zstd.decompress(two, expectedSize: 4) == Data("abcd".utf8))
    }

    @Test func unpackedFileVersions() throws {
        let json = Data("{\"a\":1}".utf8)
        #expect(UnpackedFile.encode(json: json, repositoryVersion: 1) == json)
        let v2 = UnpackedFile.encode(json: json, repositoryVersion: 2)
        #expect(v2.first == 2)
        #expect(try UnpackedFile.decode(v2, repositoryVersion: 2) == json)
        #expect(try UnpackedFile.decode(json, repositoryVersion: 2) == json)
        #expect(try UnpackedFile.decode(json, repositoryVersion: 1) == json)
        #expect(throws: FormatError.self) { try UnpackedFile.decode(Data([3, 1, 2]), repositoryVersion: 2) }
    }

    @Test func idParsing() {
        let id = ID.hash(Data("x".utf8))
        #expect(ID(hex: id.hex) == id)
        #expect(ID(hex: id.hex.uppercased()) == id)
        #expect(ID(hex: String(id.hex.dropLast())) == nil)
        #expect(ID(hex: String(repeating: "g", count: 64)) == nil)
        #expect(ID(bytes: id.bytes) == id)
        #expect(id.shortHex.count == 8)
        let a = ID(hex: "00" + String(repeating: "ff", count: 31))!
        let b = ID(hex: "01" + String(repeating: "00", count: 31))!
        #expect(a < b)
    }

    @Test func compressibilityProbe() {
        let compressor = Zstd.Compressor(level: 2)
        var x: UInt64 = 88172645463325252
        let random = (0..<(1 << 20)).map { _ -> UInt8 in
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
        let text = Array(String(repeating: "GET /api/v1/items 200 12ms\n", count: 40_000).utf8)
        let half = Array(random[0..<(1 << 19)]) + Array(text[0..<(1 << 19)])
        random.withUnsafeBytes { #expect(!compressor.looksCompressible($0)) }
        text.withUnsafeBytes { #expect(compressor.looksCompressible($0)) }
        half.withUnsafeBytes { #expect(compressor.looksCompressible($0)) }
        Array(random[0..<1000]).withUnsafeBytes { #expect(compressor.looksCompressible($0)) }  // small: always tried
        // The probe does not disturb the compressor's own settings.
        text.withUnsafeBytes { raw in
            compressor.compress(raw) { frame in
                #expect(frame.count < raw.count / 10)
                #expect((try? Zstd.decompress(Data(frame), expectedSize: raw.count)) == Data(raw))
            }
        }
    }
}
