import Foundation
import OffsiteEngine

#if canImport(Glibc)
import Glibc
#endif

/// Finds the repository password the way restic does: --password-command, --password-file (or
/// their RESTIC_ variables), RESTIC_PASSWORD, then a prompt on the terminal, or stdin when
/// stdin is not a terminal.
///
/// Running the command and reading the terminal or stdin block, so they happen on a thread of
/// their own (`onOwnThread`).
enum Password {
    static func resolve(
        _ g: GlobalOptions, prompt: String = "enter password for repository: ", confirm: Bool = false
    ) async throws
        -> String
    {
        let env = g.environment
        return try await resolve(
            command: g.passwordCommand ?? env["RESTIC_PASSWORD_COMMAND"].flatMap { $0.isEmpty ? nil : $0 },
            file: g.passwordFile ?? env["RESTIC_PASSWORD_FILE"].flatMap { $0.isEmpty ? nil : $0 },
            variable: "RESTIC_PASSWORD", prompt: prompt, confirm: confirm)
    }

    /// The same for any repository: `command`, else `file`, else the environment `variable`,
    /// else the terminal (or stdin).
    static func resolve(
        command: String?, file: String?, variable: String, prompt: String, confirm: Bool = false
    ) async throws
        -> String
    {
        try await onOwnThread("password") {
            try resolveBlocking(command: command, file: file, variable: variable, prompt: prompt, confirm: confirm)
        }
    }

    private static func resolveBlocking(
        command: String?, file: String?, variable: String, prompt: String, confirm: Bool
    ) throws
        -> String
    {
        let env = ProcessInfo.processInfo.environment
        if command != nil && file != nil {
            throw CLIError.fatal("Password file and command are mutually exclusive options")
        }
        if let command {
            return try nonEmpty(run(command).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if let file {
            guard FileManager.default.fileExists(atPath: file) else { throw CLIError.fatal("\(file) does not exist") }
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw CLIError.fatal("cannot read password file \(file)")
            }
            return try nonEmpty(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if let pw = env[variable], !pw.isEmpty { return pw }
        if Console.stdinIsTerminal {
            let first = try readTerminal(prompt)
            if confirm {
                let second = try readTerminal("enter password again: ")
                guard first == second else { throw CLIError.fatal("passwords do not match") }
            }
            return try nonEmpty(first)
        }
        // Not a terminal: the first line of stdin.
        let line = readLine(strippingNewline: true) ?? ""
        return try nonEmpty(line)
    }

    static func nonEmpty(_ s: String) throws -> String {
        guard !s.isEmpty else { throw CLIError.fatal("an empty password is not a password") }
        return s
    }

    /// Runs the password command with /bin/sh and returns its standard output.
    static func run(_ command: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.standardError
        do {
            try p.run()
        } catch {
            throw CLIError.fatal("cannot run password command: \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw CLIError.fatal("password command failed with exit status \(p.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads a line from the terminal with echo off.
    static func readTerminal(_ prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        var old = termios()
        tcgetattr(0, &old)
        var quiet = old
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(0, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(0, TCSAFLUSH, &old)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else { throw CLIError.fatal("unable to read password") }
        return line
    }
}
