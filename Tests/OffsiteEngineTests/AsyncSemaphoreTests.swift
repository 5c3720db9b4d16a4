import OffsiteSync
import Testing

@testable import OffsiteEngine

@Suite struct AsyncSemaphoreTests {
    final class Gauge: Sendable {
        let state = Mutex((now: 0, peak: 0))
        func add(_ n: Int) {
            state.withLock {
                $0.now += n; $0.peak = max($0.peak, $0.now)
            }
        }
        func remove(_ n: Int) { state.withLock { $0.now -= n } }
    }

    @Test func neverExceedsTheTotal() async {
        let sem = AsyncSemaphore(permits: 10)
        let gauge = Gauge()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                let weight = [1, 3, 7, 12][i % 4]  // 12 is clamped to 10
                group.addTask {
                    await sem.acquire(weight)
                    gauge.add(min(weight, 10))
                    await Task.yield()
                    gauge.remove(min(weight, 10))
                    sem.release(weight)
                }
            }
        }
        let state = gauge.state.withLock { $0 }
        #expect(state.peak <= 10)
        #expect(state.peak > 1)
        #expect(state.now == 0)
        // Everything was given back: the whole total can be taken again at once.
        await sem.acquire(10)
        sem.release(10)
    }
}
