/// One exclude pattern with restic 0.14's semantics (`internal/filter`), parsed once.
///
/// A pattern is a sequence of `/`-separated components, each a Go `filepath.Match` pattern
/// (`*`, `?`, `[a-z]`, `[^a-z]`, `\` escapes; nothing crosses a `/`), plus:
/// - `**` as a whole component matches any number (including zero) of components;
/// - a pattern starting with `/` is anchored at the root; any other pattern may match starting
///   at any component of the path (`foo/bar` matches `/x/foo/bar`);
/// - a pattern matches a path when it matches a leading run of the path's components, so a
///   pattern that matches a directory also matches everything below it (`/foo` matches `/foo/x`);
/// - a leading `!` negates the pattern inside a `PatternList` (see there);
/// - the pattern text is cleaned with Go's `filepath.Clean` first (`/a/../b/` is `/b`).
///
/// The empty pattern matches every path (restic's `filter.Match("", …)`); lists ignore it.
/// Paths are byte strings and are not cleaned; restic hands it absolute, cleaned paths.
public struct Pattern: Sendable, Hashable, CustomStringConvertible {
    struct Part: Sendable, Hashable {
        /// Component text; empty for `**` (and for the empty last component of the pattern `/`,
        /// which restic also treats as `**`, so the pattern `/` matches every absolute path).
        var text: [UInt8]
        /// True when the text has no `\ [ ] * ?`, so plain comparison suffices.
        var isSimple: Bool

        var isDoubleStar: Bool { text.isEmpty }
        var isRoot: Bool { text == [GoFilepath.slash] }
        static let star = Part(text: [UInt8(ascii: "*")], isSimple: false)

        func matches(_ component: ArraySlice<UInt8>) throws(GoFilepath.BadPattern) -> Bool {
            isSimple ? text.elementsEqual(component) : try GoFilepath.match(text[...], component)
        }
    }

    /// The pattern as written (including a leading `!`).
    public let bytes: [UInt8]
    /// True for a pattern written with a leading `!`.
    public let isNegated: Bool
    let parts: [Part]

    public init(_ text: String) { self.init(bytes: Array(text.utf8)) }

    public init(bytes: [UInt8]) {
        self.bytes = bytes
        var body = bytes[...]
        isNegated = body.first == UInt8(ascii: "!")
        if isNegated { body = body.dropFirst() }
        if bytes.isEmpty {
            parts = []
            return
        }
        parts = GoFilepath.components(GoFilepath.clean(body)).map { component in
            let isSimple = !component.contains { "\\[]*?".utf8.contains($0) }
            let text = component.elementsEqual("**".utf8) ? [] : Array(component)
            return Part(text: text, isSimple: isSimple)
        }
    }

    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// Whether the pattern is well formed, checked as restic's `filter.ValidatePatterns` does:
    /// every component must match itself without a `filepath.Match` syntax error.
    public var isValid: Bool {
        for part in parts {
            do { _ = try GoFilepath.match(part.text[...], part.text[...]) } catch { return false }
        }
        return true
    }

    /// restic's `filter.Match`: whether `path` (or a parent of it) matches. A leading `!` is
    /// stripped and otherwise ignored here. Throws `.invalidArgument` for an empty path or when
    /// the pattern turns out to be malformed while matching.
    public func matches(_ path: FSPath) throws -> Bool {
        if bytes.isEmpty { return true }
        let strs = try Self.components(path)
        return try wrap { () throws(GoFilepath.BadPattern) in try Self.match(parts, strs) }
    }

    /// restic's `filter.ChildMatch`: whether something below `path` could match. Always true
    /// for a relative pattern; for an absolute one, whether `path` agrees with the pattern's
    /// leading components (up to the first `**`). Throws like `matches`.
    public func childMayMatch(_ path: FSPath) throws -> Bool {
        if bytes.isEmpty { return true }
        let strs = try Self.components(path)
        return try wrap { () throws(GoFilepath.BadPattern) in try Self.childMatch(parts, strs) }
    }

    public func matches(_ path: String) throws -> Bool { try matches(FSPath(path)) }
    public func childMayMatch(_ path: String) throws -> Bool { try childMayMatch(FSPath(path)) }

    static func components(_ path: FSPath) throws -> [ArraySlice<UInt8>] {
        if path.bytes.isEmpty { throw emptyPathError() }
        return GoFilepath.components(path.bytes)
    }

    static func emptyPathError() -> EngineError {
        EngineError(.invalidArgument, "cannot match exclude patterns against an empty path")
    }

    func wrap<T>(_ body: () throws(GoFilepath.BadPattern) -> T) throws -> T {
        do { return try body() } catch {
            throw EngineError(
                .invalidArgument,
                "exclude pattern \"\(self)\" is malformed (syntax error in pattern): check for an unclosed or empty [...] class or a trailing backslash"
            )
        }
    }

    // MARK: The matching algorithm

