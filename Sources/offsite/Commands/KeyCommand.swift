import ArgumentParser
import Foundation
import OffsiteEngine
import OffsiteFormat
import OffsiteStorage

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage the keys (passwords) of a repository.",
        discussion: """
            Every key file wraps the same master key under its own password, so adding a key never
            re-encrypts data. Examples:
              offsite key add --new-password-file /etc/offsite/new-password \\
                --user ops --host backup1
              offsite key passwd --new-password-file /etc/offsite/new-password
              offsite key remove 3f5a1c2b
            """,
        subcommands: [KeyListCommand.self, KeyAddCommand.self, KeyRemoveCommand.self, KeyPasswdCommand.self])
}

struct KeyListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the keys; * marks the one in use.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runCommand {
            let repo = try await RepositoryOpener.open(global, loadIndex: false)
            var rows: [(current: Bool, id: String, user: String, host: String, created: String)] = []
            for kid in try await repo.listIDs(.keys).sorted() {
                let file: KeyFile
                do {
                    file = try KeyFile(json: try await repo.backend.load(Handle(.keys, kid.hex)))
                } catch {
                    Console.error("LoadKey() failed for keys/\(kid.hex): \(error)")
                    continue
                }
                rows.append((kid == repo.keyID, kid.shortHex, file.username, file.hostname, file.created.inLocalOffset.displayString))
            }
            if global.json {
                var w = GoJSONWriter()
                w.beginArray()
                for r in rows {
                    w.beginObject()
                    w.key("current"); w.bool(r.current)
                    w.field("id", r.id)
                    w.field("userName", r.user)
                    w.field("hostName", r.host)
                    w.field("created", r.created)
                    w.endObject()
                }
                w.endArray()
                Console.out(String(decoding: w.bytes, as: UTF8.self))
                return
            }
            let userW = max(4, rows.map(\.user.count).max() ?? 0)
            let hostW = max(4, rows.map(\.host.count).max() ?? 0)
            func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
            let header = " " + pad("ID", 8) + "  " + pad("User", userW) + "  " + pad("Host", hostW) + "  Created"
            let lines = rows.map { (r) -> String in
                (r.current ? "*" : " ") + pad(r.id, 8) + "  " + pad(r.user, userW) + "  " + pad(r.host, hostW) + "  " + r.created
            }
            let rule = String(repeating: "-", count: max(header.count, lines.map(\.count).max() ?? 0))
            Console.out(header)
            Console.out(rule)
            for l in lines { Console.out(l) }
            Console.out(rule)
        }
    }
}

/// restic's `key` flags for new keys (`--new-password-file`, `--user`, `--host`).
struct KeyPasswordOptions: ParsableArguments {
    @Option(
        name: .customLong("new-password-file"),
        help: ArgumentHelp(
            "File from which to read the new password (default: ask twice on a terminal, else read one line from stdin).", valueName: "file"
        ))
    var newPasswordFile: String?

    @Option(name: .customLong("user"), help: ArgumentHelp("The username for new keys (default: the current user).", valueName: "name"))
    var user: String = ""

    @Option(name: .customLong("host"), help: ArgumentHelp("The hostname for new keys (default: this machine's).", valueName: "name"))
    var host: String = ""

    /// The new password, as restic 0.14 reads it: the trimmed contents of `--new-password-file`;
    /// else on a terminal "enter new password: " and "enter password again: " (echo off); else
    /// the first line of stdin (no confirmation; restic then says so on stdout).
    func readNewPassword(_ global: GlobalOptions) throws -> String {
        if let file = newPasswordFile {
            guard FileManager.default.fileExists(atPath: file) else { throw CLIError.fatal("\(file) does not exist") }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CLIError.fatal("Readfile: cannot read new password file \(file)")
            }
            return try Password.nonEmpty(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if Console.stdinIsTerminal {
            let first = try Password.nonEmpty(try Password.readTerminal("enter new password: "))
            let second = try Password.nonEmpty(try Password.readTerminal("enter password again: "))
            guard first == second else { throw CLIError.fatal("passwords do not match") }
            return first
        }
        let line = readLine(strippingNewline: true) ?? ""
        if !global.quiet { Console.out("reading repository password from stdin") }
        return try Password.nonEmpty(line)
    }
}

/// How restic 0.14 reports a new key: `Verbosef("saved new key as %s\n", key)` with Go's
/// `(*Key).String()`, "<Key of USER@HOST, created on TIME>", TIME being Go's `time.Time`
/// String() of `time.Now()`: local wall clock, offset, zone and the monotonic reading.
enum KeyReport {
    static func saved(_ file: KeyFile) -> String {
        "saved new key as <Key of \(file.username)@\(file.hostname), created on \(goTimeString(file.created.inLocalOffset, inLocalZone: true, monotonic: monotonicSinceProcessStart()))>"
    }
}

struct KeyAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a new key (password) for the repository.",
        discussion: """
            The new key opens the same repository (restic can use it too). The new password comes
            from --new-password-file, or is asked twice on a terminal, or is the first line of stdin.
            Takes a shared lock.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var newKey: KeyPasswordOptions
    @Argument(help: .hidden) var extra: [String] = []

    func run() async throws {
        try await runCommand {
            guard extra.isEmpty else { throw CLIError.fatal("wrong number of arguments") }
            let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: .shared)
            let password = try newKey.readNewPassword(global)
            let (_, file) = try await repo.addKey(
                password: password, options: Repository.NewKeyOptions(username: newKey.user, hostname: newKey.host))
            if !global.quiet { Console.out(KeyReport.saved(file)) }
        }
    }
}

struct KeyRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a key (by ID or unique prefix); never the one in use.",
        discussion: "Takes an exclusive lock. The key that opened the repository cannot be removed (use `key passwd`).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The key's ID or a unique prefix of it.", valueName: "ID")) var ids: [String] = []

    func run() async throws {
        try await runCommand {
            guard ids.count == 1 else { throw CLIError.fatal("wrong number of arguments") }
            let prefix = ids[0]
            let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: .exclusive)
            // restic.Find: a literal prefix of the file names; its errors are not "Fatal:" ones.
            let names = try await repo.backend.list(.keys).map(\.name).filter { $0.hasPrefix(prefix) }
            let quoted = GoQuote.quoted(prefix)
            guard names.count == 1, let id = ID(hex: names[0]) else {
                Console.error(names.isEmpty ? "no matching ID found for prefix \(quoted)" : "multiple IDs with prefix \(quoted) found")
                throw ExitCode(ExitStatus.fatal)
            }
            try await repo.removeKey(id)
            if !global.quiet { Console.out("removed key \(id.hex)") }
        }
    }
}

struct KeyPasswdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Change the password: add a key with the new one, then remove the key in use.",
        discussion: """
            Takes an exclusive lock. The new key records the current user and host (as restic's does;
            --user and --host are accepted and ignored).
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var newKey: KeyPasswordOptions
    @Argument(help: .hidden) var extra: [String] = []

    func run() async throws {
        try await runCommand {
            guard extra.isEmpty else { throw CLIError.fatal("wrong number of arguments") }
            let repo = try await RepositoryOpener.open(global, loadIndex: false, lock: .exclusive)
            let password = try newKey.readNewPassword(global)
            let (_, file) = try await repo.changePassword(to: password)
            if !global.quiet { Console.out(KeyReport.saved(file)) }
        }
    }
}
