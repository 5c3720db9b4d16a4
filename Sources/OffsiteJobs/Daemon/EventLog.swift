public import Foundation
import OffsiteSync

#if canImport(Glibc)
import Glibc
#endif

/// The orchestrator's event log: one line per event, `2026-11-27T10:00:00Z <message>` (UTC), to
/// standard output and, when configured (`--log-file`), appended to a file. Messages are folded
/// onto one line. Pass `sink` as `Orchestrator.log` so jobs and the daemon share one log.
public final class EventLog: Sendable {
    private struct Output {
        var fileDescriptor: Int32 = -1
    }

    /// The file events are appended to, if any.
    public let path: String?
    private let echo: Bool
    private let output: Mutex<Output>

    /// - Parameters:
    ///   - path: a file to append to (created 0640 if missing), or nil for standard output only.
    ///   - echo: whether lines also go to standard output.
    /// - Throws: `.io` naming the file when it cannot be opened for appending.
    public init(path: String? = nil, echo: Bool = true) throws(JobsError) {
        self.path = path
        self.echo = echo
        var out = Output()
        if let path {
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else {
                throw JobsError(.io, "\(path): cannot open the log file for appending (\(String(cString: strerror(errno))))")
            }
            out.fileDescriptor = fd
        }
        output = Mutex(out)
    }

    deinit {
        output.withLock { out in
            if out.fileDescriptor >= 0 { close(out.fileDescriptor) }
        }
    }

    /// Logs one event now.
    public func callAsFunction(_ message: String) { write(message, at: Date()) }

    /// `self` as the closure `Orchestrator.log` takes.
    public var sink: @Sendable (String) -> Void { { [self] message in self.write(message, at: Date()) } }

    /// Logs one event at `date` (lines from concurrent callers never interleave).
    public func write(_ message: String, at date: Date) {
        let line = Data((Self.line(message, at: date) + "\n").utf8)
        output.withLock { out in
            if echo { Self.writeAll(line, to: STDOUT_FILENO) }
            if out.fileDescriptor >= 0 { Self.writeAll(line, to: out.fileDescriptor) }
        }
    }

    /// `2026-11-27T10:00:00Z message`, with line breaks in `message` folded into ` / `.
    public static func line(_ message: String, at date: Date) -> String {
        let folded = message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " / ")
        return "\(date.formatted(.iso8601)) \(folded)"
    }

    private static func writeAll(_ data: Data, to fd: Int32) {
        try? FileHandle(fileDescriptor: fd, closeOnDealloc: false).write(contentsOf: data)
    }
}
