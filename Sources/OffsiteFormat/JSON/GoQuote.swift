/// Go's `strconv.Quote` and `strconv.Unquote` for double-quoted strings, over raw bytes.
///
/// restic stores every node name as `strconv.Quote(name)` without the surrounding quotes, and
/// unquotes it after decoding. File names are bytes, not necessarily UTF-8, so both directions
/// work on `[UInt8]`.
public enum GoQuote {
    static let lowerHex = Array("0123456789abcdef".utf8)

    /// Go's `%q` of a string of bytes (`strconv.Quote` with the quotes), for messages.
    public static func quoted(_ name: [UInt8]) -> String {
        "\"" + String(decoding: quote(name), as: UTF8.self) + "\""
    }

    /// Go's `%q` of a string, for messages.
    public static func quoted(_ s: String) -> String { quoted(Array(s.utf8)) }

    /// `strconv.Quote(name)` without the surrounding quotes.
    public static func quote(_ name: [UInt8]) -> [UInt8] {
        // Fast path: printable ASCII without quote or backslash is its own quoting.
        if name.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) { return name }
        var out = [UInt8]()
        out.reserveCapacity(name.count + 2)
        name.withUnsafeBufferPointer { b in
            var i = 0
            while i < b.count {
                let step = GoUTF8.decode(b, at: i)
                defer { i += step.width }
                guard let s = step.scalar else {
                    out += [0x5C, 0x78, lowerHex[Int(b[i] >> 4)], lowerHex[Int(b[i] & 0xF)]]  // \xNN
                    continue
                }
                appendEscaped(s, to: &out)
            }
        }
        return out
    }

    private static func appendEscaped(_ s: Unicode.Scalar, to out: inout [UInt8]) {
        let v = s.value
        if v == 0x22 || v == 0x5C {  // " and backslash
            out += [0x5C, UInt8(v)]
            return
        }
        if GoUTF8.isPrint(s) {
            out += Array(String(Character(s)).utf8)
            return
        }
        switch v {
        case 0x07: out += [0x5C, UInt8(ascii: "a")]
        case 0x08: out += [0x5C, UInt8(ascii: "b")]
        case 0x0C: out += [0x5C, UInt8(ascii: "f")]
        case 0x0A: out += [0x5C, UInt8(ascii: "n")]
        case 0x0D: out += [0x5C, UInt8(ascii: "r")]
        case 0x09: out += [0x5C, UInt8(ascii: "t")]
        case 0x0B: out += [0x5C, UInt8(ascii: "v")]
        case ..<0x20, 0x7F:
            out += [0x5C, UInt8(ascii: "x"), lowerHex[Int(v >> 4)], lowerHex[Int(v & 0xF)]]
        case ..<0x10000:
            out += [0x5C, UInt8(ascii: "u")]
            for shift in stride(from: 12, through: 0, by: -4) { out.append(lowerHex[Int((v >> UInt32(shift)) & 0xF)]) }
        default:
            out += [0x5C, UInt8(ascii: "U")]
            for shift in stride(from: 28, through: 0, by: -4) { out.append(lowerHex[Int((v >> UInt32(shift)) & 0xF)]) }
        }
    }

    /// `strconv.Unquote("\"" + quoted + "\"")`. Throws on what Go rejects: a bare `"` or
    /// newline, an unknown escape, or a bad hex/octal/unicode escape.
    public static func unquote(_ quoted: [UInt8]) throws -> [UInt8] {
        if !quoted.contains(0x5C) && !quoted.contains(0x22) && !quoted.contains(0x0A) {
            return quoted  // fast path: nothing to undo
        }
        func bad() -> FormatError {
            FormatError(.invalidData, "invalid quoted name \"\(String(decoding: quoted, as: UTF8.self))\"")
        }
        var out = [UInt8]()
        out.reserveCapacity(quoted.count)
        var i = 0
        func hexDigits(_ n: Int) throws -> UInt32 {
            guard i + n <= quoted.count else { throw bad() }
            var v: UInt32 = 0
            for k in 0..<n {
                guard let d = Hex.value(of: quoted[i + k]) else { throw bad() }
                v = v << 4 | UInt32(d)
            }
            i += n
            return v
        }
        while i < quoted.count {
            let c = quoted[i]
            if c == 0x22 || c == 0x0A { throw bad() }
            if c != 0x5C {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < quoted.count else { throw bad() }
            let e = quoted[i]
            i += 1
            switch e {
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "v"): out.append(0x0B)
            case 0x5C, 0x22: out.append(e)
            case UInt8(ascii: "x"): out.append(UInt8(try hexDigits(2)))
            case UInt8(ascii: "u"), UInt8(ascii: "U"):
                let v = try hexDigits(e == UInt8(ascii: "u") ? 4 : 8)
                guard let s = Unicode.Scalar(v) else { throw bad() }
                out += Array(String(Character(s)).utf8)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard i + 2 <= quoted.count else { throw bad() }
                var v = UInt32(e - 0x30)
                for k in 0..<2 {
                    let d = quoted[i + k]
                    guard (0x30...0x37).contains(d) else { throw bad() }
                    v = v << 3 | UInt32(d - 0x30)
                }
                guard v <= 255 else { throw bad() }
                i += 2
                out.append(UInt8(v))
            default:
                throw bad()
            }
        }
        return out
    }
}
