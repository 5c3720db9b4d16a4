import ArgumentParser
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` so that SIGINT/SIGTERM cancel it instead of killing the process: the work stops
/// at its next cancellation point, nothing half-written becomes visible, and the command exits
/// with 130 as restic does.
func runCancellable(_ body: @escaping @Sendable () async throws -> Void) async throws {
    // A handler that does nothing (not SIG_IGN: ignored signals stay ignored in the commands we
    // start, which then could not be stopped); the dispatch sources below do the work.
    signal(SIGINT) { _ in }
    signal(SIGTERM) { _ in }
    let work = Task { try await body() }
    let sources = [SIGINT, SIGTERM].map { sig -> any DispatchSourceSignal in
        let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        s.setEventHandler {
            Console.error("signal interrupt received, cleaning up")
            work.cancel()
        }
        s.resume()
        return s
    }
    defer { sources.forEach { $0.cancel() } }
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
