import OffsiteFormat

/// What all the streams of one backup share to bound the chunks in flight: a count (so every
/// core has work), a byte budget (so a run of 8 MiB chunks from one large file cannot fill
/// memory: each in-flight chunk exists up to three times, as read, compressed and encrypted),
/// and the pool their buffers are reused from.
struct ChunkBudget: Sendable {
    let slots: AsyncSemaphore
    /// Permits are MiB of chunk data.
    let mebibytes: AsyncSemaphore
    let buffers: BufferPool

    init(chunks: Int, bytes: Int) {
        slots = AsyncSemaphore(permits: max(1, chunks))
        mebibytes = AsyncSemaphore(permits: max(Chunker.maxSize >> 20, bytes >> 20))
        buffers = BufferPool(limit: max(1, chunks))
    }

    /// Waits until a chunk of `size` bytes may be processed.
    func acquire(size: Int) async {
        await slots.acquire()
        await mebibytes.acquire(Self.weight(size))
    }

    func release(size: Int) {
        mebibytes.release(Self.weight(size))
        slots.release()
    }

    static func weight(_ size: Int) -> Int { max(1, (size + (1 << 20) - 1) >> 20) }
}
