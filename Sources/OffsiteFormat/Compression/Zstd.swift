import CZstd
public import Foundation

/// zstd framing for blobs and unpacked files (FORMAT.md §5), over the system libzstd.
///
/// Frames are standard (RFC 8878), without checksum, like restic's. Readers never trust the
/// frame's content size: blobs are decoded into the length the index gives, unpacked files
/// with the streaming decoder.
public enum Zstd {
    /// restic's `--compression` levels mapped to libzstd levels.
    public enum Level: String, Sendable, CaseIterable {
        case auto, off, max, fastest, better

        /// The libzstd level (`off` still compresses trees and unpacked files, at `auto`'s level).
        public var zstdLevel: Int32 {
            switch self {
            case .auto, .off: return 3
            case .fastest: return 1
            case .better: return 7
            case .max: return 19
            }
        }
    }

    /// Compresses `data` into one zstd frame at `level`.
    public static func compress(_ data: some ContiguousBytes, level: Int32) -> Data {
        data.withUnsafeBytes { src -> Data in
            let bound = ZSTD_compressBound(src.count)
            var out = Data(count: bound)
            let written = out.withUnsafeMutableBytes { dst -> Int in
                let cctx = ZSTD_createCCtx()
                defer { ZSTD_freeCCtx(cctx) }
                ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
                ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)
                return ZSTD_compress2(cctx, dst.baseAddress, bound, src.baseAddress, src.count)
            }
            // Compressing into a buffer of ZSTD_compressBound cannot fail except on out-of-memory.
            precondition(ZSTD_isError(written) == 0, "zstd compression failed: \(String(cString: ZSTD_getErrorName(written)))")
            out.count = written
            return out
        }
    }

    /// Decompresses a blob whose plaintext length is known from the index or pack header.
    /// Throws `.invalidData` if the frames are corrupt or do not hold exactly `expectedSize` bytes.
    public static func decompress(_ data: some ContiguousBytes, expectedSize: Int) throws -> Data {
        var out = Data(count: expectedSize)
        let result = data.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                ZSTD_decompress(dst.baseAddress, expectedSize, src.baseAddress, src.count)
            }
        }
        if ZSTD_isError(result) != 0 {
            throw FormatError(.invalidData, "zstd: \(String(cString: ZSTD_getErrorName(result)))")
        }
        guard result == expectedSize else {
            throw FormatError(.invalidData, "zstd: decompressed \(result) bytes, \(expectedSize) expected")
        }
        return out
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
