#if canImport(Glibc)
import Glibc
#endif

/// The pieces of Go's standard library that restic's backup selection is built on, reproduced on
/// raw bytes with Go 1.19's behaviour on Unix (restic 0.14.0 is built with Go 1.19). Go strings are
/// byte strings, so working on bytes keeps non-UTF-8 file names exact.
public enum GoFilepath {
    /// Go's `filepath.ErrBadPattern`: the pattern is malformed (for example an unclosed `[`, an
    /// empty class `[]`, a range missing an end, or a trailing backslash).
    struct BadPattern: Error, Equatable {}

    static let slash = UInt8(ascii: "/")
    static let runeError: Int32 = 0xFFFD

    // MARK: filepath.Match

    /// `filepath.Match(pattern, name)`: `*` matches any run of non-`/` bytes, `?` one non-`/`
    /// character, `[...]`/`[^...]` a character class of ranges, and `\` escapes the next character.
    /// The whole of `name` must match.
    static func match(_ pattern: ArraySlice<UInt8>, _ name: ArraySlice<UInt8>) throws(BadPattern) -> Bool {
        var pattern = pattern
        var name = name
        nextChunk: while !pattern.isEmpty {
            let (star, chunk, rest) = scanChunk(pattern)
            pattern = rest
            if star && chunk.isEmpty { return !name.contains(slash) }
            if let tail = try matchChunk(chunk, name), tail.isEmpty || !pattern.isEmpty {
                name = tail
                continue
            }
            if star {
                // Let the star swallow one more byte at a time, never a slash.
                var i = name.startIndex
                while i < name.endIndex && name[i] != slash {
                    if let tail = try matchChunk(chunk, name[(i + 1)...]) {
                        if pattern.isEmpty && !tail.isEmpty {
                            i += 1
                            continue
                        }
                        name = tail
                        continue nextChunk
                    }
                    i += 1
                }
            }
            return false
        }
        return name.isEmpty
    }

    /// Splits off leading stars and the star-free chunk after them (stars inside `[...]` and
    /// escaped characters belong to the chunk).
    private static func scanChunk(_ pattern: ArraySlice<UInt8>) -> (Bool, ArraySlice<UInt8>, ArraySlice<UInt8>) {
        var p = pattern
        var star = false
        while p.first == UInt8(ascii: "*") {
            p = p.dropFirst()
            star = true
        }
        var inRange = false
        var i = p.startIndex
        scan: while i < p.endIndex {
            switch p[i] {
            case UInt8(ascii: "\\"): if i + 1 < p.endIndex { i += 1 }
            case UInt8(ascii: "["): inRange = true
            case UInt8(ascii: "]"): inRange = false
            case UInt8(ascii: "*"): if !inRange { break scan }
            default: break
            }
            i += 1
        }
        return (star, p[..<i], p[i...])
    }

    /// Matches a star-free chunk against the start of `s`; returns the rest of `s`, or nil when it
    /// does not match. Parses the whole chunk even after a mismatch, so malformed chunks always throw.
    private static func matchChunk(_ chunk: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) throws(BadPattern) -> ArraySlice<UInt8>? {
        var chunk = chunk
        var s = s
        var failed = false
        while let c = chunk.first {
            if s.isEmpty { failed = true }
            switch c {
            case UInt8(ascii: "["):
                var r: Int32 = 0
                if !failed {
                    let (rune, width) = decodeRune(s)
                    r = rune
                    s = s.dropFirst(width)
                }
                chunk = chunk.dropFirst()
                var negated = false
                if chunk.first == UInt8(ascii: "^") {
                    negated = true
                    chunk = chunk.dropFirst()
                }
                var inClass = false
                var ranges = 0
                while true {
                    if chunk.first == UInt8(ascii: "]") && ranges > 0 {
                        chunk = chunk.dropFirst()
                        break
                    }
                    let lo = try classCharacter(&chunk)
                    var hi = lo
                    if chunk.first == UInt8(ascii: "-") {
                        chunk = chunk.dropFirst()
                        hi = try classCharacter(&chunk)
                    }
                    if lo <= r && r <= hi { inClass = true }
                    ranges += 1
                }
                if inClass == negated { failed = true }
            case UInt8(ascii: "?"):
                if !failed {
                    if s.first == slash { failed = true }
                    s = s.dropFirst(decodeRune(s).width)
                }
                chunk = chunk.dropFirst()
            default:
                if c == UInt8(ascii: "\\") {
                    chunk = chunk.dropFirst()
                    if chunk.isEmpty { throw BadPattern() }
                }
                if !failed {
                    if chunk.first != s.first { failed = true }
                    s = s.dropFirst()
                }
                chunk = chunk.dropFirst()
            }
        }
        return failed ? nil : s
    }

    /// One possibly escaped character of a class; a class must not end right after it.
    private static func classCharacter(_ chunk: inout ArraySlice<UInt8>) throws(BadPattern) -> Int32 {
        guard let first = chunk.first, first != UInt8(ascii: "-"), first != UInt8(ascii: "]") else { throw BadPattern() }
        if first == UInt8(ascii: "\\") {
            chunk = chunk.dropFirst()
            if chunk.isEmpty { throw BadPattern() }
        }
        let (r, width) = decodeRune(chunk)
        chunk = chunk.dropFirst(width)
        if (r == runeError && width == 1) || chunk.isEmpty { throw BadPattern() }
        return r
    }

