import Foundation
import OffsiteSync
import OffsiteTesting
import Testing

@testable import OffsiteEngine

/// The selection options one by one (sizes, exclude files, tag specs, devices, target lists).
extension SelectionTests {
    @Test(
        arguments: [
            ("1024", 1024), ("1k", 1024), ("1K", 1024), ("2m", 2 << 20), ("3G", 3 << 30), ("1t", 1 << 40), ("10b", 10),
            ("10B", 10), ("+5k", 5120), ("-1", -1), ("0", 0), ("007", 7),
        ] as [(String, Int64)])
    func sizeParsing(_ text: String, _ bytes: Int64) throws {
        #expect(try Selection.parseSize(text) == bytes)
    }

    @Test(arguments: ["", "k", "1.5k", "1 k", "abc", "1kb", "0x10", "1_000", "99999999999999999999", " 1", "+", "1e3"])
    func sizeParsingRejects(_ text: String) {
        #expect(throws: EngineError.self) { try Selection.parseSize(text) }
        #expect(throws: EngineError.self) { try Selection(excludeLargerThan: text.isEmpty ? "x" : text).makeFilter(targets: []) }
    }

    @Test(arguments: [
        ("$A/x", "aa/x"), ("${A}b", "aab"), ("$Ab", ""), ("$$", "$"), ("$$A", "$A"), ("a$", "a$"), ("${}x", "x"), ("${A", "A"),
        ("$.x", "$.x"), ("$1x", "onex"), ("${$}", "$"), ("$ x", "$ x"), ("$-y", "y"), ("\\$A", "\\aa"), ("${A_1}/z", "v/z"),
        ("/home/$USER_X/*", "/home//*"),
    ])
    func environmentExpansion(_ text: String, _ expanded: String) {
        let env = ["A": "aa", "1": "one", "A_1": "v"]
        #expect(String(decoding: Selection.expandEnvironment(Array(text.utf8), env), as: UTF8.self) == expanded)
    }

