import Foundation
import OffsiteFormat
import Testing

@Suite struct JSONScannerTests {
    func parse(_ text: String) throws -> IndexFile { try IndexFile(json: Data(text.utf8)) }

    static let pack = String(repeating: "ab", count: 32)
    static let blob = String(repeating: "cd", count: 32)

    @Test func indexWithUnknownKeysWhitespaceAndAnyOrder() throws {
        let text = """
             { "supersedes" : [ "\(Self.blob)" ], "future": {"a": [1, -2.5e3, true, false, null, "x\\"y\\u00e9"]},
               "packs" : [ { "blobs" : [ { "length" : 47, "type" : "data", "offset" : 0,
               "uncompressed_length" : 6, "id" : "\(Self.blob)", "extra": null } ], "id" : "\(Self.pack)" } ] }
            """
        let index = try parse(text)
        #expect(index.packs.count == 1)
        #expect(index.packs[0].id.hex == Self.pack)
        #expect(index.packs[0].blobs == [PackBlob(type: .data, id: ID(hex: Self.blob)!, offset: 0, length: 47, uncompressedLength: 6)])
        #expect(try parse("{\"packs\":null}").packs.isEmpty)
        #expect(try parse("{}").packs.isEmpty)
    }

    /// Hostile nesting (the fuzzer's stack overflow, Fuzz/corpus/index/deep-nesting.json) is an
    /// error, not a crash; nesting restic could plausibly write still parses.
    @Test func deepNestingIsRejectedNotACrash() throws {
        func nested(_ levels: Int) -> String {
            "{\"future\":" + String(repeating: "[", count: levels) + String(repeating: "]", count: levels) + ",\"packs\":[]}"
        }
        #expect(try parse(nested(100)).packs.isEmpty)
        #expect(throws: FormatError.self) { try parse(nested(100_000)) }
        #expect(throws: FormatError.self) { try Tree(json: Data(("{\"nodes\":[" + String(repeating: "{\"a\":", count: 100_000)).utf8)) }
    }

    @Test(arguments: [
        "", "{", "{\"packs\":[}", "{\"packs\":[{\"id\":\"\(pack)\",\"blobs\":[{\"id\":\"\(blob)\",\"type\":\"other\"}]}]}",
        "{\"packs\":[{\"blobs\":[]}]}", "{\"packs\":[]} trailing",
        "{\"packs\":[{\"id\":\"\(pack)\",\"blobs\":[{\"id\":\"\(blob)\",\"type\":\"data\",\"offset\":1.5}]}]}",
        "{\"packs\":[{\"id\":\"\(pack)\",\"blobs\":[{\"id\":\"\(blob)\",\"type\":\"data\",\"offset\":99999999999}]}]}",
        // A sealed blob is at least its IV and MAC (32 bytes) and ends within 4 GiB: a hostile
        // index giving less would make plaintext lengths negative, or offsets wrap.
        "{\"packs\":[{\"id\":\"\(pack)\",\"blobs\":[{\"id\":\"\(blob)\",\"type\":\"data\",\"offset\":0,\"length\":31}]}]}",
        "{\"packs\":[{\"id\":\"\(pack)\",\"blobs\":[{\"id\":\"\(blob)\",\"type\":\"data\",\"offset\":4294967280,\"length\":32}]}]}",
        "{\"a\":\"unterminated}", "{\"a\":tru}", "{\"a\":\"bad \\q escape\"}",
    ])
    func malformedIndexesThrow(text: String) {
        #expect(throws: FormatError.self) { try parse(text) }
    }

    @Test func scannerStrings() throws {
        let json = Array(#"["plain","esc\"\\\/\b\f\n\r\t","\u00e9\ud83d\ude00"]"#.utf8)
        var out: [[UInt8]] = []
        try json.withUnsafeBytes { raw in
            var s = JSONScanner(raw)
            try s.array { out.append(try $0.string()) }
            try s.expectEnd()
        }
        #expect(out == [Array("plain".utf8), Array("esc\"\\/\u{8}\u{c}\n\r\t".utf8), Array("é😀".utf8)])
    }

    @Test func matchesTheWriter() throws {
        var packs: [IndexFile.PackEntry] = []
        for p in 0..<20 {
            var blobs: [PackBlob] = []
            for b in 0..<50 {
                let id = ID.hash(Data("\(p)-\(b)".utf8))
                blobs.append(
                    PackBlob(
                        type: b % 3 == 0 ? .tree : .data, id: id, offset: UInt32(b * 100), length: 100,
                        uncompressedLength: b % 2 == 0 ? 0 : UInt32(b * 7 + 1)))
            }
            packs.append(.init(id: ID.hash(Data("pack \(p)".utf8)), blobs: blobs))
        }
        let index = IndexFile(packs: packs)
        #expect(try IndexFile(json: index.json) == index)
    }
}
