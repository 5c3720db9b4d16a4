import Foundation
import OffsiteEngine

#if canImport(Glibc)
import Glibc
#endif

/// Buffered, binary-safe writes to stdout (fd 1) for commands whose output is data or long
/// listings (`dump`, `find`, `diff`): small writes are gathered into 256 KiB chunks, large ones
/// go straight through. Call `flush()` before returning.
final class StandardOutput: ByteSink {
    private var buffer: [UInt8] = []
    private static let chunk = 256 << 10

    init() { buffer.reserveCapacity(Self.chunk) }

    /// Whether stdout is a terminal (`dump` refuses to write an archive there).
    static var isTerminal: Bool { isatty(1) == 1 }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count <= Self.chunk {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count < Self.chunk {
            buffer.append(contentsOf: bytes)
        } else {
            try Self.writeAll(bytes)
        }
    }

    /// Writes text as UTF-8 (no newline added).
    func print(_ text: String) throws { try write(Array(text.utf8)) }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try Self.writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private static func writeAll(_ bytes: UnsafeRawBufferPointer) throws { try writeStandardOutput(bytes) }
}
