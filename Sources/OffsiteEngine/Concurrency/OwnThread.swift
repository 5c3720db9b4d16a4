public import Foundation

/// Runs `body`, which blocks (waits for a child process, reads a terminal or a pipe), on a
/// thread of its own and waits for it without holding one of Swift's cooperative threads:
/// there are only as many of those as cores, and a blocked one stalls every task of the
/// process queued behind it.
public func onOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = name
        thread.start()
    }
}

/// `onOwnThread` for work that cannot fail.
public func onOwnThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = name
        thread.start()
    }
}
