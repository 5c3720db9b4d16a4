import Foundation
import OffsiteSync
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A drill's private scratch directory: `offsite-drill-JOB-XXXXXX` made by `mkdtemp` (mode 0700)
/// under the given base, removed with everything restored into it.
struct DrillScratch: Sendable {
    let path: String

    /// - Throws: `.io` when the base does not exist or is not writable.
    init(base: String, job: String) throws(JobsError) {
        let safe = String(job.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "-" ? Character($0) : "_" }.prefix(40))
        var template = Array(((base as NSString).standardizingPath + "/offsite-drill-\(safe)-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw JobsError(.io, "cannot create a scratch directory under \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    /// Removes the directory, first making restored read-only directories writable.
    func remove() {
        let fm = FileManager.default
        if let e = fm.enumerator(atPath: path) {
            for case let rel as String in e {
                var st = stat()
                let full = path + "/" + rel
                if lstat(full, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { chmod(full, 0o700) }
            }
        }
        try? fm.removeItem(atPath: path)
    }

    /// Regular files below `directory` and their total size (symlinks not followed).
    static func census(_ directory: String) -> (files: Int, bytes: Int64) {
        var files = 0
        var bytes: Int64 = 0
        guard let e = FileManager.default.enumerator(atPath: directory) else { return (0, 0) }
        for case let rel as String in e {
            var st = stat()
            if lstat(directory + "/" + rel, &st) == 0, st.st_mode & S_IFMT == S_IFREG {
                files += 1
                bytes += Int64(st.st_size)
            }
        }
        return (files, bytes)
    }
}

/// A free TCP port on 127.0.0.1 (bound to port 0, then released).
func freeLoopbackPort() throws(JobsError) -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw JobsError(.io, "socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw JobsError(.io, "no free port on 127.0.0.1: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs `producer | consumer` (`offsite dump … | psql …`) through a pipe, no temporary file: the
/// consumer reads the producer's standard output. Each gets its own environment; standard error
/// tails are kept for the reasons. When the consumer stops early the producer gets EPIPE.
enum DrillPipe {
    /// The parent's copy of one end of the pipe, closed once (after the child holding it started,
    /// or when starting it failed).
    final class End: Sendable {
        let fd: Int32
        private let open = Mutex(true)
        init(_ fd: Int32) { self.fd = fd }
        func close() {
            if open.withLock({
                let was = $0; $0 = false; return was
            }) {
                _ = Glibc.close(fd)
            }
        }
    }

    static func run(
        producer: [String], producerEnvironment: [String: String], consumer: [String], consumerEnvironment: [String: String]
    ) async throws(JobsError) -> (producer: CommandRunner.Output, consumer: CommandRunner.Output) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw JobsError(.io, "cannot create a pipe: \(String(cString: strerror(errno)))") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let readEnd = End(fds[0])
        let writeEnd = End(fds[1])
        async let consumed = runConsumer(consumer, environment: consumerEnvironment, stdin: readEnd)
        let produced = await runProducer(producer, environment: producerEnvironment, stdout: writeEnd)
        // Should the producer not have started, the consumer now reads end of file.
        writeEnd.close()
        let consumerResult = await consumed
        readEnd.close()
        return (try produced.get(), try consumerResult.get())
    }

    static func options() -> PlatformOptions {
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(15))]
        return options
    }

    static func executable(_ name: String) -> Executable { name.contains("/") ? .path(FilePath(name)) : .name(name) }

    static func environment(_ values: [String: String]) -> Environment {
        var env: [Environment.Key: String] = [:]
        for (k, v) in values { env[Environment.Key(stringLiteral: k)] = v }
        return .custom(env)
    }

    static func tail(_ sequence: SubprocessOutputSequence) async throws -> String {
        var tail: [UInt8] = []
        for try await chunk in sequence {
            chunk.withUnsafeBytes { tail.append(contentsOf: $0) }
            if tail.count > 2 * CommandRunner.stderrLimit { tail.removeFirst(tail.count - CommandRunner.stderrLimit) }
        }
        return String(decoding: tail.suffix(CommandRunner.stderrLimit), as: UTF8.self)
    }

    static func status(_ status: TerminationStatus) -> Int32 {
        switch status {
        case .exited(let code): Int32(code)
        case .signaled(let signal): 128 + Int32(signal)
        }
    }

    static func runProducer(_ argv: [String], environment: [String: String], stdout: End) async -> Result<CommandRunner.Output, JobsError> {
        defer { stdout.close() }
        do {
            let result = try await Subprocess.run(
                executable(argv[0]), arguments: Arguments(Array(argv.dropFirst())), environment: Self.environment(environment),
                platformOptions: options(), input: .none,
                output: .fileDescriptor(FileDescriptor(rawValue: stdout.fd), closeAfterSpawningProcess: false),
                error: .sequence
            ) { execution in
                stdout.close()
                return try await tail(execution.standardError)
            }
            return .success(CommandRunner.Output(status: status(result.terminationStatus), stdout: "", stderr: result.closureResult))
        } catch {
            return .failure(JobsError(.io, "cannot run \(argv[0]): \(error)"))
        }
    }

    static func runConsumer(_ argv: [String], environment: [String: String], stdin: End) async -> Result<CommandRunner.Output, JobsError> {
        defer { stdin.close() }
        do {
            let result = try await Subprocess.run(
                executable(argv[0]), arguments: Arguments(Array(argv.dropFirst())), environment: Self.environment(environment),
                platformOptions: options(), input: .fileDescriptor(FileDescriptor(rawValue: stdin.fd), closeAfterSpawningProcess: false),
                output: .discarded, error: .sequence
            ) { execution in
                stdin.close()
                return try await tail(execution.standardError)
            }
            return .success(CommandRunner.Output(status: status(result.terminationStatus), stdout: "", stderr: result.closureResult))
        } catch {
            return .failure(JobsError(.io, "cannot run \(argv[0]): \(error); check that it is installed and on PATH"))
        }
    }
}

/// Whether a long-running child (the throwaway redis-server) has exited, and how.
final class ChildOutcome: Sendable {
    private let value = Mutex<Result<CommandRunner.Output, JobsError>?>(nil)
    func set(_ result: Result<CommandRunner.Output, JobsError>) { value.withLock { $0 = result } }
    var result: Result<CommandRunner.Output, JobsError>? { value.withLock { $0 } }
}
