public import Foundation

/// The time the daemon schedules by: the wall clock in production, a simulated one in tests
/// (so catch-up, first-start and missed-slot behaviour is checked at chosen instants without
/// waiting for them).
public protocol DaemonClock: Sendable {
    /// The current time.
    func now() -> Date
    /// Suspends until `now()` reaches `date`. Returns false when the task is cancelled first.
    func sleep(until date: Date) async -> Bool
}

/// The wall clock. `sleep(until:)` sleeps at most a second at a time and compares with the wall
/// clock again, so cancellation and clock changes (suspend, NTP steps) are noticed at once.
public struct WallClock: DaemonClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until date: Date) async -> Bool {
        while !Task.isCancelled {
            let remaining = date.timeIntervalSinceNow
            if remaining <= 0 { return true }
            do {
                try await Task.sleep(for: .milliseconds(Int(min(remaining, 1) * 1000) + 1))
            } catch {
                return false
            }
        }
        return false
    }
}
