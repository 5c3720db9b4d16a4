// The mutex every offsite module uses: Swift's `Synchronization.Mutex`, except in ThreadSanitizer
// runs (`make sanitize`, which builds with OFFSITE_TSAN=1).
//
// On Linux, Swift 6.3's `Synchronization.Mutex` locks with futex system calls and stdlib atomics
// that ThreadSanitizer cannot see, so TSan reports every access a mutex protects as a race
// (checked with a two-thread counter: 80,000 correct increments and a race report for each
// run). Under OFFSITE_TSAN the same API is provided by a pthread mutex, which TSan understands,
// so what it reports is real. Normal builds never see this type.

#if OFFSITE_TSAN
#if canImport(Glibc)
import Glibc
#endif

/// `Synchronization.Mutex`'s API over a pthread mutex (ThreadSanitizer builds only).
public final class Mutex<Value>: @unchecked Sendable {
    private var value: Value
    private let lock: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ initialValue: Value) {
        value = initialValue
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body(&value)
    }
}
#else
@_exported public import Synchronization
#endif
