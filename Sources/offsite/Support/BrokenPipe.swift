import Foundation
import OffsiteSync

#if canImport(Glibc)
import Glibc
#endif

/// A reader that stops early (`offsite dump latest /app.sql | head`, `offsite ls … | less` quit
/// early) closes the pipe on standard output. That is normal, not an error: the command stops
/// its work, releases its locks and ends silently the way restic (a Go program) does, killed by
/// SIGPIPE, which a shell reports as exit status 141.
enum BrokenPipe {
    private static let broken = Mutex(false)

    /// Whether a write to standard output found the pipe closed.
    static var happened: Bool { broken.withLock { $0 } }

    /// Records a closed standard output and cancels the command's work (`runCancellable`).
    static func record() {
        let first = broken.withLock { b -> Bool in
            defer { b = true }
            return !b
        }
        if first { Interrupts.cancelWork() }
    }

    /// Ends the process by SIGPIPE, with no message (exit status 141 in a shell).
    static func exitBySignal() -> Never {
        signal(SIGPIPE, SIG_DFL)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        raise(SIGPIPE)
        exit(128 + SIGPIPE)
    }

    /// The error a write to a closed standard output throws.
    struct Closed: Error {}
}

/// Writes all of `bytes` to standard output (fd 1). A closed pipe is recorded (`BrokenPipe`)
/// and throws `BrokenPipe.Closed`; later writes are dropped.
func writeStandardOutput(_ bytes: UnsafeRawBufferPointer) throws {
    if BrokenPipe.happened { throw BrokenPipe.Closed() }
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(1, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 {
            let err = errno
            if err == EINTR { continue }
            if err == EPIPE {
                BrokenPipe.record()
                throw BrokenPipe.Closed()
            }
            throw CLIError.fatal("writing to stdout failed: \(String(cString: strerror(err)))")
        }
        offset += n
    }
}
