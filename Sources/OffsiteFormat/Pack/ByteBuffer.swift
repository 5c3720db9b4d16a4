public import Foundation
import OffsiteSync

/// A growable byte buffer with reference semantics, so that handing it from task to task never
/// copies it (a `Data` passed around and then emptied for reuse is often still shared, and
/// emptying a shared `Data` allocates a fresh one).
public final class ByteBuffer: ContiguousBytes, @unchecked Sendable {
    public private(set) var base: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    public private(set) var count = 0

    public init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 64)
    }

    deinit { base.deallocate() }

    public func reserve(_ n: Int) {
        guard n > capacity else { return }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
        bigger.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = bigger
        capacity = n
    }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, !bytes.isEmpty else { return }
        if count + bytes.count > capacity { reserve(max(capacity * 2, count + bytes.count)) }
        (base + count).copyMemory(from: src, byteCount: bytes.count)
        count += bytes.count
    }

    public func append(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func removeAll() { count = 0 }

    /// The bytes as `Data` without copying. The buffer stays alive (and must not be changed)
    /// until that `Data` is released; then `onRelease` runs (to put the buffer back in a pool).
    public func data(onRelease: @escaping @Sendable (ByteBuffer) -> Void = { _ in }) -> Data {
        Data(bytesNoCopy: base, count: count, deallocator: .custom { _, _ in onRelease(self) })
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }
}

/// Keeps a few `ByteBuffer`s for reuse, so chunk buffers are not mapped, page-faulted and
/// zeroed again for every chunk (some 500,000 page faults per GB read otherwise).
public final class BufferPool: Sendable {
    private let items = Mutex<[ByteBuffer]>([])
    private let limit: Int

    public init(limit: Int) { self.limit = limit }

    /// An empty buffer with room for at least `capacity` bytes.
    public func take(capacity: Int) -> ByteBuffer {
        if let b = items.withLock({ $0.popLast() }) {
            b.reserve(capacity)
            return b
        }
        return ByteBuffer(capacity: capacity)
    }

    /// Returns a buffer for reuse (dropped when the pool is full).
    public func give(_ buffer: ByteBuffer) {
        buffer.removeAll()
        items.withLock { list in
            if list.count < limit { list.append(buffer) }
        }
    }
}
