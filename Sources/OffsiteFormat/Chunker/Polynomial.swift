/// A polynomial over GF(2) of degree < 64: bit i is the coefficient of xⁱ.
///
/// The chunker uses a random irreducible polynomial of degree 53, stored in the config.
public struct Polynomial: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public var description: String { String(value, radix: 16) }

    /// Index of the highest set bit; -1 for the zero polynomial.
    public var degree: Int { value == 0 ? -1 : 63 - value.leadingZeroBitCount }

    public static func + (a: Polynomial, b: Polynomial) -> Polynomial { Polynomial(a.value ^ b.value) }

    /// `self mod d`. `d` must not be zero.
    public func mod(_ d: Polynomial) -> Polynomial {
        precondition(d.value != 0, "division by the zero polynomial")
        var x = value
        let dd = d.degree
        while x != 0 && 63 - x.leadingZeroBitCount >= dd {
            x ^= d.value << UInt64(63 - x.leadingZeroBitCount - dd)
        }
        return Polynomial(x)
    }

    /// Carry-less product of two polynomials whose degrees add up to less than 64.
    public static func * (a: Polynomial, b: Polynomial) -> Polynomial {
        var result: UInt64 = 0
        var x = a.value
        var y = b.value
        while y != 0 {
            if y & 1 == 1 { result ^= x }
            y >>= 1
            x <<= 1
        }
        return Polynomial(result)
    }

    /// `(a * b) mod g`, for polynomials of degree up to 63 (reduces as it multiplies).
    public static func mulMod(_ a: Polynomial, _ b: Polynomial, _ g: Polynomial) -> Polynomial {
        let ga = a.mod(g)
        var x = ga.value
        var y = b.value
        var result: UInt64 = 0
        let gd = g.degree
        while y != 0 {
            if y & 1 == 1 { result ^= x }
            y >>= 1
            // x = x * X mod g, kept below degree gd.
            let top = x >> UInt64(gd - 1) & 1
            x <<= 1
            if top == 1 { x ^= g.value }
        }
        return Polynomial(result).mod(g)
    }

    public static func gcd(_ a: Polynomial, _ b: Polynomial) -> Polynomial {
        var x = a
        var y = b
        while y.value != 0 {
            (x, y) = (y, x.mod(y))
        }
        return x
    }

    /// Ben-Or's irreducibility test.
    public var isIrreducible: Bool {
        let d = degree
        guard d >= 1 else { return false }
        let x = Polynomial(2)
        var q = x
        var i = 1
        while i <= d / 2 {
            q = Polynomial.mulMod(q, q, self)  // q = x^(2^i) mod f
            let h = (q + x).mod(self)
            if Polynomial.gcd(self, h).value != 1 { return false }
            i += 1
        }
        return true
    }

    /// A random irreducible polynomial of degree 53, as `restic init` makes one.
    public static func random() throws -> Polynomial {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<1_000_000 {
            var f: UInt64 = rng.next()
            f &= (1 << 54) - 1
            f |= (1 << 53) | 1
            let p = Polynomial(f)
            if p.isIrreducible { return p }
        }
        throw FormatError(.unsupported, "no irreducible polynomial found after 1,000,000 tries")
    }
}
