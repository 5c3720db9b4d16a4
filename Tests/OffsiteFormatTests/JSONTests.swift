import Foundation
import OffsiteFormat
import Testing

/// docs/FORMAT.md §6: Go's JSON encoding, name quoting, times and the documents.
@Suite struct JSONTests {
    @Test(arguments: [
        ("plain.txt", "plain.txt"),
        ("we\"ird\\name", "we\\\"ird\\\\name"),
        ("new\nline", "new\\nline"),
        ("tab\tbell\u{07}", "tab\\tbell\\a"),
        ("ctl\u{01}del\u{7f}", "ctl\\x01del\\x7f"),
        ("héllo wörld ✓", "héllo wörld ✓"),
        ("nbsp\u{a0}", "nbsp\\u00a0"),
        ("ls\u{2028}", "ls\\u2028"),
        ("-leading dash", "-leading dash"),
    ])
    func goQuote(name: String, quoted: String) throws {
        #expect(String(decoding: GoQuote.quote(Array(name.utf8)), as: UTF8.self) == quoted)
        #expect(try GoQuote.unquote(Array(quoted.utf8)) == Array(name.utf8))
    }

    @Test func goQuoteInvalidUTF8() throws {
        let name: [UInt8] = [0x61, 0xff, 0x62, 0xc3]
        let quoted = GoQuote.quote(name)
        #expect(String(decoding: quoted, as: UTF8.self) == "a\\xffb\\xc3")
        #expect(try GoQuote.unquote(quoted) == name)
        #expect(try GoQuote.unquote(Array("\\101\\u00e9\\U0001F600".utf8)) == Array("Aé😀".utf8))
        #expect(throws: FormatError.self) { try GoQuote.unquote(Array("bad\\q".utf8)) }
        #expect(throws: FormatError.self) { try GoQuote.unquote(Array("bare\"quote".utf8)) }
    }

    @Test func goJSONStringEscaping() {
        var out: [UInt8] = []
        GoJSONWriter.appendString(Array("<a&b>\"\\\n\r\t\u{08}\u{0c}\u{1f}é\u{2029}".utf8) + [0xff], to: &out)
        #expect(
            String(decoding: out, as: UTF8.self)
                == #""\u003ca\u0026b\u003e\"\\\n\r\t\u0008\u000c\u001fé\u2029\ufffd""#)
    }

    @Test(arguments: [
        "2026-11-26T23:34:02.880311915Z", "2020-01-02T03:04:05.5+01:00", "2020-01-02T03:04:05Z",
        "1969-12-31T23:59:59.999999999-05:30", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.1Z",
    ])
    func timeRoundTrip(text: String) throws {
        let t = try #require(GoTime(rfc3339: text))
        #expect(t.rfc3339 == text)
    }

    @Test func timeParsing() throws {
        let t = try #require(GoTime(rfc3339: "2020-01-02T03:04:05.120+01:00"))
        #expect(t.seconds == 1577930645)
        #expect(t.nanoseconds == 120_000_000)
        #expect(t.utcOffset == 3600)
        #expect(t.rfc3339 == "2020-01-02T03:04:05.12+01:00")
        #expect(GoTime(rfc3339: "2020-01-02 03:04:05Z") == nil)
        #expect(GoTime(rfc3339: "2020-13-02T03:04:05Z") == nil)
        #expect(GoTime(rfc3339: "garbage") == nil)
    }

    @Test func fileModes() {
        #expect(GoFileMode.from(posix: 0o100644) == 420)
        #expect(GoFileMode.from(posix: 0o040755) == 2147484141)
        #expect(GoFileMode.from(posix: 0o120777) == 134218239)
        #expect(GoFileMode.from(posix: 0o010644) == 33554852)
        #expect(GoFileMode.from(posix: 0o104755) == GoFileMode.setuid | 0o755)
        #expect(GoFileMode.posixPermissions(GoFileMode.setuid | GoFileMode.sticky | 0o755) == 0o5755)
        #expect(GoFileMode.string(2147484141) == "drwxr-xr-x")
        #expect(GoFileMode.string(420) == "-rw-r--r--")
        #expect(GoFileMode.string(134218239) == "Lrwxrwxrwx")
    }

