/// A small pull parser for JSON in memory, for documents too large or too hot for
/// `JSONDecoder` (index files list millions of blobs). It reads the exact grammar of RFC 8259,
/// skips what the caller does not ask for, and throws `FormatError(.invalidData)` with the byte
/// offset on anything malformed.
public struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    public private(set) var position = 0
    /// Objects and arrays open around the current position.
    private var depth = 0
    /// Deepest nesting accepted: far beyond any document restic writes (5 levels), well within the
    /// stack (thousands of nested `[` overflowed it under AddressSanitizer: found by the fuzzer).
    public static let maxDepth = 200

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func fail(_ what: String) -> FormatError {
        FormatError(.invalidData, "malformed JSON at byte \(position): \(what)")
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// The next non-space byte, without consuming it (nil at the end).
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < bytes.count ? bytes[position] : nil
    }

    public mutating func expect(_ c: UInt8) throws {
        guard peek() == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
        position += 1
    }

    /// Consumes `c` if it is next.
    public mutating func consume(_ c: UInt8) -> Bool {
        guard peek() == c else { return false }
        position += 1
        return true
    }

    public mutating func expectEnd() throws {
        guard peek() == nil else { throw fail("unexpected data after the document") }
    }

    /// Iterates an object's members: `body` gets each key and must consume its value.
    public mutating func object(_ body: (inout JSONScanner, [UInt8]) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        guard depth < Self.maxDepth else { throw fail("JSON nested deeper than \(Self.maxDepth) levels") }
        depth += 1
        defer { depth -= 1 }
        if consume(UInt8(ascii: "}")) { return }
        repeat {
            let key = try string()
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "}"))
    }

    /// Iterates an array's elements: `body` must consume each element.
    public mutating func array(_ body: (inout JSONScanner) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        guard depth < Self.maxDepth else { throw fail("JSON nested deeper than \(Self.maxDepth) levels") }
        depth += 1
        defer { depth -= 1 }
        if consume(UInt8(ascii: "]")) { return }
        repeat {
            try body(&self)
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "]"))
    }

    /// `null` (returns true) or nothing consumed (returns false).
    public mutating func null() throws -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        guard position + 4 <= bytes.count, bytes[position + 1] == UInt8(ascii: "u"), bytes[position + 2] == UInt8(ascii: "l"),
            bytes[position + 3] == UInt8(ascii: "l")
        else { throw fail("invalid literal") }
        position += 4
        return true
    }

    /// A string's UTF-8 bytes, escapes decoded.
    public mutating func string() throws -> [UInt8] {
        try expect(UInt8(ascii: "\""))
        let start = position
        while position < bytes.count {
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                let out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<position]))
                position += 1
                return out
            }
            if c == UInt8(ascii: "\\") {
                position = start
                return try escapedString()
            }
            if c < 0x20 { throw fail("control character in string") }
            position += 1
        }
        throw fail("unterminated string")
    }

    private mutating func escapedString() throws -> [UInt8] {
        var out: [UInt8] = []
        func hex4() throws -> UInt32 {
            guard position + 4 <= bytes.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for k in 0..<4 {
                guard let d = Hex.value(of: bytes[position + k]) else { throw fail("bad \\u escape") }
                v = v << 4 | UInt32(d)
            }
            position += 4
            return v
        }
        while position < bytes.count {
            let c = bytes[position]
            position += 1
            if c == UInt8(ascii: "\"") { return out }
            if c < 0x20 { throw fail("control character in string") }
            guard c == UInt8(ascii: "\\") else {
                out.append(c)
                continue
            }
            guard position < bytes.count else { break }
            let e = bytes[position]
            position += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = try hex4()
                if (0xD800..<0xDC00).contains(v), position + 6 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                {
                    position += 2
                    let low = try hex4()
                    v = (0xDC00..<0xE000).contains(low) ? 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
                }
                let scalar = Unicode.Scalar(v) ?? "\u{FFFD}"
                out += Array(String(Character(scalar)).utf8)
            default:
                throw fail("invalid escape")
            }
        }
        throw fail("unterminated string")
    }

    /// A non-negative integer that fits `UInt64`.
    public mutating func unsigned() throws -> UInt64 {
        _ = peek()
        var v: UInt64 = 0
        let start = position
        while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(bytes[position] - 0x30))
            guard !o1, !o2 else { throw fail("number out of range") }
            v = a
            position += 1
        }
        guard position > start else { throw fail("expected a number") }
        if position < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
            throw fail("expected an integer")
        }
        return v
    }

    /// A 64-hex-character ID string.
    public mutating func id() throws -> ID {
        try expect(UInt8(ascii: "\""))
        guard position + 65 <= bytes.count, bytes[position + 64] == UInt8(ascii: "\""),
            let id = ID(hex: UnsafeRawBufferPointer(rebasing: bytes[position..<position + 64]))
        else { throw fail("expected a 64-character hex ID") }
        position += 65
        return id
    }

    /// Skips any value.
    public mutating func skipValue() throws {
        switch peek() {
        case UInt8(ascii: "{"): try object { s, _ in try s.skipValue() }
        case UInt8(ascii: "["): try array { try $0.skipValue() }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            for word in ["true", "false", "null"] {
                let w = Array(word.utf8)
                if position + w.count <= bytes.count, Array(bytes[position..<position + w.count]) == w {
                    position += w.count
                    return
                }
            }
            throw fail("invalid literal")
        case .some(let c) where c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39):
            position += 1
            while position < bytes.count,
                let c = Optional(bytes[position]),
                (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                    || c == UInt8(ascii: "+") || c == UInt8(ascii: "-")
            {
                position += 1
            }
        default:
            throw fail("expected a value")
        }
    }
}

extension ID {
    /// Parses 64 hex characters from raw bytes.
    init?(hex raw: UnsafeRawBufferPointer) {
        guard raw.count == 64 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for w in 0..<4 {
            var v: UInt64 = 0
            for k in 0..<16 {
                guard let d = Hex.value(of: raw[w * 16 + k]) else { return nil }
                v = v << 4 | UInt64(d)
            }
            switch w {
            case 0: words.0 = v
            case 1: words.1 = v
            case 2: words.2 = v
            default: words.3 = v
            }
        }
        self.init(w0: words.0, w1: words.1, w2: words.2, w3: words.3)
    }
}