    static func hasMeta(_ path: some Sequence<UInt8>) -> Bool {
        path.contains { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "\\") }
    }

    // MARK: UTF-8 as Go decodes it

    /// `utf8.DecodeRune`: an invalid or truncated sequence decodes as U+FFFD with width 1.
    static func decodeRune(_ s: ArraySlice<UInt8>) -> (rune: Int32, width: Int) {
        guard let b0 = s.first else { return (runeError, 0) }
        if b0 < 0x80 { return (Int32(b0), 1) }
        let width: Int
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: width = 2
        case 0xE0: width = 3; lo = 0xA0
        case 0xED: width = 3; hi = 0x9F
        case 0xE1...0xEF: width = 3
        case 0xF0: width = 4; lo = 0x90
        case 0xF4: width = 4; hi = 0x8F
        case 0xF1...0xF3: width = 4
        default: return (runeError, 1)
        }
        guard s.count >= width else { return (runeError, 1) }
        let i = s.startIndex
        guard s[i + 1] >= lo && s[i + 1] <= hi else { return (runeError, 1) }
        var r = Int32(b0 & (0xFF >> (width + 1)))
        for k in 1..<width {
            let b = s[i + k]
            if k > 1 && (b < 0x80 || b > 0xBF) { return (runeError, 1) }
            r = r << 6 | Int32(b & 0x3F)
        }
        return (r, width)
    }

    static func encodeRune(_ r: Int32, into out: inout [UInt8]) {
        let scalar = Unicode.Scalar(UInt32(r)) ?? "\u{FFFD}"
        UTF8.encode(scalar) { out.append($0) }
    }

    /// `strings.ToLower`: Unicode simple lowercase mapping per rune; invalid bytes become U+FFFD.
    static func toLower(_ s: [UInt8]) -> [UInt8] {
        if s.allSatisfy({ $0 < 0x80 }) {
            return s.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }
        }
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var rest = s[...]
        while !rest.isEmpty {
            let (r, width) = decodeRune(rest)
            rest = rest.dropFirst(width)
            guard let scalar = Unicode.Scalar(UInt32(r)) else {
                encodeRune(runeError, into: &out)
                continue
            }
            // The full mapping differs from the simple one only for U+0130, whose simple mapping is
            // the first scalar of the full one.
            let lower = scalar.properties.lowercaseMapping.unicodeScalars.first ?? scalar
            encodeRune(Int32(lower.value), into: &out)
        }
        return out
    }

    /// `strings.TrimSpace`: strips leading and trailing Unicode white space.
    static func trimSpace(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var start = s.startIndex
        var end = s.startIndex
        var i = s.startIndex
        var seenText = false
        while i < s.endIndex {
            let (r, width) = decodeRune(s[i...])
            let isSpace = Unicode.Scalar(UInt32(r)).map { $0.properties.isWhitespace } ?? false
            if !isSpace {
                if !seenText { start = i }
                seenText = true
                end = i + width
            }
            i += width
        }
        return seenText ? s[start..<end] : s[s.endIndex...]
    }

    // MARK: Path arithmetic (path/filepath on Unix)

    /// `filepath.Clean`: lexically removes `.`, `..` and repeated slashes; empty becomes `.`.
    /// Go's single pass: each byte is read once and written at most once, so cleaning is linear
    /// in the path's length whatever its depth.
    public static func clean(_ path: ArraySlice<UInt8>) -> [UInt8] {
        let dot = UInt8(ascii: ".")
        if path.isEmpty { return [dot] }
        let p = path.startIndex, n = path.endIndex
        let rooted = path[p] == slash
        var out: [UInt8] = []
        out.reserveCapacity(path.count)
        var r = p
        // Where `..` may no longer remove a component: after the root, or after leading `..`s.
        var dotdot = 0
        if rooted {
            out.append(slash)
            r += 1
            dotdot = 1
        }
        while r < n {
            if path[r] == slash {
                r += 1
            } else if path[r] == dot && (r + 1 == n || path[r + 1] == slash) {
                r += 1
            } else if path[r] == dot && path[r + 1] == dot && (r + 2 == n || path[r + 2] == slash) {
                r += 2
                if out.count > dotdot {
                    var w = out.count - 1
                    while w > dotdot && out[w] != slash { w -= 1 }
                    out.removeSubrange(w...)
                } else if !rooted {
                    if !out.isEmpty { out.append(slash) }
                    out += [dot, dot]
                    dotdot = out.count
                }
            } else {
                if (rooted && out.count != 1) || (!rooted && !out.isEmpty) { out.append(slash) }
                while r < n && path[r] != slash {
                    out.append(path[r])
                    r += 1
                }
            }
        }
        return out.isEmpty ? [dot] : out
    }

    /// `filepath.Split`: everything up to and including the last slash, and the rest.
    static func split(_ path: [UInt8]) -> (dir: [UInt8], file: [UInt8]) {
        guard let i = path.lastIndex(of: slash) else { return ([], path) }
        return (Array(path[...i]), Array(path[(i + 1)...]))
    }

    /// `filepath.Dir`.
    static func dir(_ path: [UInt8]) -> [UInt8] { clean(split(path).dir[...]) }

    /// `filepath.Join` of two non-empty elements.
    static func join(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] { clean((a + [slash] + b)[...]) }

    /// `filepath.Abs` with an explicit working directory.
    static func absolute(_ path: [UInt8], cwd: [UInt8]) -> [UInt8] {
        path.first == slash ? clean(path[...]) : join(cwd, path)
    }

    /// restic's `splitPath`: components of a cleaned path; an absolute path's first one is `/`.
    static func components(_ path: [UInt8]) -> [ArraySlice<UInt8>] {
        var parts = path.split(separator: slash, omittingEmptySubsequences: false)
        if parts[0].isEmpty { parts[0] = [slash][...] }
        return parts
    }
}
