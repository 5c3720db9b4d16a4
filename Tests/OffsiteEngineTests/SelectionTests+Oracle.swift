import Foundation
import OffsiteSync
import OffsiteTesting
import Testing

@testable import OffsiteEngine

#if canImport(Glibc)
import Glibc
#endif

/// The selection compared with restic 0.14 itself: restic backs up a tree with some options, and
/// walking the same tree with a `SelectionFilter` built from the same options must select exactly
/// the paths restic stored (and warn about the same tag files).
extension SelectionTests {
    enum OracleCase: String, CaseIterable, Sendable {
        case patterns, insensitive, excludeFiles, tagFiles, sizes, sizeInBytes, relativeTarget, combined
    }

    struct OracleSetup {
        var args: [String]
        var selection: Selection
        var target: String
        var environment: [String: String] = [:]
    }

    static func buildOracleTree(_ root: String) throws {
        let f = TreeFixture(root: root)
        for d in [
            "", "build", "logs/sub", "docs", "cache/sub", "badcache", "shortcache", "emptytag", "nobackup/sub", "marker", "markershort",
            "markerbad", "markerdir/.marker", "sizes/sub", "deep/a/b/c", "deep/a/tmp", "deep/tmp", "cache2/x/y/tmp", "Mixed/CASE",
            "unicode",
            "empty-dir",
        ] { try f.dir(d) }
        let small = [
            "a.txt", "b.log", "c.LOG", "Photo.JPG", "photo.jpg", "pic.Jpeg", "build/out.o", "build/keep.txt", "logs/x.log",
            "logs/keep.log", "logs/sub/y.log", "logs/notes.txt", "docs/readme.md", "docs/notes.txt", "docs/[brackets].txt",
            "docs/star*name.txt", "docs/#hash", "docs/$dollar.txt", "docs/space name.txt", "docs/q1.txt", "docs/q12.txt",
            "cache/data.bin", "cache/sub/more.bin", "badcache/data.bin", "shortcache/data.bin", "emptytag/data.bin",
            "nobackup/.nobackup", "nobackup/secret.txt", "nobackup/sub/deep.txt", "marker/file.txt", "markershort/file.txt",
            "markerbad/file.txt", "markerdir/file.txt", "deep/a/b/c/target.tmp", "deep/a/tmp/x", "deep/tmp/y", "cache2/x/y/tmp/z",
            "Mixed/CASE/File.TXT", "Mixed/other.txt", "unicode/Äpfel.txt", "unicode/İstanbul.txt", "unicode/ÖL.txt",
        ]
        for name in small { try f.file(name, Array(name.utf8)) }
        try f.file("cache/CACHEDIR.TAG", Array("Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n".utf8))
        try f.file("badcache/CACHEDIR.TAG", Array("Signature: 00000000000000000000000000000000\n".utf8))
        try f.file("shortcache/CACHEDIR.TAG", Array("Signature".utf8))
        try f.file("emptytag/CACHEDIR.TAG", [])
        try f.file("marker/.marker", Array("HEADER and more".utf8))
        try f.file("markershort/.marker", Array("HEAD".utf8))
        try f.file("markerbad/.marker", Array("OTHERS!".utf8))
        for (name, size) in [("f1023", 1023), ("f1024", 1024), ("f1025", 1025), ("big", 3000), ("sub/inner", 2000)] {
            try f.file("sizes/" + name, TreeFixture.randomBytes(size, seed: UInt64(size)))
        }
        try f.symlink("sizes/link-short", to: "x")
        try f.symlink("sizes/link-long", to: String(repeating: "d/", count: 600))
    }

