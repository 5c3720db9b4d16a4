/// Poly1305 (RFC 8439 §2.5), in the 26-bit-limb form of poly1305-donna.
///
/// Constant time: no branch or memory index depends on the key or the message contents, only on
/// the message length. swift-crypto does not expose raw Poly1305, so restic's Poly1305-AES MAC
/// is built from this plus one AES block (see `CryptoKey`).
public enum Poly1305 {
    /// The 16-byte tag of `message` under the one-time key `r ‖ s` (`r` is clamped here).
    public static func authenticate(
        message: UnsafeRawBufferPointer, r: [UInt8], s: [UInt8]
    ) -> [UInt8] {
        precondition(r.count == 16 && s.count == 16, "Poly1305 key halves must be 16 bytes")
        @inline(__always) func le32(_ p: UnsafeRawBufferPointer, _ i: Int) -> UInt32 {
            UInt32(p[i]) | UInt32(p[i + 1]) << 8 | UInt32(p[i + 2]) << 16 | UInt32(p[i + 3]) << 24
        }
        let mask26: UInt32 = 0x3ff_ffff
        var r0: UInt32 = 0, r1: UInt32 = 0, r2: UInt32 = 0, r3: UInt32 = 0, r4: UInt32 = 0
        r.withUnsafeBytes { k in
            r0 = le32(k, 0) & 0x3ff_ffff
            r1 = (le32(k, 3) >> 2) & 0x3ff_ff03
            r2 = (le32(k, 6) >> 4) & 0x3ff_c0ff
            r3 = (le32(k, 9) >> 6) & 0x3f0_3fff
            r4 = (le32(k, 12) >> 8) & 0x00f_ffff
        }
        let s1 = UInt64(r1 &* 5), s2 = UInt64(r2 &* 5), s3 = UInt64(r3 &* 5), s4 = UInt64(r4 &* 5)
        let R0 = UInt64(r0), R1 = UInt64(r1), R2 = UInt64(r2), R3 = UInt64(r3), R4 = UInt64(r4)
        var h0: UInt32 = 0, h1: UInt32 = 0, h2: UInt32 = 0, h3: UInt32 = 0, h4: UInt32 = 0

        @inline(__always) func block(_ m: UnsafeRawBufferPointer, hibit: UInt32) {
            h0 &+= le32(m, 0) & mask26
            h1 &+= (le32(m, 3) >> 2) & mask26
            h2 &+= (le32(m, 6) >> 4) & mask26
            h3 &+= (le32(m, 9) >> 6) & mask26
            h4 &+= (le32(m, 12) >> 8) | hibit
            let H0 = UInt64(h0), H1 = UInt64(h1), H2 = UInt64(h2), H3 = UInt64(h3), H4 = UInt64(h4)
            let d0 = H0 &* R0 &+ H1 &* s4 &+ H2 &* s3 &+ H3 &* s2 &+ H4 &* s1
            var d1 = H0 &* R1 &+ H1 &* R0 &+ H2 &* s4 &+ H3 &* s3 &+ H4 &* s2
            var d2 = H0 &* R2 &+ H1 &* R1 &+ H2 &* R0 &+ H3 &* s4 &+ H4 &* s3
            var d3 = H0 &* R3 &+ H1 &* R2 &+ H2 &* R1 &+ H3 &* R0 &+ H4 &* s4
            var d4 = H0 &* R4 &+ H1 &* R3 &+ H2 &* R2 &+ H3 &* R1 &+ H4 &* R0
            var c = d0 >> 26
            h0 = UInt32(truncatingIfNeeded: d0) & mask26
            d1 &+= c; c = d1 >> 26; h1 = UInt32(truncatingIfNeeded: d1) & mask26
            d2 &+= c; c = d2 >> 26; h2 = UInt32(truncatingIfNeeded: d2) & mask26
            d3 &+= c; c = d3 >> 26; h3 = UInt32(truncatingIfNeeded: d3) & mask26
            d4 &+= c; c = d4 >> 26; h4 = UInt32(truncatingIfNeeded: d4) & mask26
            h0 &+= UInt32(truncatingIfNeeded: c) &* 5
            let c2 = h0 >> 26
            h0 &= mask26
            h1 &+= c2
        }

        let count = message.count
        var offset = 0
        while offset + 16 <= count {
            block(UnsafeRawBufferPointer(rebasing: message[offset..<offset + 16]), hibit: 1 << 24)
            offset += 16
        }
        if offset < count {
            var last = [UInt8](repeating: 0, count: 16)
            for i in offset..<count { last[i - offset] = message[i] }
            last[count - offset] = 1
            last.withUnsafeBytes { block($0, hibit: 0) }
        }

        // Full carry, then h mod p in constant time.
        var c = h1 >> 26; h1 &= mask26
        h2 &+= c; c = h2 >> 26; h2 &= mask26
        h3 &+= c; c = h3 >> 26; h3 &= mask26
        h4 &+= c; c = h4 >> 26; h4 &= mask26
        h0 &+= c &* 5; c = h0 >> 26; h0 &= mask26
        h1 &+= c

        var g0 = h0 &+ 5; c = g0 >> 26; g0 &= mask26
        var g1 = h1 &+ c; c = g1 >> 26; g1 &= mask26
        var g2 = h2 &+ c; c = g2 >> 26; g2 &= mask26
        var g3 = h3 &+ c; c = g3 >> 26; g3 &= mask26
        var g4 = h4 &+ c &- (1 << 26)

        var select = (g4 >> 31) &- 1  // all ones when h >= p (no borrow)
        g0 &= select; g1 &= select; g2 &= select; g3 &= select; g4 &= select
        select = ~select
        h0 = (h0 & select) | g0
        h1 = (h1 & select) | g1
        h2 = (h2 & select) | g2
        h3 = (h3 & select) | g3
        h4 = (h4 & select) | g4

        let w0 = h0 | (h1 << 26)
        let w1 = (h1 >> 6) | (h2 << 20)
        let w2 = (h2 >> 12) | (h3 << 14)
        let w3 = (h3 >> 18) | (h4 << 8)

        var out = [UInt8](repeating: 0, count: 16)
        s.withUnsafeBytes { pad in
            var f = UInt64(w0) &+ UInt64(le32(pad, 0))
            let t0 = UInt32(truncatingIfNeeded: f)
            f = UInt64(w1) &+ UInt64(le32(pad, 4)) &+ (f >> 32)
            let t1 = UInt32(truncatingIfNeeded: f)
            f = UInt64(w2) &+ UInt64(le32(pad, 8)) &+ (f >> 32)
            let t2 = UInt32(truncatingIfNeeded: f)
            f = UInt64(w3) &+ UInt64(le32(pad, 12)) &+ (f >> 32)
            let t3 = UInt32(truncatingIfNeeded: f)
            for (i, t) in [t0, t1, t2, t3].enumerated() {
                out[i * 4] = UInt8(truncatingIfNeeded: t)
                out[i * 4 + 1] = UInt8(truncatingIfNeeded: t >> 8)
                out[i * 4 + 2] = UInt8(truncatingIfNeeded: t >> 16)
                out[i * 4 + 3] = UInt8(truncatingIfNeeded: t >> 24)
            }
        }
        return out
    }

    /// Compares two tags without an early exit.
    public static func constantTimeEqual(_ a: [UInt8], _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}
