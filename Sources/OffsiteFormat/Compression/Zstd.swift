import CZstd
public import Foundation

/// zstd framing for blobs and unpacked files (docs/FORMAT.md §5), over the system libzstd.
///
/// Frames are standard (RFC 8878), without checksum, like restic's. Readers never trust the
/// frame's content size: blobs are decoded into the length the index gives, unpacked files
/// with the streaming decoder.
public enum Zstd {
    /// restic's `--compression` levels mapped to libzstd levels.
    public enum Level: String, Sendable, CaseIterable {
        case auto, off, max, fastest, better

        /// The libzstd level (`off` still compresses trees and unpacked files, at `auto`'s level).
        ///
        /// restic's levels come from the Go zstd port (`SpeedDefault`, `SpeedBestCompression`, …),
        /// which are faster than libzstd's levels of similar ratio. On the benchmark dataset
        /// (docs/PERFORMANCE.md) libzstd level 2 gives a repository the size of restic's `auto`
        /// at 1.3–1.6× the speed of level 3, so `auto` is level 2; `max` is level 11, which
        /// compresses like restic's `max` at a usable speed (level 19 runs at a few MB/s).
        public var zstdLevel: Int32 {
            switch self {
            case .auto, .off: return 2
            case .fastest: return 1
            case .better: return 6
            case .max: return 11
            }
        }
    }

    /// Compresses `data` into one zstd frame at `level`.
    public static func compress(_ data: some ContiguousBytes, level: Int32) -> Data {
        data.withUnsafeBytes { src -> Data in
            let bound = ZSTD_compressBound(src.count)
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: bound, alignment: 16)
            defer { scratch.deallocate() }
            let cctx = ZSTD_createCCtx()
            defer { ZSTD_freeCCtx(cctx) }
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
            let written = ZSTD_compress2(cctx, scratch.baseAddress, bound, src.baseAddress, src.count)
            // Compressing into a buffer of ZSTD_compressBound cannot fail except on out-of-memory.
            precondition(ZSTD_isError(written) == 0, "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
            // An exact-size copy, so a well-compressed chunk does not keep its full-size buffer.
            return Data(UnsafeRawBufferPointer(rebasing: scratch[0..<written]))
        }
    }

    /// Decompresses a blob whose plaintext length is known from the index or pack header.
    /// Throws `.invalidData` if the frames are corrupt or do not hold exactly `expectedSize` bytes.
    public static func decompress(_ data: some ContiguousBytes, expectedSize: Int) throws -> Data {
        // Uninitialised output (zeroing it first would be a wasted pass over every byte).
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(expectedSize, 1), alignment: 16)
        let result = data.withUnsafeBytes { src in
            ZSTD_decompress(buffer, expectedSize, src.baseAddress, src.count)
        }
        if ZSTD_isError(result) != 0 {
            buffer.deallocate()
            throw FormatError(.invalidData, "zstd: \(String(cString: ZSTD_getErrorName(result)))")
        }
        guard result == expectedSize else {
            buffer.deallocate()
            throw FormatError(.invalidData, "zstd: decompressed \(result) bytes, \(expectedSize) expected")
        }
        return Data(bytesNoCopy: buffer, count: expectedSize, deallocator: .custom { p, _ in p.deallocate() })
    }

    /// Decompresses frames of unknown content size (snapshot, index and lock files).
    /// `limit` guards against decompression bombs.
    public static func decompressStream(_ data: some ContiguousBytes, limit: Int = 1 << 32) throws -> Data {
        guard let dctx = ZSTD_createDStream() else { throw FormatError(.invalidData, "zstd: out of memory") }
        defer { ZSTD_freeDStream(dctx) }
        var out = Data()
        let chunk = ZSTD_DStreamOutSize()
        var buffer = [UInt8](repeating: 0, count: chunk)
        try data.withUnsafeBytes { src in
            var input = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
            var lastResult = 0
            repeat {
                let produced = try buffer.withUnsafeMutableBytes { dst -> Int in
                    var output = ZSTD_outBuffer(dst: dst.baseAddress, size: chunk, pos: 0)
                    let r = ZSTD_decompressStream(dctx, &output, &input)
                    if ZSTD_isError(r) != 0 {
                        throw FormatError(.invalidData, "zstd: \(String(cString: ZSTD_getErrorName(r)))")
                    }
                    lastResult = r
                    return output.pos
                }
                out.append(contentsOf: buffer[0..<produced])
                guard out.count <= limit else { throw FormatError(.invalidData, "zstd: output exceeds \(limit) bytes") }
                if produced == 0 && input.pos == input.size { break }
            } while input.pos < input.size || lastResult != 0
            if lastResult != 0 { throw FormatError(.invalidData, "zstd: truncated frame") }
        }
        return out
    }
}

extension Zstd {
    /// A reusable compression context and output buffer, for compressing many blobs without
    /// allocating per blob. Not thread-safe: one task uses it at a time (keep them in a pool).
    public final class Compressor: @unchecked Sendable {
        private let cctx: OpaquePointer
        private var scratch: UnsafeMutableRawBufferPointer
        public let level: Int32

        public init(level: Int32) {
            self.level = level
            cctx = ZSTD_createCCtx()
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
            ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
            scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 16)
        }

        deinit {
            ZSTD_freeCCtx(cctx)
            scratch.deallocate()
        }

        /// Whether compressing `src` is likely to pay: compresses two 32 KiB samples (start and
        /// middle) at level 1 and says no when neither shrinks by 3% or more. Inputs under
        /// 64 KiB are always worth trying.
        public func looksCompressible(_ src: UnsafeRawBufferPointer) -> Bool {
            let sample = 32 << 10
            guard src.count >= 2 * sample else { return true }
            let bound = ZSTD_compressBound(sample)
            if scratch.count < bound {
                scratch.deallocate()
                scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: bound, alignment: 16)
            }
            for start in [0, src.count / 2] {
                let n = ZSTD_compressCCtx(cctx, scratch.baseAddress, bound, src.baseAddress! + start, sample, 1)
                if ZSTD_isError(n) == 0 && n < sample * 97 / 100 { return true }
            }
            return false
        }

        /// Compresses `src` into one frame and passes the frame to `body`. The bytes are valid
        /// only inside `body`.
        public func compress<T>(_ src: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
            let bound = ZSTD_compressBound(src.count)
            if scratch.count < bound {
                scratch.deallocate()
                scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: bound, alignment: 16)
            }
            let written = ZSTD_compress2(cctx, scratch.baseAddress, bound, src.baseAddress, src.count)
            precondition(ZSTD_isError(written) == 0, "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
            return try body(UnsafeRawBufferPointer(rebasing: scratch[0..<written]))
        }
    }
}
