import Foundation
import OffsiteEngine

/// Polls `condition` every `interval` until it holds or `timeout` has passed, and returns
/// whether it held. Waiting suspends the task (a timer on a dispatch queue resumes it), never
/// `usleep`: a test that blocks one of Swift's cooperative threads (as many as cores, 2 in CI)
/// stalls every other test of the run for as long as it waits. Cancellation does not cut the
/// waits short, so a caller's clean-up never runs early.
public func eventually(
    timeout: Duration, interval: Duration = .milliseconds(100), _ condition: () throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try condition() { return true }
        if clock.now >= deadline { return false }
        await pause(interval)
    }
}

/// Suspends for `duration` without holding a thread, whether or not the task is cancelled.
public func pause(_ duration: Duration) async {
    let (seconds, attoseconds) = duration.components
    let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { continuation.resume() }
    }
}

/// `eventually` for a moment that passes in milliseconds (a kill that must land mid-way
/// through a command): the polls run on a thread of their own, so they keep their pace however
/// busy the cooperative threads are, and the task waits suspended.
public func eventuallyOnOwnThread(
    timeout: Duration, interval: Duration = .milliseconds(2), _ condition: @escaping @Sendable () -> Bool
) async -> Bool {
    let (seconds, attoseconds) = interval.components
    let micros = useconds_t(max(1, Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000)))
    return await onOwnThread("eventuallyOnOwnThread") {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var held = condition()
        while !held && clock.now < deadline {
            usleep(micros)
            held = condition()
        }
        return held
    }
}
