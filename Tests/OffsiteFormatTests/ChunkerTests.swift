import Foundation
import OffsiteFormat
import Testing

/// docs/FORMAT.md §7 and §11.2: polynomial arithmetic and the chunker, against restic's vectors.
@Suite struct ChunkerTests {
    static func bin(_ s: String) -> Polynomial { Polynomial(UInt64(s, radix: 2)!) }

    @Test(arguments: [
        (UInt64(0x38f1e565e288df), false), (0x3DA3358B4DC173, true), (0x30a8295b9d5c91, false),
        (0x255f4350b962cb, false), (0x267f776110a235, false), (0x2f4dae10d41227, false),
        (0x2482734cacca49, true), (0x312daf4b284899, false), (0x29dfb6553d01d1, false),
        (0x3548245eb26257, false), (0x3199e7ef4211b3, false), (0x362f39017dae8b, false),
        (0x200d57aa6fdacb, false), (0x35e0a4efa1d275, false), (0x2ced55b026577f, false),
        (0x260b012010893d, false), (0x2df29cbcd59e9d, false), (0x3f2ac7488bd429, false),
        (0x3e5cb1711669fb, false), (0x226d8de57a9959, false), (0x3c8de80aaf5835, false),
        (0x2026a59efb219b, false), (0x39dfa4d13fb231, false), (0x3143d0464b3299, false),
    ])
    func irreducibility(value: UInt64, irreducible: Bool) {
        #expect(Polynomial(value).isIrreducible == irreducible)
    }

