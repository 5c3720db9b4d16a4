import Foundation
import OffsiteFuzzing
import OffsiteTesting
import Testing

/// The fuzz targets' short form in the normal test suite (CI): every corpus file of every target
/// (Fuzz/corpus/<target>/), and seeded mutations of each, through the same entry points as the
/// libFuzzer driver. The long runs are `make fuzz` (docs/RELIABILITY.md, Fuzzing).
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static func seeds(_ target: FuzzTarget) throws -> [(String, [UInt8])] {
        let dir = corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        return try names.map { ($0, Array(try Data(contentsOf: dir.appendingPathComponent($0)))) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpusAndMutations(_ target: FuzzTarget) async throws {
        let seeds = try Self.seeds(target)
        #expect(seeds.count >= 5, "Fuzz/corpus/\(target.rawValue) holds \(seeds.count) files")
        var rng = SplitMix64(seed: 0x0FF5_17E0 &+ UInt64(target.rawValue.utf8.count))
        for (name, bytes) in seeds {
            do {
                try await target.runAsync(bytes)
                for _ in 0..<200 { try await target.runAsync(Mutator.mutate(bytes, others: seeds, using: &rng)) }
            } catch {
                Issue.record("\(target.rawValue) \(name): \(error)")
            }
        }
    }
}

/// libFuzzer's cheap mutations (flip, insert, erase, duplicate and splice bytes), from a seeded
/// generator: a failure replays by rerunning the test.
enum Mutator {
    static let interesting: [[UInt8]] = [
        [0], [0xFF], Array("\"".utf8), Array("\\".utf8), Array("{".utf8), Array("[".utf8),
        Array("-1".utf8), Array("4294967296".utf8), Array("\n".utf8), Array("*".utf8), Array("/".utf8), Array(":".utf8),
        Array("%".utf8), Array("'".utf8), Array("#".utf8), Array("\u{00E9}".utf8), [0xC3], [0xED, 0xA0, 0x80],
    ]

    static func mutate(_ input: [UInt8], others: [(String, [UInt8])], using rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where at < bytes.count: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1: bytes.insert(contentsOf: interesting.randomElement(using: &rng)!, at: at)
            case 2 where at < bytes.count: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...8, using: &rng)))
            case 3 where at < bytes.count:
                let end = min(bytes.count, at + Int.random(in: 1...16, using: &rng))
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            case 4:
                let other = others.randomElement(using: &rng)!.1
                if !other.isEmpty {
                    let from = Int.random(in: 0..<other.count, using: &rng)
                    bytes.insert(contentsOf: other[from..<min(other.count, from + Int.random(in: 1...32, using: &rng))], at: at)
                }
            default: bytes = Array(bytes.prefix(at))
            }
        }
        return bytes
    }
}