    static func match(_ parts: [Part], _ strs: [ArraySlice<UInt8>]) throws(GoFilepath.BadPattern) -> Bool {
        if let pos = parts.firstIndex(where: \.isDoubleStar) {
            // Try `**` as zero, one, two, … single-component wildcards.
            let most = strs.count - parts.count + 1
            guard most >= 0 else { return false }
            for stars in 0...most {
                let expanded = Array(parts[..<pos]) + Array(repeating: Part.star, count: stars) + Array(parts[(pos + 1)...])
                if try match(expanded, strs) { return true }
            }
            return false
        }
        if parts.isEmpty { return strs.isEmpty }
        guard parts.count <= strs.count else { return false }
        var minOffset = 0
        var maxOffset = strs.count - parts.count
        if parts[0].isRoot {
            maxOffset = 0
        } else if strs[0].elementsEqual([GoFilepath.slash]) {
            minOffset = 1
        }
        // Same search order as restic (deepest window first, last component first), so a
        // malformed component throws in exactly the cases where restic reports an error.
        var offset = maxOffset
        window: while offset >= minOffset {
            for i in stride(from: parts.count - 1, through: 0, by: -1) where !(try parts[i].matches(strs[offset + i])) {
                offset -= 1
                continue window
            }
            return true
        }
        return false
    }

    static func childMatch(_ parts: [Part], _ strs: [ArraySlice<UInt8>]) throws(GoFilepath.BadPattern) -> Bool {
        guard parts[0].isRoot else { return true }
        var strs = strs
        if let pos = parts.firstIndex(where: \.isDoubleStar), strs.count >= pos {
            strs = Array(strs[..<pos])
        }
        let n = min(strs.count, parts.count)
        return try match(Array(parts[..<n]), strs)
    }
}

/// An ordered list of exclude patterns: restic's `filter.List` / `filter.ListWithChild`.
///
/// Patterns are applied in order. A plain pattern that matches marks the path as matched; a
/// negated pattern (`!…`) that matches un-marks it again, so later patterns can re-exclude what an
/// earlier negation let through. Empty patterns are ignored. With `caseInsensitive` (restic's
/// `--iexclude`), both the patterns and every path are lowercased with Go's `strings.ToLower`.
public struct PatternList: Sendable {
    public let patterns: [Pattern]
    public let isCaseInsensitive: Bool
    /// The non-empty patterns as given (before lowercasing), for validation messages.
    let written: [[UInt8]]

    public init(_ patterns: [String], caseInsensitive: Bool = false) {
        self.init(bytes: patterns.map { Array($0.utf8) }, caseInsensitive: caseInsensitive)
    }

    public init(bytes patterns: [[UInt8]], caseInsensitive: Bool = false) {
        written = patterns.filter { !$0.isEmpty }
        self.patterns = written.map { Pattern(bytes: caseInsensitive ? GoFilepath.toLower($0) : $0) }
        isCaseInsensitive = caseInsensitive
    }

    /// The patterns (as given) that restic's `ValidatePatterns` rejects; empty when all are fine.
    public var invalidPatterns: [String] {
        written.filter { !Pattern(bytes: $0).isValid }.map { String(decoding: $0, as: UTF8.self) }
    }

    /// restic's `filter.List`: whether the path is matched once all patterns have been applied.
    /// An empty list matches nothing. Throws `.invalidArgument` for an empty path or a pattern
    /// found malformed while matching (restic then treats the path as not matched).
    public func matches(_ path: FSPath) throws -> Bool { try evaluate(path, withChild: false).matched }

    /// restic's `filter.ListWithChild`: `matched` as `matches`, and `childMayMatch` saying whether
    /// a path below this one could still be matched (used by include filters).
    public func matchesWithChild(_ path: FSPath) throws -> (matched: Bool, childMayMatch: Bool) {
        try evaluate(path, withChild: true)
    }

    public func matches(_ path: String) throws -> Bool { try matches(FSPath(path)) }

    private func evaluate(_ path: FSPath, withChild: Bool) throws -> (matched: Bool, childMayMatch: Bool) {
        if patterns.isEmpty { return (false, false) }
        if path.bytes.isEmpty { throw Pattern.emptyPathError() }
        let subject = isCaseInsensitive ? GoFilepath.toLower(path.bytes) : path.bytes
        let strs = GoFilepath.components(subject)
        let hasNegated = patterns.contains(where: \.isNegated)
        var matched = false
        var childMayMatch = false
        for pattern in patterns {
            let m = try pattern.wrap { () throws(GoFilepath.BadPattern) in try Pattern.match(pattern.parts, strs) }
            let c = withChild ? try pattern.wrap { () throws(GoFilepath.BadPattern) in try Pattern.childMatch(pattern.parts, strs) } : true
            if pattern.isNegated {
                matched = matched && !m
                childMayMatch = childMayMatch && !m
            } else {
                matched = matched || m
                childMayMatch = childMayMatch || c
                if matched && childMayMatch && !hasNegated { break }
            }
        }
        return (matched, childMayMatch)
    }
}
