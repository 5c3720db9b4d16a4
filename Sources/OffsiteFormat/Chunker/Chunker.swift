/// restic's content-defined chunker: a Rabin fingerprint over a 64-byte window, cut where the
/// low 20 bits of the digest are zero, chunks between 512 KiB and 8 MiB.
///
/// Bit-identical to `restic/chunker` for any polynomial (docs/FORMAT.md §7), so that offsite and restic
/// split the same file into the same blobs and deduplicate against each other.
///
/// Use: `reset()` at the start of every file, then feed buffers to `findCut(in:)`; it returns
/// the length of the prefix that ends the current chunk, or nil when the whole buffer belongs to
/// the current chunk. Not thread-safe; one per file at a time.
public struct Chunker: Sendable {
    public static let windowSize = 64
    public static let minSize = 512 * 1024
    public static let maxSize = 8 * 1024 * 1024
    public static let splitMask: UInt64 = (1 << 20) - 1

    /// Lookup tables for one polynomial; compute once and share.
    public struct Tables: Sendable {
        public let polynomial: Polynomial
        let out: [UInt64]
        let mod: [UInt64]
        let shift: UInt64

        public init(polynomial: Polynomial) {
            self.polynomial = polynomial
            func appendByte(_ h: UInt64, _ b: UInt8) -> UInt64 {
                Polynomial((h << 8) | UInt64(b)).mod(polynomial).value
            }
            var out = [UInt64](repeating: 0, count: 256)
            for b in 0..<256 {
                var h = appendByte(0, UInt8(b))
                for _ in 0..<(Chunker.windowSize - 1) { h = appendByte(h, 0) }
                out[b] = h
            }
            let k = UInt64(polynomial.degree)
            var mod = [UInt64](repeating: 0, count: 256)
            for b in 0..<256 {
                mod[b] = Polynomial(UInt64(b) << k).mod(polynomial).value | (UInt64(b) << k)
            }
            self.out = out
            self.mod = mod
            self.shift = k - 8
        }

        /// The tables, for tests that check the chunker against a plain transcription.
        public var outTableForTesting: [UInt64] { out }
        public var modTableForTesting: [UInt64] { mod }
        public var shiftForTesting: UInt64 { shift }
    }

    public let tables: Tables
    private var window = [UInt8](repeating: 0, count: Chunker.windowSize)
    private var wpos = 0
    private var digest: UInt64 = 0
    /// Bytes in the current chunk so far.
    public private(set) var count = 0
    /// Bytes still to take without hashing at the start of the chunk.
    private var pre = 0
    /// The digest at the last cut (restic's `Chunk.Cut`), for tests.
    public private(set) var lastCutDigest: UInt64 = 0

    public init(tables: Tables) {
        self.tables = tables
        reset()
    }

    public init(polynomial: Polynomial) {
        self.init(tables: Tables(polynomial: polynomial))
    }

    /// Starts a new chunk (call at the start of every file; `findCut` calls it after each cut).
    public mutating func reset() {
        for i in 0..<Self.windowSize { window[i] = 0 }
        wpos = 0
        digest = 0
        count = 0
        slide(1)
        pre = Self.minSize - Self.windowSize
    }

    private mutating func slide(_ b: UInt8) {
        let out = window[wpos]
        window[wpos] = b
        digest ^= tables.out[Int(out)]
        wpos = (wpos + 1) & (Self.windowSize - 1)
        let index = Int(truncatingIfNeeded: digest >> tables.shift) & 0xFF
        digest = ((digest << 8) | UInt64(b)) ^ tables.mod[index]
    }

