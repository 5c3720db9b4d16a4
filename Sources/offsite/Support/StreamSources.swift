import Foundation
import OffsiteEngine

/// Streams for `backup --stdin` and `--stdin-from-command`.
enum StreamSources {
    static func standardInput(filename: String) -> Backup.StreamSource {
        Backup.StreamSource(filename: filename) { save in
            try await save(0)
        }
    }

    /// Runs `command` (no shell) and backs up its standard output. Its standard error goes to
    /// ours. A command that cannot start, or exits non-zero, fails the backup: no snapshot.
    static func command(_ command: [String], filename: String) -> Backup.StreamSource {
        Backup.StreamSource(filename: filename) { save in
            let p = Process()
            let exe = command[0]
            if exe.contains("/") {
                p.executableURL = URL(fileURLWithPath: exe)
                p.arguments = Array(command.dropFirst())
            } else {
                p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                p.arguments = command
            }
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.standardError
            p.standardInput = FileHandle.nullDevice
            do {
                try p.run()
            } catch {
                throw EngineError(.invalidArgument, "cannot run \(command.joined(separator: " ")): \(error)")
            }
            do {
                try await save(pipe.fileHandleForReading.fileDescriptor)
            } catch {
                p.terminate()
                p.waitUntilExit()
                throw error
            }
            p.waitUntilExit()
            guard p.terminationReason == .exit, p.terminationStatus == 0 else {
                let how =
                    p.terminationReason == .exit
                    ? "exited with status \(p.terminationStatus)" : "was killed by signal \(p.terminationStatus)"
                throw EngineError(.io, "the command \(command.joined(separator: " ")) \(how); no snapshot was saved")
            }
        }
    }
}
