/// restic's content-defined chunker: a Rabin fingerprint over a 64-byte window, cut where the
/// low 20 bits of the digest are zero, chunks between 512 KiB and 8 MiB.
///
/// Bit-identical to `restic/chunker` for any polynomial (FORMAT.md §7), so that offsite and restic
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
        var add = count
        var d = digest
        var wp = wpos
        let shift = tables.shift
        let minSize = Self.minSize, maxSize = Self.maxSize, mask = Self.splitMask
        let cut: Int? = window.withUnsafeMutableBufferPointer { win in
            tables.out.withUnsafeBufferPointer { outT in
                tables.mod.withUnsafeBufferPointer { modT in
                    while pos < n {
                        let b = buffer[pos]
                        pos += 1
                        let out = win[wp]
                        win[wp] = b
                        d ^= outT[Int(out)]
                        wp = (wp &+ 1) & 63
                        let index = Int(truncatingIfNeeded: d >> shift) & 0xFF
                        d = ((d << 8) | UInt64(b)) ^ modT[index]
                        add &+= 1
                        if add < minSize { continue }
                        if d & mask == 0 || add >= maxSize {
                            return pos
                        }
                    }
                    return nil
                }
            }
        }
        if let cut {
            lastCutDigest = d
            reset()
            return cut
        }
        digest = d
        wpos = wp
        count = add
        return nil
    }
}