    @Test func modGcdMulMod() {
        #expect(Polynomial(10).mod(Polynomial(50)) == Polynomial(10))
        #expect(Self.bin("101101001").mod(Self.bin("1010")) == Self.bin("1"))
        #expect(Polynomial(0x8000000000000000).mod(Polynomial(0x8000000000000000)) == Polynomial(0))
        #expect(Self.bin("1100001111").mod(Self.bin("10011")) == Polynomial(0))
        let gcds: [(Polynomial, Polynomial, Polynomial)] = [
            (Polynomial(10), Polynomial(50), Polynomial(2)), (Polynomial(0), Polynomial(1), Polynomial(1)),
            (Self.bin("1010"), Self.bin("11"), Self.bin("11")), (Self.bin("1100"), Self.bin("101"), Self.bin("11")),
            (Polynomial(0x3DA3358B4DC173), Polynomial(0x230d2259defd), Polynomial(1)),
            (Polynomial(0x230d2259defd), Polynomial(0x51b492b3eff2), Self.bin("10011")),
        ]
        for (a, b, g) in gcds {
            #expect(Polynomial.gcd(a, b) == g)
            #expect(Polynomial.gcd(b, a) == g)
        }
        #expect(Polynomial.mulMod(Polynomial(0x1230), Polynomial(0x230), Polynomial(0x55)) == Polynomial(0x22))
        #expect(
            Polynomial.mulMod(Polynomial(0x0eae8c07dbbb3026), Polynomial(0xd5d6db9de04771de), Polynomial(0xdd2bda3b77c9))
                == Polynomial(0x425ae8595b7a))
    }

    @Test func randomPolynomialsAreIrreducibleDegree53() throws {
        for _ in 0..<5 {
            let p = try Polynomial.random()
            #expect(p.degree == 53)
            #expect(p.isIrreducible)
            let hex = String(p.value, radix: 16)
            #expect(hex.count == 14 && (hex.hasPrefix("2") || hex.hasPrefix("3")))
        }
    }

    /// Splits `data` by feeding it in pieces of `readSize`, returns (length, sha256) per chunk.
    static func split(_ data: [UInt8], polynomial: Polynomial, readSize: Int) -> [(Int, String, UInt64)] {
        var chunker = Chunker(polynomial: polynomial)
        var result: [(Int, String, UInt64)] = []
        var chunkStart = 0
        var pos = 0
        data.withUnsafeBytes { raw in
            while pos < data.count {
                let end = min(pos + readSize, data.count)
                var piece = UnsafeRawBufferPointer(rebasing: raw[pos..<end])
                var consumedBase = pos
                while let cut = chunker.findCut(in: piece) {
                    let chunkEnd = consumedBase + cut
                    result.append((chunkEnd - chunkStart, ID.hash(data[chunkStart..<chunkEnd]).hex, chunker.lastCutDigest))
                    chunkStart = chunkEnd
                    consumedBase = chunkEnd
                    piece = UnsafeRawBufferPointer(rebasing: raw[chunkEnd..<end])
                }
                pos = end
            }
        }
        if chunkStart < data.count {
            result.append((data.count - chunkStart, ID.hash(data[chunkStart...]).hex, 0))
        }
        return result
    }

    @Test func zerosCutEvery512KiB() {
        let chunks = Self.split(
            [UInt8](repeating: 0, count: 4 * 512 * 1024), polynomial: Polynomial(0x3DA3358B4DC173),
            readSize: 1 << 20)
        #expect(chunks.count == 4)
        for c in chunks {
            #expect(c.0 == 524_288)
            #expect(c.1 == "07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541")
        }
        #expect(chunks.dropLast().allSatisfy { $0.2 == 0 })
    }

    /// The portable vector of docs/FORMAT.md §11.2, checked against restic 0.14.0.
    static let portableInputData: [UInt8] = portableInput()

    static func portableInput() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(16_789_561 + 32)
        var i: UInt64 = 0
        while out.count < 16_789_561 {
            var le = i.littleEndian
            let digest = withUnsafeBytes(of: &le) { ID.hash($0) }
            out += digest.bytes
            i += 1
        }
        out.removeLast(out.count - 16_789_561)
        return out
    }

    static let portableChunks: [(Int, String)] = [
        (1015968, "f3d509f80ced030c820556a720ed8a395ba468bf124218fde1df63139d2df0ae"),
        (1087132, "a5e07d7324e2fdcc706d70f39cf41e7045abddb793548406951eae3fbb7260f4"),
        (693439, "10b46118bf46f7b5054ee5e19d93a6c022636835115c136c98013c2ddf7fbcbd"),
        (2344058, "0f8c4a4ff60f6c0316c2f53f6b04ca55d9b5d68c90288ebf537374ce93a5b235"),
        (903280, "5647a39c8263e250dad1dd2b7b6cc176fdbd81fcf43be0658770d48cc5af7317"),
        (1709091, "9bd9c9f3a863b862524ccc5b7d0235cc9a7a665bb2d4eabff73211f51357e161"),
        (1791277, "2456d6222d1ec9580910803169667a5037b3badc1fed91d0a4c2adc6b05d936b"),
        (1802453, "18a83fd6c22e203b6a607c4dfdbda600c2e9398abb10192efee2829fb4848438"),
        (1190352, "5b142bd3bcf6b1a8a1a5f84efe79af6a25c08b4290f4f992247da868c3b9c5b8"),
        (528291, "1d84450ab74ab66f6f27ff5d39568868ba6550505280d933f7906905e885099e"),
        (868679, "d5887d93b65c1396ad8f8303021e43968a89531f3f9045d22627853932002eaf"),
        (1105126, "7d8eec1f48a4cc758b6ff9d750b839e1b6a97fbeda6bac317a12882f72bf1416"),
        (1750415, "cf0bb63a22077b340a7804a7f7781f5a2cd85ea9cc5257ee893276ab752fa2c7"),
    ]

    @Test(arguments: [1 << 20, 65_536, 4_099])
    func portableVector(readSize: Int) {
        let input = Self.portableInputData
        #expect(ID.hash(input).hex == "54b637d382c30e9794de868007874e5bd3d4421fd5e71064b095c5ebb42a7f4e")
        let chunks = Self.split(input, polynomial: Polynomial(0x3da3358b4dc173), readSize: readSize)
        #expect(chunks.count == Self.portableChunks.count)
        for (got, want) in zip(chunks, Self.portableChunks) {
            #expect(got.0 == want.0)
            #expect(got.1 == want.1)
        }
    }

    @Test func smallAndEmptyInputs() {
        let p = Polynomial(0x3da3358b4dc173)
        #expect(Self.split([], polynomial: p, readSize: 100).isEmpty)
        let one = Self.split([UInt8](repeating: 9, count: 512 * 1024), polynomial: p, readSize: 100_000)
        #expect(one.count == 1 && one[0].0 == 512 * 1024)
    }

    @Test func maxSizeForcesCut() {
        // Data whose digest never has 20 low zero bits is unlikely; a constant 0xff stream
        // cuts at the first position with a zero mask, or at 8 MiB at the latest.
        let chunks = Self.split(
            [UInt8](repeating: 0xAB, count: 20 << 20), polynomial: Polynomial(0x3da3358b4dc173),
            readSize: 1 << 20)
        #expect(chunks.dropLast().allSatisfy { $0.0 >= Chunker.minSize && $0.0 <= Chunker.maxSize })
        #expect(chunks.reduce(0) { $0 + $1.0 } == 20 << 20)
    }
}

