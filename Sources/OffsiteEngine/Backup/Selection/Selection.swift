import Foundation

/// restic 0.14's backup selection options (`restic backup --exclude …`), as plain values.
/// Building it does no I/O; `makeFilter(targets:)` reads the exclude files, checks every
/// option and returns the `SelectionFilter` the backup walker asks about each item.
public struct Selection: Sendable, Equatable {
    /// `--exclude`: patterns (see `Pattern`). These, and only these, go into the snapshot's
    /// `excludes` field (restic does not record patterns read from files or `--iexclude`).
    public var excludes: [String]
    /// `--iexclude`: like `excludes`, but pattern and path are both lowercased.
    public var insensitiveExcludes: [String]
    /// `--exclude-file`: files of patterns, one per line (see `makeFilter`).
    public var excludeFiles: [String]
    /// `--iexclude-file`: files of case-insensitive patterns.
    public var insensitiveExcludeFiles: [String]
    /// `--exclude-caches`: same as `excludeIfPresent` `CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55`.
    public var excludeCaches: Bool
    /// `--exclude-if-present filename[:header]`: exclude the contents (not the directory itself,
    /// nor the tag file) of directories that hold a file `filename` starting with `header`.
    public var excludeIfPresent: [String]
    /// `--exclude-larger-than`: exclude non-directories whose lstat size is larger. A whole number
    /// with an optional suffix b/B (bytes), k/K, m/M, g/G, t/T (powers of 1024). nil or "" is off.
    public var excludeLargerThan: String?
    /// `--one-file-system` / `-x`: exclude items on another device than the target they are below;
    /// a directory that is itself a mount point is kept (empty).
    public var oneFileSystem: Bool
    /// restic never backs up its own cache: everything at or below this directory is excluded.
    public var cacheDirectory: String?

    /// The tag file `--exclude-caches` looks for (https://bford.info/cachedir/).
    public static let cacheDirTag = "CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55"

    public init(
        excludes: [String] = [], insensitiveExcludes: [String] = [], excludeFiles: [String] = [],
        insensitiveExcludeFiles: [String] = [], excludeCaches: Bool = false, excludeIfPresent: [String] = [],
        excludeLargerThan: String? = nil, oneFileSystem: Bool = false, cacheDirectory: String? = nil
    ) {
        self.excludes = excludes
        self.insensitiveExcludes = insensitiveExcludes
        self.excludeFiles = excludeFiles
        self.insensitiveExcludeFiles = insensitiveExcludeFiles
        self.excludeCaches = excludeCaches
        self.excludeIfPresent = excludeIfPresent
        self.excludeLargerThan = excludeLargerThan
        self.oneFileSystem = oneFileSystem
        self.cacheDirectory = cacheDirectory
    }

