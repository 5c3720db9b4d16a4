public import Foundation
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Runs the programs the orchestrator drives (offsite itself, psql, redis-server…) with an
/// explicit environment: secrets travel there, never on a command line other processes can read.
public enum CommandRunner {
    public struct Output: Sendable {
        /// The exit status, or 128 + the signal that killed the process (as shells report it).
        public var status: Int32
        public var stdout: String
        /// The last 64 KiB the program wrote to standard error.
        public var stderr: String

        public var succeeded: Bool { status == 0 }

        /// The last non-empty lines of standard error, for a one-line reason.
        public func reason(lines: Int = 3) -> String {
            let tail = stderr.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("signal interrupt received") }.suffix(lines)
            return tail.isEmpty ? "exit status \(status)" : tail.joined(separator: " / ")
        }
    }

    static let stderrLimit = 64 * 1024
    static let stdoutLimit = 64 * 1024 * 1024

    /// Runs `argv` (the first element a path, or a name looked up on the environment's PATH).
    /// Cancelling the calling task sends the program SIGTERM (offsite then stops at its next
    /// cancellation point, removes what it half-wrote and releases its lock) and SIGKILL after
    /// `graceSeconds`.
    /// - Throws: `JobsError(.io)` if the program cannot be started.
    public static func run(
        _ argv: [String], environment: [String: String], workingDirectory: String? = nil, graceSeconds: Int = 30
    ) async throws(JobsError) -> Output {
        precondition(!argv.isEmpty)
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(graceSeconds))]
        let executable: Executable = argv[0].contains("/") ? .path(FilePath(argv[0])) : .name(argv[0])
        var env: [Environment.Key: String] = [:]
        for (k, v) in environment { env[Environment.Key(stringLiteral: k)] = v }
        do {
            let result = try await Subprocess.run(
                executable, arguments: Arguments(Array(argv.dropFirst())), environment: .custom(env),
                workingDirectory: workingDirectory.map { FilePath($0) }, platformOptions: options,
                input: .none, output: .sequence, error: .sequence
            ) { execution in
                let (standardOutput, standardError) = (execution.standardOutput, execution.standardError)
                // Drained in a task the caller's cancellation does not reach: a cancelled caller's
                // streams would end at once and close the pipes, and the program, told to stop by
                // the teardown's SIGTERM, would die of SIGPIPE on its next write before removing
                // its lock. The streams end when the program exits.
                return try await Task {
                    async let errorTail: [UInt8] = {
                        var tail: [UInt8] = []
                        for try await chunk in standardError {
                            chunk.withUnsafeBytes { tail.append(contentsOf: $0) }
                            if tail.count > 2 * stderrLimit { tail.removeFirst(tail.count - stderrLimit) }
                        }
                        return Array(tail.suffix(stderrLimit))
                    }()
                    var out: [UInt8] = []
                    for try await chunk in standardOutput where out.count < stdoutLimit {
                        chunk.withUnsafeBytes { out.append(contentsOf: $0) }
                    }
                    return (out, try await errorTail)
                }.value
            }
            let status: Int32
            switch result.terminationStatus {
            case .exited(let code): status = Int32(code)
            case .signaled(let signal): status = 128 + Int32(signal)
            }
            let (out, err) = result.closureResult
            return Output(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
        } catch let error as SubprocessError {
            throw JobsError(.io, "cannot run \(argv[0]): \(error); check that it is installed and on PATH")
        } catch {
            throw JobsError(.io, "running \(argv[0]) failed: \(error)")
        }
    }
}
