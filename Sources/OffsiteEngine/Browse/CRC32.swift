/// CRC-32 (IEEE 802.3, the polynomial zip uses), computed eight bytes at a time
/// ("slicing-by-8") from one flat table, so that checksumming keeps up with streaming a
/// snapshot to stdout.
struct CRC32 {
    private(set) var value: UInt32 = 0

    /// Eight 256-entry tables, one after the other: entry `k * 256 + b` is the CRC of byte `b`
    /// followed by `k` zero bytes.
    private static let table: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 { t[k * 256 + i] = (t[(k - 1) * 256 + i] >> 8) ^ t[Int(t[(k - 1) * 256 + i] & 0xFF)] }
        }
        return t
    }()

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        var c = ~value
        let n = bytes.count
        Self.table.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            var i = 0
            while i + 8 <= n {
                let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let lo = c ^ UInt32(truncatingIfNeeded: word)
                let hi = UInt32(truncatingIfNeeded: word &>> 32)
                c = t[1792 &+ Int(lo & 0xFF)] ^ t[1536 &+ Int((lo &>> 8) & 0xFF)] ^ t[1280 &+ Int((lo &>> 16) & 0xFF)]
                c ^= t[1024 &+ Int(lo &>> 24)] ^ t[768 &+ Int(hi & 0xFF)] ^ t[512 &+ Int((hi &>> 8) & 0xFF)]
                c ^= t[256 &+ Int((hi &>> 16) & 0xFF)] ^ t[Int(hi &>> 24)]
                i &+= 8
            }
            while i < n {
                c = t[Int((c ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (c &>> 8)
                i &+= 1
            }
        }
        value = ~c
    }

    mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }
}