    @Test func emptyTreeIs13Bytes() throws {
        #expect(String(decoding: Tree().json, as: UTF8.self) == "{\"nodes\":[]}\n")
    }

    static let time = GoTime(rfc3339: "2024-05-06T07:08:09.123456789+02:00")!

    @Test func nodeEncodingMatchesRestic() throws {
        var file = Node(name: "we\"ird", type: .file)
        file.mode = 420
        file.mtime = Self.time; file.atime = Self.time; file.ctime = Self.time
        file.uid = 0; file.gid = 0; file.user = "root"; file.group = "root"
        file.inode = 12; file.deviceID = 34; file.links = 1
        file.content = []
        var link = Node(name: "l", type: .symlink)
        link.mode = 134218239
        link.mtime = Self.time; link.atime = Self.time; link.ctime = Self.time
        link.uid = 1000; link.gid = 1000; link.links = 1
        link.linkTarget = Array("../t<x>".utf8)
        var dir = Node(name: "d", type: .dir)
        dir.mode = 2147484141
        dir.mtime = Self.time; dir.atime = Self.time; dir.ctime = Self.time
        dir.subtree = ID(hex: String(repeating: "ab", count: 32))
        let tree = try Tree(nodes: [link, dir, file])
        let t = "2024-05-06T07:08:09.123456789+02:00"
        let expected =
            #"{"nodes":[{"name":"d","type":"dir","mode":2147484141,"mtime":"\#(t)","atime":"\#(t)","ctime":"\#(t)","uid":0,"gid":0,"content":null,"subtree":"\#(String(repeating: "ab", count: 32))"},{"name":"l","type":"symlink","mode":134218239,"mtime":"\#(t)","atime":"\#(t)","ctime":"\#(t)","uid":1000,"gid":1000,"links":1,"linktarget":"../t\u003cx\u003e","content":null},{"name":"we\\\"ird","type":"file","mode":420,"mtime":"\#(t)","atime":"\#(t)","ctime":"\#(t)","uid":0,"gid":0,"user":"root","group":"root","inode":12,"device_id":34,"links":1,"content":[]}]}"#
            + "\n"
        #expect(String(decoding: tree.json, as: UTF8.self) == expected)
        let decoded = try Tree(json: tree.json)
        #expect(decoded == tree)
        #expect(decoded.node(named: Array("we\"ird".utf8))?.content == [])
        #expect(decoded.node(named: Array("l".utf8))?.content == nil)
    }

    @Test func nonUTF8LinkTargetWritesRaw() throws {
        var link = Node(name: "l", type: .symlink)
        link.linkTarget = [0x61, 0xff]
        let json = String(decoding: try Tree(nodes: [link]).json, as: UTF8.self)
        #expect(json.contains(#""linktarget":"a\ufffd","linktarget_raw":"Yf8=""#))
        #expect(try Tree(json: Data(json.utf8)).nodes[0].linkTarget == [0x61, 0xff])
    }

    @Test func treeRejectsDuplicates() {
        #expect(throws: FormatError.self) { try Tree(nodes: [Node(name: "a", type: .file), Node(name: "a", type: .dir)]) }
    }