    @Test func excludeFilesAreTrimmedFilteredAndExpanded() async throws {
        try await withScratchDirectory { dir in
            let utf8 = "\u{FEFF}# comment\r\n\r\n  *.o  \r\n\\#hash\n\t$V/x\t\nspaced pattern \n   # indented comment\nlast"
            try Data(utf8.utf8).write(to: URL(fileURLWithPath: dir + "/ex1"))
            var utf16 = Data([0xFF, 0xFE])
            utf16.append("wide*\nsecond\n".data(using: .utf16LittleEndian)!)
            try utf16.write(to: URL(fileURLWithPath: dir + "/ex2"))
            let read = try Selection.readExcludeFiles(["ex1", dir + "/ex2"], workingDirectory: Array(dir.utf8), environment: ["V": "vv"])
            #expect(
                read.map { String(decoding: $0, as: UTF8.self) } == ["*.o", "\\#hash", "vv/x", "spaced pattern", "last", "wide*", "second"])
            // "\#hash" is a pattern for a literal "#hash".
            #expect(try Pattern("\\#hash").matches("/a/#hash"))
            #expect(throws: EngineError.self) { try Selection(excludeFiles: [dir + "/missing"]).makeFilter(targets: []) }
        }
    }

    @Test func invalidPatternsAreReportedPerOption() async throws {
        try await withScratchDirectory { dir in
            try Data("ok\nbad[\n".utf8).write(to: URL(fileURLWithPath: dir + "/ex"))
            let cases: [(Selection, String)] = [
                (Selection(excludes: ["fine", "x/[]"]), "--exclude:"), (Selection(insensitiveExcludes: ["[z-"]), "--iexclude:"),
                (Selection(excludeFiles: [dir + "/ex"]), "--exclude-file:"),
                (Selection(insensitiveExcludeFiles: [dir + "/ex"]), "--iexclude-file:"),
            ]
            for (selection, prefix) in cases {
                let error = #expect(throws: EngineError.self) { try selection.makeFilter(targets: []) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.message.hasPrefix(prefix) == true, "\(error?.message ?? "")")
            }
            let missing = #expect(throws: EngineError.self) { try Selection(excludeFiles: [dir + "/nope"]).makeFilter(targets: []) }
            #expect(missing?.code == .io)
        }
    }

    @Test func tagFileSpecs() throws {
        #expect(throws: EngineError.self) { try TagFileRule(spec: "") }
        #expect(throws: EngineError.self) { try TagFileRule(spec: ":header") }
        let rule = try TagFileRule(spec: "a:b:c")
        #expect(rule.name == Array("a".utf8) && rule.header == Array("b:c".utf8))
        let cache = try TagFileRule(spec: Selection.cacheDirTag)
        #expect(String(decoding: cache.name, as: UTF8.self) == "CACHEDIR.TAG")
    }

    @Test func deviceMapKeepsMountPointsButNotTheirContent() {
        let map = DeviceMap(devices: ["/a": 1, "/a/b/": 2])
        let parents: [String: UInt64] = ["/a": 1, "/a/m": 3, "/a/b": 2, "/a/b/q": 1]
        func excluded(_ path: String, dir: Bool, _ device: UInt64) -> Bool {
            map.excludes(FSPath(path), isDirectory: dir, device: device) { parents[$0.string] }
        }
        #expect(!excluded("/a/x", dir: false, 1))
        #expect(excluded("/a/x", dir: false, 3))
        #expect(!excluded("/a/m", dir: true, 3))  // mount point: parent /a is on the target's device
        #expect(excluded("/a/m/y", dir: true, 3))  // inside the mount
        #expect(excluded("/a/m/f", dir: false, 3))
        #expect(!excluded("/a/b/z", dir: false, 2))  // nearest target is /a/b (device 2)
        #expect(excluded("/a/b/z", dir: false, 1))
        #expect(!excluded("/a/b", dir: true, 2))
        #expect(excluded("/a/b/q/r", dir: true, 5))  // parent /a/b/q is itself on a foreign device
        #expect(excluded("/a/n", dir: true, 3) == false)
        #expect(map.excludes(FSPath("/a/p"), isDirectory: true, device: 9) { _ in nil })  // parent unreadable
        #expect(!excluded("/elsewhere", dir: false, 7))  // below no target: kept
        #expect(map.isAllowed(FSPath("/elsewhere"), device: 7) == nil)
    }

    @Test func filterResolvesRelativePathsAndSkipsTheCache() throws {
        let filter = try Selection(excludes: ["/work/src/skip", "*.tmp"], excludeLargerThan: "10", cacheDirectory: "/work/cache/")
            .makeFilter(targets: [], workingDirectory: "/work")
        #expect(filter.absolute(FSPath("src/../src/./a")).string == "/work/src/a")
        #expect(filter.excludedByName(FSPath("src/skip")))
        #expect(filter.excludedByName(FSPath("src/skip/below")))
        #expect(filter.excludedByName(FSPath("/elsewhere/x.tmp")))
        #expect(!filter.excludedByName(FSPath("src/keep")))
        #expect(filter.excludedByName(FSPath("cache")))
        #expect(filter.excludedByName(FSPath("/work/cache/x/y")))
        #expect(!filter.excludedByName(FSPath("/work/cache2")))
        #expect(!filter.excludedByStat(FSPath("a"), isDirectory: false, size: 10, device: 1))
        #expect(filter.excludedByStat(FSPath("a"), isDirectory: false, size: 11, device: 1))
        #expect(!filter.excludedByStat(FSPath("a"), isDirectory: true, size: 4096, device: 1))
    }

    @Test func targetsFromLists() async throws {
        try await withScratchDirectory { dir in
            let f = TreeFixture(root: dir)
            for name in ["a.txt", "b.txt", ".h.txt", " lead.txt", "d/x.txt", "d/y.md"] {
                if name.hasPrefix("d/") { try f.dir("d") }
                try f.file(name, [])
            }
            func write(_ name: String, _ text: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/" + name)) }
            try write("list", "  *.txt  \n#*.txt\n\nnomatch*\nd/*\n\\a.txt\r\n")
            try write("verbatim", " lead.txt\n\nmissing.txt\nb.txt\r\n")
            try write("raw", "a.txt\u{0}d/x.txt\u{0}")
            let warnings = Mutex<[String]>([])
            let targets = try Selection.targets(
                filesFrom: ["list"], filesFromVerbatim: ["verbatim"], filesFromRaw: [dir + "/raw"], arguments: ["d"],
                workingDirectory: dir, warn: { w in warnings.withLock { $0.append(w) } })
            // Glob results are sorted bytewise; `*` matches names starting with a space or a dot.
            #expect(
                targets == [
                    " lead.txt", ".h.txt", "a.txt", "b.txt", "d/x.txt", "d/y.md", "a.txt", " lead.txt", "b.txt", "a.txt", "d/x.txt", "d",
                ])
            #expect(
                warnings.withLock { $0 } == [
                    "pattern \"nomatch*\" does not match any files, skipping", "missing.txt does not exist, skipping",
                ])

            try write("bad", "ok\n[\n")
            #expect(throws: EngineError.self) { try Selection.targets(filesFrom: ["bad"], workingDirectory: dir) }
            try write("raw2", "a.txt")
            #expect(throws: EngineError.self) { try Selection.targets(filesFromRaw: ["raw2"], workingDirectory: dir) }
            try write("raw3", "a.txt\u{0}\u{0}")
            #expect(throws: EngineError.self) { try Selection.targets(filesFromRaw: ["raw3"], workingDirectory: dir) }
            #expect(throws: EngineError.self) { try Selection.targets(workingDirectory: dir) }
            #expect(throws: EngineError.self) { try Selection.targets(arguments: ["nope"], workingDirectory: dir) }
            let missingList = #expect(throws: EngineError.self) { try Selection.targets(filesFrom: ["absent"], workingDirectory: dir) }
            #expect(missingList?.code == .io)
        }
    }
}
