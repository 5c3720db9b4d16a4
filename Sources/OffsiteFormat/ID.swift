import Crypto
public import Foundation

/// A 32-byte SHA-256 digest naming a blob, pack, index, snapshot, key or lock.
///
/// Written as 64 lowercase hex characters in JSON and in object names. Stored as four
/// big-endian words so that `<` is the bytewise order of the hex form.
public struct ID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public static let zero = ID(w0: 0, w1: 0, w2: 0, w3: 0)

    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// Builds an ID from exactly 32 bytes; returns nil for any other length.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        guard bytes.count == 32 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.enumerated() {
            words[i / 8] = (words[i / 8] << 8) | UInt64(b)
        }
        self.init(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    /// Parses 64 hex characters (either case). Returns nil for anything else.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (i, c) in utf8.enumerated() {
            guard let v = Hex.value(of: c) else { return nil }
            words[i / 16] = (words[i / 16] << 4) | UInt64(v)
        }
        self.init(w0: words[0], w1: words[1], w2: words[2], w3: words[3])
    }

    /// SHA-256 of `data`.
    public static func hash<D: DataProtocol>(_ data: D) -> ID {
        ID(digest: SHA256.hash(data: data))
    }

    init(digest: SHA256.Digest) {
        var id = ID.zero
        digest.withUnsafeBytes { raw in
            id = ID(bytes: raw)!
        }
        self = id
    }

    public var isZero: Bool { self == .zero }

    /// The 32 raw bytes.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for w in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: w >> UInt64(shift)))
            }
        }
        return out
    }

    /// 64 lowercase hex characters.
    public var hex: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        appendHex(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the 64 hex characters to `out`.
    public func appendHex(to out: inout [UInt8]) {
        for w in [w0, w1, w2, w3] {
            for shift in stride(from: 60, through: 0, by: -4) {
                out.append(Hex.digits[Int((w >> UInt64(shift)) & 0xF)])
            }
        }
    }

    /// The first 8 hex characters, as restic prints them.
    public var shortHex: String { String(hex.prefix(8)) }

    public var description: String { hex }

    public static func < (a: ID, b: ID) -> Bool {
        (a.w0, a.w1, a.w2, a.w3) < (b.w0, b.w1, b.w2, b.w3)
    }

    /// A random ID (for repository IDs).
    public static func random() -> ID {
        var rng = SystemRandomNumberGenerator()
        return ID(w0: rng.next(), w1: rng.next(), w2: rng.next(), w3: rng.next())
    }
}

/// Lowercase hex encoding and decoding.
public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    public static func encode<C: Sequence>(_ bytes: C) -> String where C.Element == UInt8 {
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes an even-length hex string; nil on any invalid character.
    public static func decode(_ s: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(s.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = value(of: utf8[i]), let lo = value(of: utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    @inline(__always)
    static func value(of c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension ID: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let id = ID(hex: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "invalid ID \"\(s)\"")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}