    static func setup(_ c: OracleCase, _ dir: String) throws -> OracleSetup {
        let src = dir + "/src"
        func write(_ name: String, _ data: Data) throws { try data.write(to: URL(fileURLWithPath: dir + "/" + name)) }
        switch c {
        case .patterns:
            let excludes = [
                "*.log", "logs/*", "!logs/keep.log", src + "/build", "deep/**/tmp", "docs/\\[brackets\\].txt", "docs/star\\*name.txt",
                "q?.txt", "/*/nonexistent/**", "[A-Z]*.JPG", "Mixed/*/",
            ]
            return OracleSetup(args: excludes.flatMap { ["--exclude", $0] }, selection: Selection(excludes: excludes), target: src)
        case .insensitive:
            try write("iex", Data("ö*\n# DOCS\nDOCS/README.MD\n".utf8))
            let iexcludes = ["*.jpg", "mixed/case", "istanbul.txt", "äPFEL.TXT", "B.LOG"]
            return OracleSetup(
                args: iexcludes.flatMap { ["--iexclude", $0] } + ["--iexclude-file", dir + "/iex", "--exclude", "*.LOG"],
                selection: Selection(excludes: ["*.LOG"], insensitiveExcludes: iexcludes, insensitiveExcludeFiles: [dir + "/iex"]),
                target: src)
        case .excludeFiles:
            let text =
                "\u{FEFF}# comment\r\n\r\n  *.o  \r\n\\#hash\r\n$SEL_DIR/readme.md\r\n${SEL_DIR}/notes.txt\r\n$$dollar.txt\r\n"
                + "space name.txt\r\nlogs\r\n!logs/keep.log\r\n"
            try write("ex1", Data(text.utf8))
            var wide = Data([0xFF, 0xFE])
            wide.append("sizes/big\n".data(using: .utf16LittleEndian)!)
            try write("ex2", wide)
            return OracleSetup(
                args: ["--exclude-file", dir + "/ex1", "--exclude-file", dir + "/ex2"],
                selection: Selection(excludeFiles: [dir + "/ex1", dir + "/ex2"]), target: src, environment: ["SEL_DIR": "docs"])
        case .tagFiles:
            return OracleSetup(
                args: ["--exclude-caches", "--exclude-if-present", ".nobackup", "--exclude-if-present", ".marker:HEADER"],
                selection: Selection(excludeCaches: true, excludeIfPresent: [".nobackup", ".marker:HEADER"]), target: src)
        case .sizes:
            return OracleSetup(args: ["--exclude-larger-than", "1k"], selection: Selection(excludeLargerThan: "1k"), target: src)
        case .sizeInBytes:
            return OracleSetup(args: ["--exclude-larger-than", "1025B"], selection: Selection(excludeLargerThan: "1025B"), target: src)
        case .relativeTarget:
            let excludes = [src + "/docs", "src/a.txt", "/src/logs"]
            return OracleSetup(args: excludes.flatMap { ["--exclude", $0] }, selection: Selection(excludes: excludes), target: "src")
        case .combined:
            return OracleSetup(
                args: [
                    "--exclude", "*.o", "--iexclude", "*.JPG", "--exclude-caches", "--exclude-if-present", ".nobackup",
                    "--exclude-larger-than", "2k", "--exclude", "deep", "--one-file-system",
                ],
                selection: Selection(
                    excludes: ["*.o", "deep"], insensitiveExcludes: ["*.JPG"], excludeCaches: true, excludeIfPresent: [".nobackup"],
                    excludeLargerThan: "2k", oneFileSystem: true),
                target: src)
        }
    }

    /// Runs restic with `RESTIC_PASSWORD` and `extra` in its environment.
    static func restic(_ args: [String], repo: String, cwd: String, extra: [String: String] = [:]) async throws -> ProcessRunner.Result {
        var env: [String: String?] = ["RESTIC_PASSWORD": "pw", "TZ": "UTC", "RESTIC_REPOSITORY": nil, "RESTIC_PASSWORD_FILE": nil]
        for (k, v) in extra { env[k] = v }
        return try await ProcessRunner.run(try Restic.path(), ["-r", repo, "--no-cache"] + args, environment: env, currentDirectory: cwd)
    }

