import ArgumentParser
import Dispatch
import Foundation
import OffsiteSync

#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM, watched from the moment the process starts: the work in progress (see
/// `runCancellable`) is cancelled instead of the process being killed, and a signal that comes
/// before the work has started is remembered, so it cancels the work as soon as it starts.
enum Interrupts {
    private struct State {
        var interrupted = false
        var work: Task<Void, any Error>? = nil
    }

    private static let state = Mutex(State())
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Call once, first thing in `main`.
    static func install() {
        // A handler that does nothing (not SIG_IGN: ignored signals stay ignored in the commands
        // we start, which then could not be stopped); the dispatch sources do the work.
        signal(SIGINT) { _ in }
        signal(SIGTERM) { _ in }
        // The same for SIGPIPE: a write to a closed pipe then fails with EPIPE, and a closed
        // standard output ends the command cleanly (`BrokenPipe`) instead of killing it with
        // its locks held.
        signal(SIGPIPE) { _ in }
        sources = [SIGINT, SIGTERM].map { sig in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler {
                Console.error("signal interrupt received, cleaning up")
                let work = state.withLock { s -> Task<Void, any Error>? in
                    s.interrupted = true
                    return s.work
                }
                work?.cancel()
            }
            s.resume()
            return s
        }
    }

    /// Registers the work to cancel; cancels it at once if a signal already came.
    static func register(_ work: Task<Void, any Error>) {
        let already = state.withLock { s -> Bool in
            s.work = work
            return s.interrupted
        }
        if already { work.cancel() }
    }

    static var wasInterrupted: Bool { state.withLock { $0.interrupted } }

    /// Cancels the registered work without counting it as an interruption (standard output
    /// was closed: `BrokenPipe`).
    static func cancelWork() {
        state.withLock { $0.work }?.cancel()
    }
}

/// Runs `body` so that SIGINT/SIGTERM cancel it instead of killing the process: the work stops
/// at its next cancellation point, nothing half-written becomes visible, and the command exits
/// with 130 as restic does.
func runCancellable(_ body: @escaping @Sendable () async throws -> Void) async throws {
    let work = Task { try await body() }
    Interrupts.register(work)
    do {
        try await work.value
    } catch is CancellationError {
        throw ExitCode(ExitStatus.interrupted)
    } catch let e as ExitCode {
        throw e
    } catch  where work.isCancelled {
        throw ExitCode(ExitStatus.interrupted)
    }
}
