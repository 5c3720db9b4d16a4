/// Poly1305 (RFC 8439 §2.5), with three 44/44/42-bit limbs and 64×64→128-bit products (the
/// layout of poly1305-donna's 64-bit variant): half the multiplications of the 26-bit form.
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
        @inline(__always) func le64(_ p: UnsafeRawBufferPointer, _ i: Int) -> UInt64 {
            UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        }
        @inline(__always) func mul(_ a: UInt64, _ b: UInt64) -> UInt128 {
            UInt128(a) &* UInt128(b)
        }
        let mask44: UInt64 = 0xfff_ffff_ffff, mask42: UInt64 = 0x3ff_ffff_ffff
        // r, clamped and split into limbs; s1, s2 fold the limbs above 2^130 back (× 5, × 4 for
        // the limb alignment).
        let (r0, r1, r2) = r.withUnsafeBytes { k -> (UInt64, UInt64, UInt64) in
            let t0 = le64(k, 0), t1 = le64(k, 8)
            return (t0 & 0xffc_0fff_ffff, ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff, (t1 >> 24) & 0x00f_ffff_fc0f)
        }
        let s1 = r1 &* 20, s2 = r2 &* 20
        var h0: UInt64 = 0, h1: UInt64 = 0, h2: UInt64 = 0

        @inline(__always) func block(_ m: UnsafeRawBufferPointer, _ at: Int, hibit: UInt64) {
            let t0 = le64(m, at), t1 = le64(m, at + 8)
            h0 &+= t0 & mask44
            h1 &+= ((t0 >> 44) | (t1 << 20)) & mask44
            h2 &+= ((t1 >> 24) & mask42) | hibit
            let d0 = mul(h0, r0) &+ mul(h1, s2) &+ mul(h2, s1)
            var d1 = mul(h0, r1) &+ mul(h1, r0) &+ mul(h2, s2)
            var d2 = mul(h0, r2) &+ mul(h1, r1) &+ mul(h2, r0)
            var c = UInt64(truncatingIfNeeded: d0 >> 44)
            h0 = UInt64(truncatingIfNeeded: d0) & mask44
            d1 &+= UInt128(c)
            c = UInt64(truncatingIfNeeded: d1 >> 44)
            h1 = UInt64(truncatingIfNeeded: d1) & mask44
            d2 &+= UInt128(c)
            c = UInt64(truncatingIfNeeded: d2 >> 42)
            h2 = UInt64(truncatingIfNeeded: d2) & mask42
            h0 &+= c &* 5
            c = h0 >> 44
            h0 &= mask44
            h1 &+= c
        }

        let count = message.count
        var offset = 0
        while offset + 16 <= count {
            block(message, offset, hibit: 1 << 40)
            offset += 16
        }
        if offset < count {
            var last = [UInt8](repeating: 0, count: 16)
            for i in offset..<count { last[i - offset] = message[i] }
            last[count - offset] = 1
            last.withUnsafeBytes { block($0, 0, hibit: 0) }
        }

        // Full carry, then h mod p in constant time.
        var c = h1 >> 44
        h1 &= mask44
        h2 &+= c; c = h2 >> 42; h2 &= mask42
        h0 &+= c &* 5; c = h0 >> 44; h0 &= mask44
        h1 &+= c; c = h1 >> 44; h1 &= mask44
        h2 &+= c; c = h2 >> 42; h2 &= mask42
        h0 &+= c &* 5; c = h0 >> 44; h0 &= mask44
        h1 &+= c

        var g0 = h0 &+ 5
        c = g0 >> 44; g0 &= mask44
        var g1 = h1 &+ c
        c = g1 >> 44; g1 &= mask44
        var g2 = h2 &+ c &- (1 << 42)

        var select = (g2 >> 63) &- 1  // all ones when h >= p (no borrow)
        g0 &= select; g1 &= select; g2 &= select
        select = ~select
        h0 = (h0 & select) | g0
        h1 = (h1 & select) | g1
        h2 = (h2 & select) | g2

        // h + s mod 2^128.
        let (p0, p1) = s.withUnsafeBytes { (le64($0, 0), le64($0, 8)) }
        h0 &+= p0 & mask44
        c = h0 >> 44; h0 &= mask44
        h1 &+= (((p0 >> 44) | (p1 << 20)) & mask44) &+ c
        c = h1 >> 44; h1 &= mask44
        h2 &+= ((p1 >> 24) & mask42) &+ c
        h2 &= mask42
        let w0 = h0 | (h1 << 44), w1 = (h1 >> 20) | (h2 << 24)

        var out = [UInt8](repeating: 0, count: 16)
        out.withUnsafeMutableBytes { o in
            o.storeBytes(of: w0.littleEndian, toByteOffset: 0, as: UInt64.self)
            o.storeBytes(of: w1.littleEndian, toByteOffset: 8, as: UInt64.self)
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
