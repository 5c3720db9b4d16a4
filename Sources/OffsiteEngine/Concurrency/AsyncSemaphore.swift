import Synchronization

/// A counting semaphore for async code: `acquire` suspends (without blocking a thread) until a
/// permit is free. Used to cap work in flight (files being read, chunks being processed).
///
/// Waiters are served first come, first served. Cancellation is not observed while waiting:
/// holders always release, so waiting ends.
final class AsyncSemaphore: Sendable {
    private struct State {
        var permits: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
        var head = 0
    }

    private let state: Mutex<State>

    init(permits: Int) {
        precondition(permits > 0, "a semaphore needs at least one permit")
        state = Mutex(State(permits: permits))
    }

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.permits > 0 {
                    s.permits -= 1
                    return true
                }
                s.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.head < s.waiters.count {
                let c = s.waiters[s.head]
                s.head += 1
                if s.head > 64 && s.head * 2 > s.waiters.count {
                    s.waiters.removeFirst(s.head)
                    s.head = 0
                }
                return c
            }
            s.permits += 1
            return nil
        }
        next?.resume()
    }

    /// Runs `body` holding one permit.
    func withPermit<T>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }
}