/// The optimised chunker against a direct transcription of docs/FORMAT.md §7.5 (a ring window,
/// one byte at a time), on inputs and read sizes chosen to hit every boundary of its phases.
@Suite struct ChunkerOracleTests {
    /// The cut positions of docs/FORMAT.md §7.5, computed the obvious way.
    static func referenceCuts(_ data: [UInt8], _ pol: Polynomial) -> [Int] {
        let t = Chunker.Tables(polynomial: pol)
        var cuts: [Int] = []
        var i = 0
        while i < data.count {
            var window = [UInt8](repeating: 0, count: 64)
            var wpos = 0
            var digest: UInt64 = 0
            func slide(_ b: UInt8) {
                let out = window[wpos]
                window[wpos] = b
                wpos = (wpos + 1) % 64
                digest ^= t.outTableForTesting[Int(out)]
                let top = Int(digest >> t.shiftForTesting)
                digest = ((digest << 8) | UInt64(b)) ^ t.modTableForTesting[top]
            }
            slide(1)
            let chunkStart = i
            i = min(data.count, i + Chunker.minSize - 64)
            var cut = false
            while i < data.count {
                slide(data[i])
                i += 1
                let count = i - chunkStart
                if count >= Chunker.minSize && ((digest & Chunker.splitMask) == 0 || count >= Chunker.maxSize) {
                    cuts.append(i)
                    cut = true
                    break
                }
            }
            if !cut { break }
        }
        return cuts
    }

    static func fastCuts(_ data: [UInt8], _ pol: Polynomial, readSizes: [Int]) -> [Int] {
        var chunker = Chunker(polynomial: pol)
        var cuts: [Int] = []
        var pos = 0
        var r = 0
        data.withUnsafeBytes { raw in
            while pos < data.count {
                let end = min(data.count, pos + readSizes[r % readSizes.count])
                r += 1
                var at = pos
                while at < end, let c = chunker.findCut(in: UnsafeRawBufferPointer(rebasing: raw[at..<end])) {
                    at += c
                    cuts.append(at)
                }
                pos = end
            }
        }
        return cuts
    }

    static let inputs: [(String, [UInt8])] = {
        var mixed = TreeBytes.random(3 << 20, seed: 5)
        mixed += [UInt8](repeating: 0, count: 1 << 20)
        mixed += TreeBytes.random(2 << 20, seed: 6)
        // A period-3 pattern never yields 20 zero low bits here, so it cuts at MaxSize.
        let periodic = (0..<(9 << 20)).map { UInt8(truncatingIfNeeded: $0 % 3 &* 77 &+ 1) }
        return [("random+zeros", mixed), ("periodic", periodic)]
    }()

    @Test(arguments: [[1 << 20], [64], [63, 65, 1], [100_000, 7, 64, 4096, 333_333], [Chunker.minSize - 64, 1, 63]])
    func matchesReference(readSizes: [Int]) {
        let pol = Polynomial(0x3da3358b4dc173)
        for (name, data) in Self.inputs {
            let expected = Self.referenceCuts(data, pol)
            #expect(!expected.isEmpty, "\(name)")
            #expect(Self.fastCuts(data, pol, readSizes: readSizes) == expected, "\(name) with reads \(readSizes)")
        }
    }
}

/// Deterministic bytes for chunker tests (xorshift).
enum TreeBytes {
    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var x = seed | 1
        return (0..<count).map { _ in
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            return UInt8(truncatingIfNeeded: x >> 24)
        }
    }
}
