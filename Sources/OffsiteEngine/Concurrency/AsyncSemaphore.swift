import OffsiteSync

/// A counting semaphore for async code: `acquire` suspends (without blocking a thread) until
/// enough permits are free. Used to cap work in flight: files being read, chunks being
/// processed, and (with weights) the bytes those chunks hold.
///
/// Waiters are served first come, first served, so a large request is not starved by small
/// ones. A request for more than the total is granted the total. Cancellation is not observed
/// while waiting: holders always release, so waiting ends.
final class AsyncSemaphore: Sendable {
    private struct State {
        var permits: Int
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var head = 0
    }

    private let state: Mutex<State>
    let total: Int

    init(permits: Int) {
        precondition(permits > 0, "a semaphore needs at least one permit")
        total = permits
        state = Mutex(State(permits: permits))
    }

    /// Waits for `count` permits (clamped to the total); give them back with `release(count)`.
    func acquire(_ count: Int = 1) async {
        let n = min(max(count, 1), total)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.head == s.waiters.count && s.permits >= n {
                    s.permits -= n
                    return true
                }
                s.waiters.append((n, c))
                return false
            }
            if resumeNow { c.resume() }
        }
    }

    func release(_ count: Int = 1) {
        let n = min(max(count, 1), total)
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.permits += n
            var ready: [CheckedContinuation<Void, Never>] = []
            while s.head < s.waiters.count && s.waiters[s.head].count <= s.permits {
                s.permits -= s.waiters[s.head].count
                ready.append(s.waiters[s.head].continuation)
                s.head += 1
            }
            if s.head > 64 && s.head * 2 > s.waiters.count {
                s.waiters.removeFirst(s.head)
                s.head = 0
            }
            return ready
        }
        for c in ready { c.resume() }
    }

    /// Runs `body` holding one permit.
    func withPermit<T>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }
}
