public import Foundation

/// Where `Dump` writes its output: bytes in order (stdout in the CLI, memory in tests).
///
/// `write` is called from one task at a time; an error it throws stops the dump and is
/// passed on to the caller.
public protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

extension ByteSink {
    public func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    public func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }
}

/// A sink that keeps everything in memory (for tests and small outputs).
public final class MemorySink: ByteSink {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public func write(_ bytes: UnsafeRawBufferPointer) throws { self.bytes.append(contentsOf: bytes) }
}

/// Counts what passes through to another sink (archives need their own offsets).
final class CountingSink: ByteSink {
    let base: any ByteSink
    private(set) var count: UInt64 = 0

    init(_ base: any ByteSink) { self.base = base }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try base.write(bytes)
        count += UInt64(bytes.count)
    }
}
