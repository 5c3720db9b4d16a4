public import Foundation
import OffsiteEngine

/// Runs external programs (the restic oracle, the offsite binary) and captures their output.
public enum ProcessRunner {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: String
        public var stdoutString: String { String(decoding: stdout, as: UTF8.self) }
    }

    public struct NotFound: Error, CustomStringConvertible {
        public var description: String
    }

    /// Finds an executable on PATH.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `executable` with `arguments`; `environment` entries are added to (or, when nil,
    /// removed from) the current environment. Under a `SecretsAudit` (`SecretsAudit.current`)
    /// the output and the command lines of the program's children are checked for its secrets.
    ///
    /// The waiting (for the pipes and the exit) happens on a thread of its own, never on one of
    /// Swift's cooperative threads: on 2 cores, tests that block those starve every other test
    /// of the run for as long as their programs take.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String?] = [:],
        stdin: Data? = nil, currentDirectory: String? = nil
    ) async throws -> Result {
        let audit = SecretsAudit.current
        return try await onOwnThread("ProcessRunner") {
            try runWaiting(
                executable, arguments, environment: environment, stdin: stdin, currentDirectory: currentDirectory, audit: audit)
        }
    }

    /// `run` waiting on the calling thread: for a deinit, never from async code.
    static func runWaiting(
        _ executable: String, _ arguments: [String], environment: [String: String?],
        stdin: Data?, currentDirectory: String?, audit: SecretsAudit?
    ) throws -> Result {
        // A child that exits before reading all its input must not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        if let currentDirectory { p.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        // Under a secrets audit: the children's command lines while it runs, its output after.
        let sampler = audit?.watchDescendants(of: p.processIdentifier)
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
        try? input.fileHandleForWriting.close()
        // Read both pipes concurrently so a full stderr pipe cannot block the child.
        let errData = ErrCollector()
        let errThread = Thread {
            errData.data = err.fileHandleForReading.readDataToEndOfFile(); errData.done.signal()
        }
        errThread.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        errData.done.wait()
        p.waitUntilExit()
        if let audit {
            sampler?.stop()
            let what = ([(executable as NSString).lastPathComponent] + arguments.prefix(2)).joined(separator: " ")
            audit.scan(outData, "the standard output of `\(what)`")
            audit.scan(errData.data, "the standard error of `\(what)`")
        }
        return Result(status: p.terminationStatus, stdout: outData, stderr: String(decoding: errData.data, as: UTF8.self))
    }

    private final class ErrCollector: @unchecked Sendable {
        var data = Data()
        let done = DispatchSemaphore(value: 0)
    }
}

/// The real restic binary, the compatibility oracle. Tests fail (never skip) when it is missing.
public enum Restic {
    public static func path() throws -> String {
        guard let p = ProcessRunner.which("restic") else {
            throw ProcessRunner.NotFound(description: "restic is not installed: run `apt-get install restic` (or `make deps`)")
        }
        return p
    }

    /// Runs restic against `repo` with `password`, in UTC, without a cache; `environment` as
    /// for `ProcessRunner.run`.
    public static func run(
        _ args: [String], repo: String, password: String, cwd: String? = nil, environment: [String: String?] = [:]
    ) async throws -> ProcessRunner.Result {
        var env: [String: String?] = [
            "RESTIC_PASSWORD": password, "TZ": "UTC", "RESTIC_REPOSITORY": nil,
            "RESTIC_PASSWORD_FILE": nil, "RESTIC_PASSWORD_COMMAND": nil,
        ]
        for (k, v) in environment { env[k] = v }
        return try await ProcessRunner.run(try path(), ["-r", repo, "--no-cache"] + args, environment: env, currentDirectory: cwd)
    }
}

/// Prometheus's `promtool` (Debian's `prometheus` ships it), which checks alerting and
/// recording rules (`promtool check rules FILE`) and metric exposition text (`promtool check
/// metrics`, on stdin). Tests fail (never skip) when it is missing.
public enum Promtool {
    public static func path() throws -> String {
        if let p = ProcessInfo.processInfo.environment["PROMTOOL"] { return p }
        guard let p = ProcessRunner.which("promtool") else {
            throw ProcessRunner.NotFound(description: "promtool is not installed: run `apt-get install prometheus` (or `make deps`)")
        }
        return p
    }

    public static func run(_ args: [String], stdin: Data? = nil) async throws -> ProcessRunner.Result {
        try await ProcessRunner.run(try path(), args, stdin: stdin)
    }
}

/// The `offsite` executable built next to the test bundle (or `$OFFSITE_BIN`).
public enum OffsiteBinary {
    public static func path() throws -> String {
        if let p = ProcessInfo.processInfo.environment["OFFSITE_BIN"] { return p }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("offsite").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw ProcessRunner.NotFound(
            description: "offsite binary not found next to \(CommandLine.arguments[0]); run `swift build` first or set OFFSITE_BIN")
    }

    public static func run(
        _ args: [String], password: String? = nil, environment: [String: String?] = [:],
        cwd: String? = nil
    ) async throws -> ProcessRunner.Result {
        var env: [String: String?] = [
            "TZ": "UTC", "RESTIC_REPOSITORY": nil, "RESTIC_PASSWORD_FILE": nil,
            "RESTIC_PASSWORD_COMMAND": nil, "RESTIC_PASSWORD": password,
        ]
        for (k, v) in environment { env[k] = v }
        return try await ProcessRunner.run(try path(), args, environment: env, currentDirectory: cwd)
    }
}
