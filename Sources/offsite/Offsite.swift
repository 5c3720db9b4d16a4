import ArgumentParser
import Foundation
import OffsiteEngine

@main
struct Offsite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offsite",
        abstract: "Encrypted, deduplicated backups in the restic repository format.",
        discussion: """
            offsite reads and writes restic repositories (format v1 and v2): a repository made by \
            one tool works with the other. Commands, flags and environment variables are restic's.

            Quick start:
              export RESTIC_REPOSITORY=/srv/backup/repo
              export RESTIC_PASSWORD_FILE=/etc/offsite/password
              offsite init
              offsite backup /etc /var/lib/app --tag nightly
              offsite snapshots
              offsite restore latest --target /tmp/restore

            Exit codes: 0 ok, 1 fatal error, 3 backup incomplete (some source files unreadable), \
            10 no repository at the location, 11 repository locked by another process, \
            12 wrong password, 130 interrupted.
            """,
        version: "offsite \(OffsiteVersion.current)",
        subcommands: [
            InitCommand.self, BackupCommand.self, SnapshotsCommand.self, RestoreCommand.self, LsCommand.self,
            CatCommand.self, ListCommand.self, KeyCommand.self, VersionCommand.self, DebugCommand.self,
            StatsCommand.self, TagCommand.self,
            DumpCommand.self, FindCommand.self, DiffCommand.self, UnlockCommand.self, CheckCommand.self, PruneCommand.self,
            RepairCommand.self, RebuildIndexCommand.self, ForgetCommand.self, CopyCommand.self,
            GenerateCommand.self, DoctorCommand.self, CostCommand.self,
            RunCommand.self, ConfigCommand.self, DrillCommand.self, DaemonCommand.self, StatusCommand.self,
        ]
    )

    /// restic accepts global flags before the command name (`restic -r REPO snapshots`).
    /// ArgumentParser reads options where the command declares them, so global flags found
    /// before the command are moved after it (after its subcommand, for `key list`). The
    /// commands and the options that take a value come from their definitions.
    static func reorder(_ args: [String]) -> [String] {
        var moved: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if let hasSubcommands = commands[a] {
                var head = [a]
                var rest = Array(args[(i + 1)...])
                if hasSubcommands, let sub = rest.first, !sub.hasPrefix("-") {
                    head.append(sub)
                    rest.removeFirst()
                }
                return head + moved + rest
            }
            if !a.hasPrefix("-") { break }
            moved.append(a)
            if globalOptionTakesValue(a), i + 1 < args.count {
                moved.append(args[i + 1])
                i += 1
            }
            i += 1
        }
        return args
    }

    /// The first word that is neither a global flag (nor its value) nor a command, when it comes
    /// before any command: `offsite frobnicate`, `offsite -r REPO snapshot`.
    static func unknownCommand(_ args: [String]) -> String? {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { return nil }
            if !a.hasPrefix("-") { return commands[a] == nil ? a : nil }
            if globalOptionTakesValue(a) { i += 1 }
            i += 1
        }
        return nil
    }

    /// Every command name and alias (and ArgumentParser's `help`), each with whether the command
    /// has subcommands.
    static let commands: [String: Bool] = {
        var out = ["help": false]
        for command in configuration.subcommands {
            let nested = !command.configuration.subcommands.isEmpty
            for name in [command._commandName] + command.configuration.aliases { out[name] = nested }
        }
        return out
    }()

    /// Whether `flag` is a global option given its value as the next argument (`-r REPO`): such
    /// an option does not parse alone (a flag does, and `--repo=REPO` carries its value).
    static func globalOptionTakesValue(_ flag: String) -> Bool {
        guard !flag.contains("=") else { return false }
        do {
            _ = try GlobalOptions.parse([flag])
            return false
        } catch {
            return GlobalOptions.message(for: error).hasPrefix("Missing value")
        }
    }

    static func main() async {
        Interrupts.install()
        MemoryTuning.apply()
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let name = unknownCommand(arguments) {
            // restic's (cobra's) words, and its exit code.
            FileHandle.standardError.write(
                Data("Error: unknown command \"\(name)\" for \"offsite\"\nRun 'offsite --help' for usage.\n".utf8))
            Foundation.exit(1)
        }
        do {
            var command = try parseAsRoot(reorder(arguments))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // A usage error (unknown flag, missing value) exits 1 as restic's does, not with
            // ArgumentParser's 64; help, version and every other error keep their own code.
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(1)
            }
            exit(withError: error)
        }
    }
}
