import Benchmark
import Foundation
import OffsiteEngine
import OffsiteFormat

// Micro-benchmarks of the hot paths (scripts/microbench): each runs in-process on seeded data,
// so a change to one of them shows its effect in seconds. scripts/bench compares whole commands
// with restic instead.

/// Keeps a result alive so the optimiser cannot drop the work that made it.
@inline(never) func blackHole<T>(_ value: T) { _ = value }

/// Seeded bytes (SplitMix64), the same for every run.
func seededBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    var out = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        for b in 0..<8 where i + b < count { out[i + b] = UInt8(truncatingIfNeeded: z >> (8 * UInt64(b))) }
        i += 8
    }
    return out
}

let mebibyte = 1 << 20
let random8MiB = seededBytes(8 * mebibyte, seed: 1)
let random1MiB = Array(random8MiB.prefix(mebibyte))
/// Half random, half a repeated phrase: something zstd can compress.
let mixed1MiB = Array(random8MiB.prefix(mebibyte / 2)) + Array(repeating: Array("offsite backs up ".utf8), count: mebibyte / 34).joined()
let key = CryptoKey.random()
let sealed1MiB = key.seal(random1MiB)
let tables = Chunker.Tables(polynomial: Polynomial(0x3DA3_358B_4DC1_73))

let format = BenchmarkSuite(name: "format") { suite in
    // Content-defined chunking of 8 MiB (restic's Rabin chunker, table-driven).
    suite.benchmark("chunker 8 MiB") {
        var chunker = Chunker(tables: tables)
        var chunks = 0
        random8MiB.withUnsafeBytes { buffer in
            var rest = buffer[...]
            while !rest.isEmpty, let cut = chunker.findCut(in: UnsafeRawBufferPointer(rebasing: rest)) {
                chunks += 1
                chunker.reset()
                rest = rest.dropFirst(cut)
            }
        }
        blackHole(chunks)
    }
    suite.benchmark("sha256 1 MiB") { blackHole(random1MiB.withUnsafeBytes { ID.hash($0) }) }
    suite.benchmark("seal 1 MiB (AES-256-CTR + Poly1305-AES)") { blackHole(key.seal(random1MiB)) }
    suite.benchmark("open 1 MiB") { blackHole(try! key.open(sealed1MiB)) }
    suite.benchmark("zstd level 3, 1 MiB") { blackHole(Zstd.compress(mixed1MiB, level: 3)) }
    // A pack of 16 blobs of 256 KiB: seal each, append it, seal the header, hash the pack.
    suite.benchmark("pack 16 x 256 KiB") {
        var builder = PackBuilder(reserve: 4 * mebibyte + 4096)
        random8MiB.withUnsafeBytes { all in
            for n in 0..<16 {
                let blob = UnsafeRawBufferPointer(rebasing: all[(n * 256 << 10)..<((n + 1) * 256 << 10)])
                try! builder.add(type: .data, id: ID.hash(blob), parts: key.sealParts(blob), uncompressedLength: 0)
            }
        }
        blackHole(builder.finish(key: key).id)
    }
}

// The master index with one million blobs in 10,000 packs: lookups of blobs it holds and of
// blobs it does not (backup asks for every chunk).
let indexedIDs = (0..<1_000_000).map { n in ID.hash(withUnsafeBytes(of: UInt64(n)) { Array($0) }) }
let missingIDs = (0..<100_000).map { n in ID.hash(withUnsafeBytes(of: UInt64(n + 10_000_000)) { Array($0) }) }
let index: MasterIndex = {
    let index = MasterIndex()
    index.reserveCapacity(indexedIDs.count)
    for pack in 0..<10_000 {
        let packID = ID.hash(withUnsafeBytes(of: UInt64(pack) | 1 << 63) { Array($0) })
        let blobs = (0..<100).map { i in
            PackBlob(type: .data, id: indexedIDs[pack * 100 + i], offset: UInt32(i * 4096), length: 4096)
        }
        index.add(pack: packID, blobs: blobs)
    }
    return index
}()

let indexSuite = BenchmarkSuite(name: "index") { suite in
    suite.benchmark("100,000 hits in 1M blobs") {
        var found = 0
        for id in indexedIDs.prefix(100_000) where index.has(BlobHandle(id: id, type: .data)) { found += 1 }
        blackHole(found)
    }
    suite.benchmark("100,000 misses in 1M blobs") {
        var found = 0
        for id in missingIDs where index.has(BlobHandle(id: id, type: .data)) { found += 1 }
        blackHole(found)
    }
}

Benchmark.main([format, indexSuite])
