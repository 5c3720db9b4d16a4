import CPosix

/// Keeps the resident memory of a long backup flat.
///
/// glibc raises its mmap threshold every time a large block is freed, after which 8–16 MiB
/// chunk and pack buffers come from per-thread arenas that keep their pages after `free`; over
/// a long backup the arenas hold many such buffers and RSS grows with the amount of data read.
/// A fixed threshold keeps large buffers in mmap, returned to the system as soon as they are
/// freed (measured: peak RSS 178 MB → 108 MB on a 400 MB backup, for some 0.2 s of page faults).
/// Two arenas instead of eight per core: the hot buffers are pooled (`BufferPool`), so the
/// allocator sees little contention, and fewer arenas hold fewer stray free pages (1 GB backup:
/// 118 MB → 111 MB peak, and a third fewer page faults).
/// Free memory at the top of a heap is kept up to 64 MiB instead of 128 KiB: restore's 4 MiB
/// pack windows are allocated and freed all the time, and trimming them away meant faulting
/// the same pages in again (1 GB restore: 1.6 → 1.2 s of system time, same peak RSS).
public enum MemoryTuning {
    public static func apply() {
        #if canImport(Glibc)
        _ = mallopt(M_MMAP_THRESHOLD, 4 << 20)
        _ = mallopt(M_ARENA_MAX, 2)
        _ = mallopt(M_TRIM_THRESHOLD, 64 << 20)
        #endif
    }
}
