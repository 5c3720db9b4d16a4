public import Foundation

/// Writes JSON byte for byte as Go's `encoding/json` does for restic's structs: keys in the
/// order the caller gives them, no whitespace, Go's string escaping (HTML-safe, U+2028/2029
/// escaped, invalid UTF-8 → U+FFFD) and Go's formats for times and byte slices.
///
/// The caller is responsible for `omitempty`: call the `…IfPresent` helpers or skip the key.
public struct GoJSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = [false]

    public init() {}

    public var data: Data { Data(bytes) }

    // MARK: Structure

    public mutating func beginObject() { valuePrefix(); bytes.append(UInt8(ascii: "{")); needsComma.append(false) }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma.removeLast() }
    public mutating func beginArray() { valuePrefix(); bytes.append(UInt8(ascii: "[")); needsComma.append(false) }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma.removeLast() }

    /// Writes `"key":`; the next value call writes the value.
    public mutating func key(_ k: String) {
        valuePrefix()
        Self.appendString(Array(k.utf8), to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
    }

    private mutating func valuePrefix() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    // MARK: Values

    public mutating func string(_ s: String) { valuePrefix(); Self.appendString(Array(s.utf8), to: &bytes) }
    public mutating func string(bytes s: [UInt8]) { valuePrefix(); Self.appendString(s, to: &bytes) }
    public mutating func int<I: BinaryInteger>(_ v: I) {
        valuePrefix()
        if v < 0 { bytes.append(UInt8(ascii: "-")) }
        var x = UInt64(v.magnitude)
        // Digits right to left in a stack buffer: no String per number.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var n = 0
            repeat {
                buf[19 - n] = 48 + UInt8(x % 10)
                x /= 10
                n += 1
            } while x > 0
            bytes.append(contentsOf: buf[(20 - n)...])
        }
    }
    public mutating func bool(_ v: Bool) { valuePrefix(); bytes += Array((v ? "true" : "false").utf8) }
    public mutating func null() { valuePrefix(); bytes += Array("null".utf8) }
    public mutating func time(_ t: GoTime) {
        valuePrefix()
        bytes.append(UInt8(ascii: "\""))
        bytes += t.rfc3339Bytes
        bytes.append(UInt8(ascii: "\""))
    }
    public mutating func id(_ id: ID) {
        valuePrefix()
        bytes.append(UInt8(ascii: "\""))
        id.appendHex(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }
    /// A Go `[]byte`: standard base64 with padding.
    public mutating func base64(_ b: [UInt8]) { string(Data(b).base64EncodedString()) }
    /// Bytes that are already valid JSON (for copying fields through unchanged).
    public mutating func raw(_ json: [UInt8]) { valuePrefix(); bytes += json }

    public mutating func stringArray(_ a: [String]) {
        beginArray()
        for s in a { string(s) }
        endArray()
    }

    // MARK: Keyed helpers for omitempty fields

    public mutating func field(_ k: String, _ s: String, omitEmpty: Bool = false) {
        if omitEmpty && s.isEmpty { return }
        key(k); string(s)
    }

    public mutating func field<I: BinaryInteger>(_ k: String, _ v: I, omitEmpty: Bool = false) {
        if omitEmpty && v == 0 { return }
        key(k); int(v)
    }

    public mutating func field(_ k: String, _ t: GoTime) { key(k); time(t) }

    public mutating func field(_ k: String, _ id: ID?) {
        guard let id else { return }
        key(k); self.id(id)
    }

    public mutating func field(_ k: String, _ a: [String], omitEmpty: Bool) {
        if omitEmpty && a.isEmpty { return }
        key(k); stringArray(a)
    }

    // MARK: String escaping

    static let hex = Array("0123456789abcdef".utf8)

    /// Appends `s` as a JSON string with Go's `encoding/json` escaping (Go 1.19, as in the
    /// restic 0.14 that the tests compare against: 0x08 and 0x0c as `\u0008`/`\u000c`).
    public static func appendString(_ s: [UInt8], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        s.withUnsafeBufferPointer { b in
            var i = 0
            while i < b.count {
                let c = b[i]
                if c < 0x80 {
                    switch c {
                    case UInt8(ascii: "\""): out += [0x5C, 0x22]
                    case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
                    case 0x0A: out += [0x5C, UInt8(ascii: "n")]
                    case 0x0D: out += [0x5C, UInt8(ascii: "r")]
                    case 0x09: out += [0x5C, UInt8(ascii: "t")]
                    case ..<0x20, UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&"):
                        out += Array("\\u00".utf8) + [hex[Int(c >> 4)], hex[Int(c & 0xF)]]
                    default: out.append(c)
                    }
                    i += 1
                    continue
                }
                let step = GoUTF8.decode(b, at: i)
                if let scalar = step.scalar {
                    if scalar.value == 0x2028 || scalar.value == 0x2029 {
                        out += Array("\\u202".utf8) + [hex[Int(scalar.value & 0xF)]]
                    } else {
                        out += UnsafeBufferPointer(rebasing: b[i..<i + step.width])
                    }
                } else {
                    out += Array("\\ufffd".utf8)
                }
                i += step.width
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