    /// Reads and checks everything, in restic's order, and returns the filter.
    ///
    /// Exclude files are read as restic does: a UTF-8 BOM is dropped and UTF-16 with a BOM is
    /// converted; each line is trimmed of white space at both ends (so a pattern cannot end in a
    /// space: use `*` or `?`); empty lines and lines starting with `#` are skipped (`\#` is a
    /// pattern that matches a literal `#`); then `$NAME`, `${NAME}` and `$$` (a literal `$`) are
    /// expanded from `environment`, unset variables becoming empty. `--exclude` arguments are
    /// taken as given (the shell expands them).
    ///
    /// - Parameters:
    ///   - targets: the backup targets as the user gave them (used for `oneFileSystem` only);
    ///     they must exist.
    ///   - workingDirectory: resolves relative targets, exclude files, and relative paths passed
    ///     to the filter (nil: the process's).
    ///   - environment: for `$VAR` in exclude files (nil: the process's).
    ///   - warn: receives restic's warnings (unreadable or malformed tag files, patterns found
    ///     malformed while matching); each is a complete sentence without a newline.
    /// - Throws: `.io` when an exclude file or a target cannot be read; `.invalidArgument` for
    ///   malformed patterns, `excludeIfPresent` specs or sizes.
    public func makeFilter(
        targets: [String], workingDirectory: String? = nil, environment: [String: String]? = nil,
        warn: @escaping @Sendable (String) -> Void = { _ in }
    ) throws -> SelectionFilter {
        let workingDirectory = workingDirectory ?? SystemInfo.workingDirectory
        let environment = environment ?? ProcessInfo.processInfo.environment
        let cwd = Array(workingDirectory.utf8)
        var excludes = self.excludes.map { Array($0.utf8) }
        var insensitive = self.insensitiveExcludes.map { Array($0.utf8) }
        if !excludeFiles.isEmpty {
            let read = try Self.readExcludeFiles(excludeFiles, workingDirectory: cwd, environment: environment)
            try Self.check(PatternList(bytes: read), flag: "--exclude-file")
            excludes += read
        }
        if !insensitiveExcludeFiles.isEmpty {
            let read = try Self.readExcludeFiles(insensitiveExcludeFiles, workingDirectory: cwd, environment: environment)
            try Self.check(PatternList(bytes: read), flag: "--iexclude-file")
            insensitive += read
        }
        var lists: [PatternList] = []
        if !insensitive.isEmpty {
            let list = PatternList(bytes: insensitive, caseInsensitive: true)
            try Self.check(list, flag: "--iexclude")
            lists.append(list)
        }
        if !excludes.isEmpty {
            let list = PatternList(bytes: excludes)
            try Self.check(list, flag: "--exclude")
            lists.append(list)
        }
        let tagRules = try (excludeIfPresent + (excludeCaches ? [Self.cacheDirTag] : [])).map(TagFileRule.init(spec:))
        let devices = oneFileSystem ? try DeviceMap(targets: targets, workingDirectory: workingDirectory) : nil
        var maxSize: Int64?
        if let size = excludeLargerThan, !size.isEmpty { maxSize = try Self.parseSize(size) }
        return SelectionFilter(
            workingDirectory: cwd, cacheDirectory: cacheDirectory.map { GoFilepath.clean(Array($0.utf8)[...]) },
            lists: lists, tagRules: tagRules, devices: devices, maxSize: maxSize, warn: warn)
    }

    static func check(_ list: PatternList, flag: String) throws {
        let invalid = list.invalidPatterns
        guard invalid.isEmpty else {
            throw EngineError(
                .invalidArgument,
                "\(flag): invalid pattern(s) provided (check for an unclosed or empty [...] class or a trailing backslash):\n"
                    + invalid.joined(separator: "\n"))
        }
    }

    /// restic's `parseSizeStr`: a base-10 integer (optional sign) with an optional unit suffix
    /// b/B, k/K, m/M, g/G, t/T (powers of 1024). Overflow of the product wraps, as in Go.
    public static func parseSize(_ text: String) throws -> Int64 {
        let bad = EngineError(
            .invalidArgument,
            "invalid size \"\(text)\" for --exclude-larger-than: expected a whole number of bytes, optionally followed by k/K, m/M, g/G or t/T (KiB, MiB, GiB, TiB), e.g. 500k or 2G"
        )
        guard let last = text.utf8.last else { throw bad }
        var digits = Substring(text).dropLast()
        var unit: Int64 = 1
        switch last {
        case UInt8(ascii: "b"), UInt8(ascii: "B"): unit = 1
        case UInt8(ascii: "k"), UInt8(ascii: "K"): unit = 1 << 10
        case UInt8(ascii: "m"), UInt8(ascii: "M"): unit = 1 << 20
        case UInt8(ascii: "g"), UInt8(ascii: "G"): unit = 1 << 30
        case UInt8(ascii: "t"), UInt8(ascii: "T"): unit = 1 << 40
        default: digits = Substring(text)
        }
        // Go's strconv.ParseInt(s, 10, 64): optional sign, then ASCII digits only.
        var body = digits.utf8[...]
        if let sign = body.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { body = body.dropFirst() }
        guard !body.isEmpty, body.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int64(digits) else { throw bad }
        return value &* unit
    }
}

/// One `--exclude-if-present` rule: a tag file name and the bytes it must start with.
struct TagFileRule: Sendable {
    var name: [UInt8]
    var header: [UInt8]

    init(spec: String) throws {
        let bytes = Array(spec.utf8)
        if bytes.isEmpty { throw EngineError(.invalidArgument, "--exclude-if-present: the name of the tag file is empty") }
        if let colon = bytes.firstIndex(of: UInt8(ascii: ":")) {
            if colon == 0 {
                throw EngineError(
                    .invalidArgument, "--exclude-if-present \"\(spec)\": no tag file name before the colon (use filename[:header])")
            }
            name = Array(bytes[..<colon])
            header = Array(bytes[(colon + 1)...])
        } else {
            name = bytes
            header = []
        }
    }
}
