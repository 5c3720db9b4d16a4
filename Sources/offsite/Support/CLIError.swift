import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage

/// Errors of the command line itself.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var exitCode: Int32

    static func fatal(_ message: String) -> CLIError { CLIError(message: message, exitCode: 1) }

    var description: String { message }
}

/// restic's exit codes (docs/ARCHITECTURE.md, section 1). Only the executable maps errors to them.
enum ExitStatus {
    static let ok: Int32 = 0
    static let fatal: Int32 = 1
    static let partial: Int32 = 3
    static let noRepository: Int32 = 10
    static let lockFailed: Int32 = 11
    static let wrongPassword: Int32 = 12
    static let interrupted: Int32 = 130

    static func code(for error: any Error) -> Int32 {
        switch error {
        case let e as CLIError: return e.exitCode
        case let e as EngineError:
            switch e.code {
            case .repositoryNotFound: return noRepository
            case .wrongPassword: return wrongPassword
            case .incomplete: return partial
            case .locked: return lockFailed
            default: return fatal
            }
        default: return fatal
        }
    }
}

/// Runs a command body; prints `Fatal: <message>` to stderr and exits with restic's code on error.
/// SIGINT and SIGTERM cancel the body (`runCancellable`): it stops at its next cancellation
/// point, the locks it holds are released, and the command exits 130, as restic's do. A closed
/// standard output (`BrokenPipe`) stops the body the same way, and the command then ends by
/// SIGPIPE with no message.
func runCommand(_ body: @escaping @Sendable () async throws -> Void) async throws {
    do {
        try await runCancellable(body)
        await HeldLocks.releaseAll()
        if BrokenPipe.happened { BrokenPipe.exitBySignal() }
    } catch let e as ExitCode {
        await HeldLocks.releaseAll()
        if BrokenPipe.happened { BrokenPipe.exitBySignal() }
        throw e
    } catch {
        await HeldLocks.releaseAll()
        if BrokenPipe.happened { BrokenPipe.exitBySignal() }
        let message: String
        switch error {
        case let e as CLIError: message = e.message
        case let e as EngineError: message = e.message
        case let e as FormatError: message = e.message
        case let e as StorageError: message = e.message
        default: message = "\(error)"
        }
        Console.error("Fatal: \(message)")
        throw ExitCode(ExitStatus.code(for: error))
    }
}