    @Test func snapshotJSON() throws {
        let tree = ID(hex: String(repeating: "0f", count: 32))!
        let s = Snapshot(
            time: Self.time, tree: tree, paths: ["/tmp/src"], hostname: "h1", username: "root",
            tags: ["t1"])
        let json = String(decoding: s.json, as: UTF8.self)
        #expect(
            json
                == #"{"time":"2024-05-06T07:08:09.123456789+02:00","tree":"\#(tree.hex)","paths":["/tmp/src"],"hostname":"h1","username":"root","tags":["t1"]}"#
        )
        #expect(try Snapshot(json: s.json) == s)
        #expect(throws: FormatError.self) { try Snapshot(json: Data("{\"time\":\"x\"}".utf8)) }
    }

    @Test func indexJSON() throws {
        let pack = ID(hex: String(repeating: "11", count: 32))!
        let b1 = ID(hex: String(repeating: "22", count: 32))!
        let b2 = ID(hex: String(repeating: "33", count: 32))!
        let index = IndexFile(packs: [
            .init(
                id: pack,
                blobs: [
                    PackBlob(type: .data, id: b1, offset: 0, length: 47, uncompressedLength: 6),
                    PackBlob(type: .tree, id: b2, offset: 47, length: 637),
                ])
        ])
        let json = String(decoding: index.json, as: UTF8.self)
        #expect(
            json
                == #"{"packs":[{"id":"\#(pack.hex)","blobs":[{"id":"\#(b1.hex)","type":"data","offset":0,"length":47,"uncompressed_length":6},{"id":"\#(b2.hex)","type":"tree","offset":47,"length":637}]}]}"#
                + "\n")
        #expect(try IndexFile(json: index.json) == index)
        // The old array format and `supersedes` are read too.
        let old = #"[{"id":"\#(pack.hex)","blobs":[{"id":"\#(b2.hex)","type":"tree","offset":47,"length":637}]}]"#
        #expect(try IndexFile(json: Data(old.utf8)).blobCount == 1)
        let sup = #"{"supersedes":["\#(b1.hex)"],"packs":[]}"#
        #expect(try IndexFile(json: Data(sup.utf8)).packs.isEmpty)
        #expect(throws: FormatError.self) { try IndexFile(json: Data("{\"packs\":[{\"id\":\"zz\"}]}".utf8)) }
    }

    @Test func treeDecodingToleratesWhatResticMayWrite() throws {
        let id = String(repeating: "0f", count: 32)
        let json =
            #"{"nodes":[{"name":"a\\\\b\\\"c\\n","type":"file","mode":420,"mtime":"2020-01-02T03:04:05.5+01:00","atime":"2020-01-02T03:04:05.5+01:00","ctime":"2020-01-02T03:04:05Z","uid":1000,"gid":100,"user":"u","size":3,"links":2,"extended_attributes":[{"name":"user.x","value":"AAH/"}],"generic_attributes":{"windows.creation_time":"abc"},"future_key":[1,{"x":null}],"content":["\#(id)"]},{"name":"d","type":"dir","mtime":"2020-01-02T03:04:05Z","atime":"2020-01-02T03:04:05Z","ctime":"2020-01-02T03:04:05Z","uid":0,"gid":0,"content":null,"subtree":"\#(id)"}],"unknown":true}"#
        let tree = try Tree(json: Data(json.utf8))
        #expect(tree.nodes.count == 2)
        let f = tree.nodes[0]
        #expect(f.name == Array("a\\b\"c\n".utf8))
        #expect(f.extendedAttributes == [Node.ExtendedAttribute(name: "user.x", value: [0, 1, 255])])
        #expect(f.content == [ID(hex: id)!] && f.size == 3 && f.links == 2 && f.mode == 420)
        #expect(f.mtime.nanoseconds == 500_000_000 && f.mtime.utcOffset == 3600)
        #expect(tree.nodes[1].content == nil && tree.nodes[1].subtree == ID(hex: id))
        #expect(throws: FormatError.self) { try Tree(json: Data(#"{"nodes":[{"type":"file"}]}"#.utf8)) }
        #expect(throws: FormatError.self) { try Tree(json: Data(#"{"nodes":[{"name":"x","type":"weird"}]}"#.utf8)) }
        #expect(throws: FormatError.self) { try Tree(json: Data(#"{"nodes":[{"name":"x","type":"file","mtime":"yesterday"}]}"#.utf8)) }
    }
}
