import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Selection {
    /// restic 0.14's `collectTargets`: the backup targets from `--files-from`,
    /// `--files-from-verbatim`, `--files-from-raw` and the command-line `arguments`, in that order.
    ///
    /// - `filesFrom`: text files (BOM handled like exclude files), one entry per line; each line
    ///   is trimmed of white space, empty lines and lines starting with `#` are skipped, and each
    ///   entry is expanded as a Go `filepath.Glob` pattern (sorted matches; a pattern without
    ///   matches is skipped with a warning; `*` also matches names starting with a dot).
    /// - `filesFromVerbatim`: one path per line, taken as is (a trailing `\r` is dropped); only
    ///   empty lines are skipped.
    /// - `filesFromRaw`: paths each terminated by a NUL byte.
    /// - A file name `-` reads standard input; an empty file name in the text lists is ignored.
    ///
    /// Targets that do not exist are dropped with a warning "`X` does not exist, skipping".
    /// Relative file names, patterns and targets are resolved against `workingDirectory` (nil:
    /// the process's) for I/O but returned as written. Names that are not valid UTF-8 cannot be represented in the
    /// returned strings.
    ///
    /// - Throws: `.io` when a list file cannot be read; `.invalidArgument` for a malformed glob
    ///   pattern, a raw list with an empty name or without its final NUL, no targets at all, or
    ///   when none of them exists.
    public static func targets(
        filesFrom: [String] = [], filesFromVerbatim: [String] = [], filesFromRaw: [String] = [],
        arguments: [String] = [], workingDirectory: String? = nil, warn: (String) -> Void = { _ in }
    ) throws -> [String] {
        let cwd = Array((workingDirectory ?? SystemInfo.workingDirectory).utf8)
        var targets: [[UInt8]] = []
        for file in filesFrom {
            for line in try readLines(file, flag: "--files-from", cwd: cwd) {
                let entry = Array(GoFilepath.trimSpace(line[...]))
                if entry.isEmpty || entry.first == UInt8(ascii: "#") { continue }
                let shown = String(decoding: entry, as: UTF8.self)
                let expanded: [[UInt8]]
                do { expanded = try glob(entry, cwd: cwd) } catch {
                    throw EngineError(
                        .invalidArgument,
                        "--files-from \(file): pattern \(shown): syntax error in pattern (check [...] classes and backslashes)")
                }
                if expanded.isEmpty { warn("pattern \"\(shown)\" does not match any files, skipping") }
                targets += expanded
            }
        }
        for file in filesFromVerbatim {
            targets += try readLines(file, flag: "--files-from-verbatim", cwd: cwd).filter { !$0.isEmpty }
        }
        for file in filesFromRaw {
            let data = try readFile(file, flag: "--files-from-raw", cwd: cwd, decodeText: false)
            var rest = data[...]
            while !rest.isEmpty {
                guard let nul = rest.firstIndex(of: 0) else {
                    throw EngineError(.invalidArgument, "--files-from-raw \(file): the last name is not terminated by a NUL byte")
                }
                if nul == rest.startIndex {
                    throw EngineError(.invalidArgument, "--files-from-raw \(file): empty file name in the listing")
                }
                targets.append(Array(rest[..<nul]))
                rest = rest[(nul + 1)...]
            }
        }
        targets += arguments.map { Array($0.utf8) }
        if targets.isEmpty {
            throw EngineError(.invalidArgument, "nothing to backup, please specify target files/dirs")
        }
        var existing: [String] = []
        for target in targets {
            let shown = String(decoding: target, as: UTF8.self)
            if lstatErrno(resolve(target, cwd)) == ENOENT {
                warn("\(shown) does not exist, skipping")
            } else {
                existing.append(shown)
            }
        }
        if existing.isEmpty { throw EngineError(.invalidArgument, "all target directories/files do not exist") }
        return existing
    }

    /// restic's `readExcludePatternsFromFiles`: trimmed lines, no empty or `#` lines, env expanded.
    static func readExcludeFiles(_ files: [String], workingDirectory cwd: [UInt8], environment: [String: String]) throws -> [[UInt8]] {
        var patterns: [[UInt8]] = []
        for file in files {
            let data = try readFile(file, flag: "--exclude-file", cwd: cwd, decodeText: true)
            for line in lines(data) {
                let text = GoFilepath.trimSpace(line[...])
                if text.isEmpty || text.first == UInt8(ascii: "#") { continue }
                patterns.append(expandEnvironment(Array(text), environment))
            }
        }
        return patterns
    }

    /// Go's `os.Expand` with restic's mapping: `$NAME` / `${NAME}` become the variable's value
    /// (empty when unset), `$$` a single `$`; `$` followed by nothing name-like stays literal;
    /// `${}` and an unclosed `${` are dropped.
    static func expandEnvironment(_ s: [UInt8], _ environment: [String: String]) -> [UInt8] {
        func isSpecial(_ c: UInt8) -> Bool { "*#$@!?-0123456789".utf8.contains(c) }
        func isNameByte(_ c: UInt8) -> Bool {
            c == UInt8(ascii: "_") || (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
        }
        func value(_ name: ArraySlice<UInt8>) -> [UInt8] {
            if name.elementsEqual([UInt8(ascii: "$")]) { return [UInt8(ascii: "$")] }
            return Array((environment[String(decoding: name, as: UTF8.self)] ?? "").utf8)
        }
        var out: [UInt8] = []
        var j = 0
        while j < s.count {
            guard s[j] == UInt8(ascii: "$"), j + 1 < s.count else {
                out.append(s[j])
                j += 1
                continue
            }
            let start = j + 1
            var name: ArraySlice<UInt8> = []
            var width = 0
            if s[start] == UInt8(ascii: "{") {
                if s.count - start > 2 && isSpecial(s[start + 1]) && s[start + 2] == UInt8(ascii: "}") {
                    name = s[(start + 1)...(start + 1)]
                    width = 3
                } else if let close = s[(start + 1)...].firstIndex(of: UInt8(ascii: "}")) {
                    name = s[(start + 1)..<close]
                    width = close - start + 1
                } else {
                    width = 1
                }
            } else if isSpecial(s[start]) {
                name = s[start...start]
                width = 1
            } else {
                let end = s[start...].firstIndex { !isNameByte($0) } ?? s.endIndex
                name = s[start..<end]
                width = end - start
            }
            if !name.isEmpty {
                out += value(name)
            } else if width == 0 {
                out.append(UInt8(ascii: "$"))
            }
            j += 1 + width
        }
        return out
    }

    // MARK: Reading list files

    static func resolve(_ path: [UInt8], _ cwd: [UInt8]) -> [UInt8] {
        path.first == GoFilepath.slash ? path : cwd + [GoFilepath.slash] + path
    }

    static func lstatErrno(_ path: [UInt8]) -> Int32 {
        var st = stat()
        return lstat(path.map { CChar(bitPattern: $0) } + [0], &st) == 0 ? 0 : errno
    }

    /// Reads a list file (`-` is standard input, read as is). Text files lose a UTF-8 BOM and
    /// UTF-16 files (with a BOM) are converted to UTF-8, as restic's `textfile.Read` does.
    static func readFile(_ name: String, flag: String, cwd: [UInt8], decodeText: Bool) throws -> [UInt8] {
        if name == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
        let path = String(decoding: resolve(Array(name.utf8), cwd), as: UTF8.self)
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = lstatErrno(Array(path.utf8)) == 0 ? "it is not a readable file" : String(cString: strerror(errno))
            throw EngineError(.io, "\(flag): cannot read \(name): \(reason)")
        }
        let bytes = Array(data)
        guard decodeText else { return bytes }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { return Array(bytes.dropFirst(3)) }
        let bigEndian = bytes.starts(with: [0xFE, 0xFF])
        guard bigEndian || bytes.starts(with: [0xFF, 0xFE]) else { return bytes }
        var units: [UInt16] = []
        var i = 2
        while i + 1 < bytes.count {
            units.append(bigEndian ? UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]) : UInt16(bytes[i + 1]) << 8 | UInt16(bytes[i]))
            i += 2
        }
        var text = String(decoding: units, as: UTF16.self)
        if i < bytes.count { text += "\u{FFFD}" }
        return Array(text.utf8)
    }

    /// Lines as Go's `bufio.ScanLines` yields them: split at `\n`, one trailing `\r` dropped,
    /// and a final line without a newline kept when it is not empty.
    static func lines(_ data: [UInt8]) -> [[UInt8]] {
        var parts = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        if parts.last?.isEmpty == true { parts.removeLast() }
        return parts.map { $0.last == UInt8(ascii: "\r") ? Array($0.dropLast()) : $0 }
    }

    static func readLines(_ name: String, flag: String, cwd: [UInt8]) throws -> [[UInt8]] {
        if name.isEmpty { return [] }
        return lines(try readFile(name, flag: flag, cwd: cwd, decodeText: name != "-"))
    }

    // MARK: filepath.Glob

    /// Go's `filepath.Glob`: the existing paths matching `pattern`, sorted per directory.
    /// File-system errors are ignored; only a malformed pattern throws.
    static func glob(_ pattern: [UInt8], cwd: [UInt8]) throws(GoFilepath.BadPattern) -> [[UInt8]] {
        _ = try GoFilepath.match(pattern[...], [])
        if !GoFilepath.hasMeta(pattern) {
            return lstatErrno(resolve(pattern, cwd)) == 0 ? [pattern] : []
        }
        var (dir, file) = GoFilepath.split(pattern)
        if dir.isEmpty {
            dir = [UInt8(ascii: ".")]
        } else if dir != [GoFilepath.slash] {
            dir.removeLast()
        }
        if !GoFilepath.hasMeta(dir) { return try globDirectory(dir, file, cwd: cwd) }
        if dir == pattern { throw GoFilepath.BadPattern() }
        var matches: [[UInt8]] = []
        for parent in try glob(dir, cwd: cwd) { matches += try globDirectory(parent, file, cwd: cwd) }
        return matches
    }

    private static func globDirectory(_ dir: [UInt8], _ pattern: [UInt8], cwd: [UInt8]) throws(GoFilepath.BadPattern) -> [[UInt8]] {
        var st = stat()
        let path = resolve(dir, cwd)
        guard fstatat(AT_FDCWD, path.map { CChar(bitPattern: $0) } + [0], &st, 0) == 0, st.st_mode & S_IFMT == S_IFDIR,
            let names = try? FileSystem.readDirectory(FSPath(bytes: path))
        else { return [] }
        var matches: [[UInt8]] = []
        for name in names.sorted(by: { $0.lexicographicallyPrecedes($1) }) where try GoFilepath.match(pattern[...], name[...]) {
            matches.append(GoFilepath.join(dir, name))
        }
        return matches
    }
}
