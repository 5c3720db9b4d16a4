import Foundation
import OffsiteJobs

/// A `DaemonClock` the test moves by hand: time stands still until `advance(to:)`, which wakes
/// every sleeper whose date has come. `deadlines` shows what the daemon is waiting for, so a
/// test can tell "nothing runs before 11:00" from the schedule itself instead of by waiting.
final class SimulatedClock: DaemonClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    private var sleepers: [UUID: (date: Date, continuation: CheckedContinuation<Bool, Never>)] = [:]
    private var cancelled: Set<UUID> = []

    init(_ start: Date) { current = start }

    func now() -> Date { lock.withLock { current } }

    /// The dates the sleepers wait for, earliest first.
    var deadlines: [Date] { lock.withLock { sleepers.values.map(\.date).sorted() } }

    func sleep(until date: Date) async -> Bool {
        let id = UUID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = lock.withLock {
                    if cancelled.remove(id) != nil { return false }
                    if date <= current { return true }
                    sleepers[id] = (date, continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let sleeper = lock.withLock {
                let s = sleepers.removeValue(forKey: id)
                if s == nil { cancelled.insert(id) }
                return s
            }
            sleeper?.continuation.resume(returning: false)
        }
    }

    /// Moves the time to `date` and wakes the sleepers it reaches.
    func advance(to date: Date) {
        let woken = lock.withLock {
            current = date
            let due = sleepers.filter { $0.value.date <= date }
            for id in due.keys { sleepers[id] = nil }
            return due.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume(returning: true) }
    }
}