    /// Scans `buffer` for the end of the current chunk. Returns the number of bytes from the
    /// start of `buffer` that complete the chunk (the state is then reset for the next one), or
    /// nil if all of `buffer` belongs to the current chunk.
    public mutating func findCut(in buffer: UnsafeRawBufferPointer) -> Int? {
        var pos = 0
        let n = buffer.count
        if pre > 0 {
            let take = min(pre, n)
            pre -= take
            count += take
            pos = take
            if pos == n { return nil }
        }
        // The byte leaving the 64-byte window is the byte hashed 64 steps earlier: for the first
        // 64 bytes hashed in this call it is in `window` (a ring whose oldest byte is at `wpos`),
        // after that it is in `buffer` itself, so the hot loop keeps no ring. A cut below MinSize
        // is only possible among the first 64 bytes hashed after a reset (phase 1), and MaxSize
        // bounds the hot loop, so phase 2 tests only the digest.
        let start = pos
        var add = count
        var d = digest
        var cut: Int? = nil
        let shift = tables.shift
        let minSize = Self.minSize, maxSize = Self.maxSize, mask = Self.splitMask
        let wp = wpos
        window.withUnsafeBufferPointer { win in
            tables.out.withUnsafeBufferPointer { outT in
                tables.mod.withUnsafeBufferPointer { modT in
                    let ringEnd = min(n, start + Self.windowSize)
                    while pos < ringEnd {
                        let b = buffer[pos]
                        let out = win[(wp &+ (pos &- start)) & 63]
                        pos &+= 1
                        d ^= outT[Int(out)]
                        d = ((d << 8) | UInt64(b)) ^ modT[Int(truncatingIfNeeded: d >> shift)]
                        add &+= 1
                        if add >= minSize && (d & mask == 0 || add >= maxSize) {
                            cut = pos
                            return
                        }
                    }
                    // Phase 2. Once the initial 0x01 has left the window, the digest is the
                    // fingerprint of the last 64 bytes alone, so the second half of the range
                    // can be searched by an independent lane (warmed up on the 64 bytes before
                    // it) interleaved with the first: two dependency chains instead of one.
                    let phase2 = pos
                    let end = min(n, pos + (maxSize - add))
                    @inline(__always) func step(_ d: inout UInt64, _ at: Int) {
                        d ^= outT[Int(buffer[at &- 64])]
                        d = ((d << 8) | UInt64(buffer[at])) ^ modT[Int(truncatingIfNeeded: d >> shift)]
                    }
                    var found: Int? = nil
                    if end - phase2 >= 4096 {
                        let mid = phase2 + (end - phase2) / 2
                        var dB: UInt64 = 0
                        for at in (mid - 64)..<mid {
                            dB = ((dB << 8) | UInt64(buffer[at])) ^ modT[Int(truncatingIfNeeded: dB >> shift)]
                        }
                        var a = phase2, b = mid
                        var cutB: Int? = nil
                        var dAtB: UInt64 = 0
                        while a < mid {
                            step(&d, a)
                            a &+= 1
                            if d & mask == 0 { found = a; break }
                            if cutB == nil {
                                step(&dB, b)
                                b &+= 1
                                if dB & mask == 0 {
                                    cutB = b
                                    dAtB = dB
                                }
                            }
                        }
                        if found == nil {
                            if let cutB {
                                found = cutB
                                d = dAtB
                            } else {
                                while b < end {
                                    step(&dB, b)
                                    b &+= 1
                                    if dB & mask == 0 { found = b; break }
                                }
                                d = dB
                            }
                        }
                        pos = found ?? end
                    } else {
                        while pos < end {
                            step(&d, pos)
                            pos &+= 1
                            if d & mask == 0 {
                                found = pos
                                break
                            }
                        }
                    }
                    add &+= pos &- phase2
                    if found != nil || (pos > phase2 && add >= maxSize) { cut = pos }
                }
            }
        }
        if let cut {
            lastCutDigest = d
            reset()
            return cut
        }
        // Keep the last 64 hashed bytes for the next call.
        let hashed = n - start
        if hashed >= Self.windowSize {
            for k in 0..<Self.windowSize { window[k] = buffer[n - Self.windowSize + k] }
            wpos = 0
        } else {
            for k in 0..<hashed { window[(wpos + k) & 63] = buffer[start + k] }
            wpos = (wpos + hashed) & 63
        }
        digest = d
        count = add
        return nil
    }
}
