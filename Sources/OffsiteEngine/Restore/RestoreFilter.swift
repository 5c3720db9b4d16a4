import Foundation

/// restic's restore selection: `--include`/`--iinclude` (only matching items, and the
/// directories that may hold them) or `--exclude`/`--iexclude` (everything but matching items),
/// matched against the item's path inside the snapshot (`/srv/app/config.yml`).
public struct RestoreFilter: Sendable {
    public var includes: [String] = []
    public var insensitiveIncludes: [String] = []
    public var excludes: [String] = []
    public var insensitiveExcludes: [String] = []

    public init(includes: [String] = [], insensitiveIncludes: [String] = [], excludes: [String] = [], insensitiveExcludes: [String] = []) {
        self.includes = includes
        self.insensitiveIncludes = insensitiveIncludes
        self.excludes = excludes
        self.insensitiveExcludes = insensitiveExcludes
    }

    public var isEmpty: Bool { includes.isEmpty && insensitiveIncludes.isEmpty && excludes.isEmpty && insensitiveExcludes.isEmpty }
    var hasIncludes: Bool { !includes.isEmpty || !insensitiveIncludes.isEmpty }

    /// Reads patterns from files as `--exclude-file` does (comments, blank lines, `$VAR`).
    public static func patterns(fromFiles files: [String], workingDirectory: String) throws -> [String] {
        guard !files.isEmpty else { return [] }
        return try Selection.readExcludeFiles(
            files, workingDirectory: Array(workingDirectory.utf8),
            environment: ProcessInfo.processInfo.environment
        )
        .map { String(decoding: $0, as: UTF8.self) }
    }

    /// Checks the patterns as restic does before a restore starts.
    func compiled() throws -> Compiled {
        guard !(hasIncludes && (!excludes.isEmpty || !insensitiveExcludes.isEmpty)) else {
            throw EngineError(.invalidArgument, "exclude and include patterns are mutually exclusive")
        }
        let lists = (
            include: PatternList(includes), iinclude: PatternList(insensitiveIncludes, caseInsensitive: true),
            exclude: PatternList(excludes), iexclude: PatternList(insensitiveExcludes, caseInsensitive: true)
        )
        for (list, flag) in [
            (lists.include, "--include"), (lists.iinclude, "--iinclude"), (lists.exclude, "--exclude"), (lists.iexclude, "--iexclude"),
        ] {
            if !list.invalidPatterns.isEmpty {
                throw EngineError(.invalidArgument, "\(flag): invalid pattern(s): \(list.invalidPatterns.joined(separator: ", "))")
            }
        }
        return Compiled(hasIncludes: hasIncludes, hasExcludes: !excludes.isEmpty || !insensitiveExcludes.isEmpty, lists: lists)
    }

    struct Compiled: Sendable {
        let hasIncludes: Bool
        let hasExcludes: Bool
        let lists: (include: PatternList, iinclude: PatternList, exclude: PatternList, iexclude: PatternList)

        var isEmpty: Bool { !hasIncludes && !hasExcludes }

        /// (restore this item, descend into it) for an item at `location` in the snapshot.
        func select(_ location: FSPath, isDirectory: Bool) -> (selected: Bool, descend: Bool) {
            if hasIncludes {
                let a = (try? lists.include.matchesWithChild(location)) ?? (matched: false, childMayMatch: false)
                let b = (try? lists.iinclude.matchesWithChild(location)) ?? (matched: false, childMayMatch: false)
                return (a.matched || b.matched, isDirectory && (a.childMayMatch || b.childMayMatch || a.matched || b.matched))
            }
            if hasExcludes {
                let excluded = ((try? lists.exclude.matches(location)) ?? false) || ((try? lists.iexclude.matches(location)) ?? false)
                return (!excluded, isDirectory && !excluded)
            }
            return (true, isDirectory)
        }
    }
}
