public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `offsite daemon` started as an operator starts it: the executable itself with an env file,
/// stdout and stderr in one file, and a clean environment (no `RESTIC_*` or `OFFSITE_*` from
/// the test process). With `listen`, the daemon binds a port the kernel chooses
/// (`127.0.0.1:0`) and `start` reads the port back from its first line, so two tests never
/// race for a port.
public final class DaemonProcess: @unchecked Sendable {
    public let process: Process
    /// The file holding the daemon's stdout and stderr.
    public let outputPath: String
    /// The port `/metrics` and `/healthz` are served on, when started with `listen`.
    public private(set) var port: Int?

    /// Starts the daemon; `arguments` come after `daemon --env-file ENV_FILE --listen …`, and
    /// `environment` is added to (or, with nil, removed from) the cleaned environment.
    public init(
        envFile: String, listen: Bool, arguments: [String] = [], output: String,
        environment overrides: [String: String?] = [:]
    ) async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try OffsiteBinary.path())
        p.arguments = ["daemon", "--env-file", envFile, "--listen", listen ? "127.0.0.1:0" : "off"] + arguments
        var environment = ProcessInfo.processInfo.environment
        for name in ["RESTIC_PASSWORD", "RESTIC_REPOSITORY", "OFFSITE_STATE_DIR", "OFFSITE_CONFIG", "OFFSITE_LISTEN"] {
            environment[name] = nil
        }
        for (name, value) in overrides { environment[name] = value }
        p.environment = environment
        FileManager.default.createFile(atPath: output, contents: nil)
        let handle = FileHandle(forWritingAtPath: output)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        process = p
        outputPath = output
        guard listen else { return }
        var found: Int?
        _ = await eventually(timeout: .seconds(60)) {
            found = Self.servedPort(in: self.output)
            return found != nil || !p.isRunning
        }
        guard let found else {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            throw FixtureError(message: "offsite daemon did not start serving within 60 s:\n\(self.output.suffix(3000))")
        }
        port = found
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Everything the daemon has written so far.
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// How many times `text` appears in the output.
    public func count(_ text: String) -> Int { output.components(separatedBy: text).count - 1 }

    /// SIGTERM (unless it has exited), then waits up to `timeout` for the daemon to stop
    /// (SIGKILL after that). Returns whether it stopped by itself, and its exit status.
    @discardableResult
    public func stop(timeout: Duration = .seconds(120)) async -> (stoppedInTime: Bool, status: Int32) {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let stopped = await eventually(timeout: timeout) { !self.process.isRunning }
        if !stopped { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return (stopped, process.terminationStatus)
    }

    /// The port in the daemon's "serving /metrics and /healthz on HOST:PORT" line.
    static func servedPort(in output: String) -> Int? {
        guard let line = output.split(separator: "\n").first(where: { $0.contains("serving /metrics and /healthz on ") }),
            let colon = line.lastIndex(of: ":")
        else { return nil }
        return Int(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
}
