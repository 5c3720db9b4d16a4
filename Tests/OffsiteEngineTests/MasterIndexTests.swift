import OffsiteEngine
import OffsiteFormat
import Testing

@Suite struct MasterIndexTests {
    static func id(_ n: UInt8) -> ID { ID(bytes: [UInt8](repeating: n, count: 32))! }

    @Test func keepsEveryCopyOnce() {
        let index = MasterIndex()
        let blob = PackBlob(type: .data, id: Self.id(1), offset: 0, length: 100, uncompressedLength: 80)
        let file = IndexFile(packs: [.init(id: Self.id(10), blobs: [blob])])
        index.add(file, fromFile: Self.id(20))
        index.add(file, fromFile: Self.id(21))  // the same pack listed in a second index file
        #expect(index.locations(of: blob.handle).count == 1)
        var moved = blob
        moved.offset = 500
        index.add(pack: Self.id(11), blobs: [moved])
        let locs = index.locations(of: blob.handle)
        #expect(locs.map(\.packID) == [Self.id(10), Self.id(11)])
        #expect(locs[1].blob == moved)
        #expect(index.plaintextLength(of: blob.handle) == 80)
        #expect(index.has(blob.handle))
        #expect(!index.has(BlobHandle(id: Self.id(1), type: .tree)))
        #expect(index.packCount == 2 && index.blobCount == 1)
        #expect(index.loadedIndexFiles == [Self.id(20), Self.id(21)])
    }
}
