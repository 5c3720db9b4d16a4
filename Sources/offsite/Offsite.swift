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
              export RESTIC_REPOSITORY=/srv/backup/repo RESTIC_PASSWORD_FILE=/etc/offsite/password
              offsite init
              offsite backup /etc /var/lib/app --tag nightly
              offsite snapshots
              offsite restore latest --target /tmp/restore

            Exit codes: 0 ok, 1 fatal error, 3 backup/restore incomplete (some files unreadable), \
            10 no repository at the location, 12 wrong password.
            """,
        version: "offsite \(OffsiteVersion.current)",
        subcommands: [
            InitCommand.self, BackupCommand.self, SnapshotsCommand.self, RestoreCommand.self, LsCommand.self,
            CatCommand.self, ListCommand.self, KeyCommand.self, VersionCommand.self, DebugCommand.self,
            StatsCommand.self, TagCommand.self,
            DumpCommand.self, FindCommand.self, DiffCommand.self, UnlockCommand.self, CheckCommand.self, PruneCommand.self,
            RepairCommand.self, RebuildIndexCommand.self, ForgetCommand.self, CopyCommand.self,
            DoctorCommand.self, CostCommand.self,
            RunCommand.self, ConfigCommand.self, DrillCommand.self, DaemonCommand.self, StatusCommand.self,
        ]
    )

    /// restic accepts global flags before the command name (`restic -r REPO snapshots`).
    /// ArgumentParser reads options where the command declares them, so global flags found
    /// before the command are moved after it.
    static func reorder(_ args: [String]) -> [String] {
        let commands: Set<String> = [
            "init", "backup", "snapshots", "restore", "ls", "cat", "list", "key", "version", "debug", "help", "stats", "tag", "dump",
            "find", "diff", "unlock", "check", "prune", "repair", "rebuild-index", "forget", "copy",
            "run", "config", "daemon", "status", "drill", "doctor", "cost",
        ]
        let valued: Set<String> = [
            "-r", "--repo", "--repository-file", "--password-file", "--password-command", "--key-hint",
            "--compression", "--pack-size", "--cache-dir", "-o", "--option", "--retry-lock", "--stuck-request-timeout",
            "--limit-upload", "--limit-download",
        ]
        var moved: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if commands.contains(a) {
                // Commands with their own subcommands (`key list`) take the flags after those.
                var head = [a]
                var rest = Array(args[(i + 1)...])
                if a == "key" || a == "debug" || a == "repair" || a == "config", let sub = rest.first, !sub.hasPrefix("-") {
                    head.append(sub)
                    rest.removeFirst()
                }
                return head + moved + rest
            }
            if !a.hasPrefix("-") { break }
            moved.append(a)
            if valued.contains(a), i + 1 < args.count {
                moved.append(args[i + 1])
                i += 1
            }
            i += 1
        }
        return args
    }

    static func main() async {
        Interrupts.install()
        MemoryTuning.apply()
        await Offsite.main(reorder(Array(CommandLine.arguments.dropFirst())))
    }
}