    /// Backs `target` up with restic and returns the absolute paths it stored at or below the
    /// target, and restic's standard error.
    static func resticSelection(
        args: [String], target: String, cwd: String, extra: [String: String] = [:]
    ) async throws -> (Set<String>, String) {
        let repo = cwd + "/repo-\(UUID().uuidString.prefix(8))"
        let initResult = try await restic(["init"], repo: repo, cwd: cwd)
        #expect(initResult.status == 0, "\(initResult.stderr)")
        let backup = try await restic(["backup", "--host", "oracle"] + args + [target], repo: repo, cwd: cwd, extra: extra)
        #expect(backup.status == 0, "\(backup.stderr)")
        let ls = try await restic(["ls", "latest", "--json"], repo: repo, cwd: cwd)
        #expect(ls.status == 0, "\(ls.stderr)")
        let absTarget = PathName.absolute(target, cwd: cwd)
        var stored = Set<String>()
        for line in ls.stdoutString.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard object?["struct_type"] as? String == "node", let path = object?["path"] as? String else { continue }
            // A relative target keeps its relative shape in the snapshot ("/src/…").
            let abs = target.hasPrefix("/") ? path : cwd + path
            if abs == absTarget || abs.hasPrefix(absTarget + "/") { stored.insert(abs) }
        }
        return (stored, backup.stderr)
    }

    /// Walks `target` the way restic's archiver does: name check, lstat, stat check; excluded
    /// directories are not entered; sockets and unreadable items are skipped.
    static func walk(_ target: String, _ filter: SelectionFilter?) -> Set<String> {
        var selected = Set<String>()
        func visit(_ path: FSPath) {
            if let filter, filter.excludedByName(path) { return }
            let abs = filter?.absolute(path) ?? path
            guard let st = try? FileSystem.lstat(abs) else { return }
            if let filter, filter.excludedByStat(path, stat: st) { return }
            if st.fileType == UInt32(S_IFSOCK) { return }
            if st.isDirectory {
                guard let names = try? FileSystem.readDirectory(abs) else { return }
                for name in names { visit(path.appending(name)) }
            }
            selected.insert(abs.string)
        }
        visit(FSPath(target))
        return selected
    }

    @Test(arguments: OracleCase.allCases)
    func selectsWhatResticSelects(_ c: OracleCase) async throws {
        try await withScratchDirectory { dir in
            try Self.buildOracleTree(dir + "/src")
            let s = try Self.setup(c, dir)
            let (stored, stderr) = try await Self.resticSelection(args: s.args, target: s.target, cwd: dir, extra: s.environment)
            let warnings = Mutex<[String]>([])
            let filter = try s.selection.makeFilter(
                targets: [s.target], workingDirectory: dir, environment: s.environment,
                warn: { w in warnings.withLock { $0.append(w) } })
            let selected = Self.walk(s.target, filter)
            #expect(
                selected == stored,
                "only offsite: \(selected.subtracting(stored).sorted()), only restic: \(stored.subtracting(selected).sorted())")
            // The options really excluded something, and not everything.
            let everything = Self.walk(dir + "/src", nil)
            #expect(stored.count > 10 && stored.count < everything.count)
            let resticWarnings = stderr.split(separator: "\n").filter { $0.contains("exclusion tagfile") }.map { $0.lowercased() }
            #expect(Set(warnings.withLock { $0 }.map { $0.lowercased() }) == Set(resticWarnings))
            if c == .tagFiles { #expect(resticWarnings.count == 6) }
        }
    }

    @Test func oneFileSystemMatchesRestic() async throws {
        // Mount points directly below /dev (/dev/pts, /dev/shm, …) exercise restic's rule:
        // a mount point directory is kept, its content is not.
        let mountInfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        let mounts = Set(mountInfo.split(separator: "\n").map { String($0.split(separator: " ")[4]) })
        let devMounts = mounts.filter { $0.hasPrefix("/dev/") && !$0.dropFirst(5).contains("/") }
        #expect(!devMounts.isEmpty, "this test needs a file system mounted directly below /dev, such as /dev/pts")
        try await withScratchDirectory { dir in
            let (stored, _) = try await Self.resticSelection(args: ["--one-file-system"], target: "/dev", cwd: dir)
            let filter = try Selection(oneFileSystem: true).makeFilter(targets: ["/dev"], workingDirectory: dir)
            let selected = Self.walk("/dev", filter)
            #expect(
                selected == stored,
                "only offsite: \(selected.subtracting(stored).sorted()), only restic: \(stored.subtracting(selected).sorted())")
            for mount in devMounts {
                #expect(stored.contains(mount))
                #expect(!stored.contains { $0.hasPrefix(mount + "/") })
            }
        }
    }

    @Test func targetListsMatchRestic() async throws {
        try await withScratchDirectory { dir in
            try Self.buildOracleTree(dir + "/src")
            func write(_ name: String, _ text: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/" + name)) }
            try write("list", "src/*.txt\r\n  src/d*  \n# src/logs\nsrc/nomatch*\n\n\\src/Mixed\n")
            try write("verbatim", "src/logs\n\nsrc/missing\n")
            try write("raw", "src/cache\u{0}src/unicode/İstanbul.txt\u{0}")
            let args = ["--files-from", "list", "--files-from-verbatim", "verbatim", "--files-from-raw", "raw"]
            let repo = dir + "/repo"
            await #expect(try Self.restic(["init"], repo: repo, cwd: dir).status == 0)
            let backup = try await Self.restic(["backup", "--host", "oracle"] + args + ["src/sizes"], repo: repo, cwd: dir)
            #expect(backup.status == 0, "\(backup.stderr)")
            let snapshots = try await Self.restic(["snapshots", "latest", "--json"], repo: repo, cwd: dir)
            let list = try JSONSerialization.jsonObject(with: snapshots.stdout) as? [[String: Any]]
            let resticPaths = Set(list?.first?["paths"] as? [String] ?? [])

            let warnings = Mutex<[String]>([])
            let targets = try Selection.targets(
                filesFrom: ["list"], filesFromVerbatim: ["verbatim"], filesFromRaw: ["raw"], arguments: ["src/sizes"],
                workingDirectory: dir, warn: { w in warnings.withLock { $0.append(w) } })
            #expect(Set(targets.map { PathName.absolute($0, cwd: dir) }) == resticPaths)
            #expect(resticPaths.count == 8)
            for warning in warnings.withLock({ $0 }) { #expect(backup.stderr.contains(warning)) }
            #expect(warnings.withLock { $0.count } == 2)
        }
    }
}
