import ArgumentParser
import Foundation

/// A second repository, for `copy` and `init --copy-chunker-params`: where it is, its
/// password, and which key to try first.
struct OtherRepository {
    var location: String
    var password: String
    var keyHint: String?
    /// Named with `--from-repo…` (it is the source; `-r` is the destination). False for
    /// restic's older `--repo2…` flags (`-r` is the source, `--repo2` the destination).
    var isFromRepo: Bool
}

/// restic's flags for a second repository: `--from-repo`, `--from-repository-file`,
/// `--from-password-file`, `--from-password-command`, `--from-key-hint` (and their
/// `RESTIC_FROM_*` variables), plus the deprecated `--repo2` group restic 0.14 still accepts.
struct SecondaryRepositoryOptions: ParsableArguments {
    @Option(
        name: .customLong("from-repo"),
        help: ArgumentHelp("Source repository (default: $RESTIC_FROM_REPOSITORY).", valueName: "repository"))
    var repo: String?

    @Option(
        name: .customLong("from-repository-file"),
        help: ArgumentHelp("File to read the source repository location from (default: $RESTIC_FROM_REPOSITORY_FILE).", valueName: "file"))
    var repositoryFile: String?

    @Option(
        name: .customLong("from-password-file"),
        help: ArgumentHelp("File to read the source repository password from (default: $RESTIC_FROM_PASSWORD_FILE).", valueName: "file"))
    var passwordFile: String?

    @Option(
        name: .customLong("from-password-command"),
        help: ArgumentHelp(
            "Shell command that prints the source repository password (default: $RESTIC_FROM_PASSWORD_COMMAND).", valueName: "command"))
    var passwordCommand: String?

    @Option(
        name: .customLong("from-key-hint"),
        help: ArgumentHelp("Key ID to try first in the source repository (default: $RESTIC_FROM_KEY_HINT).", valueName: "key"))
    var keyHint: String?

    @Option(name: .customLong("repo2"), help: .hidden) var legacyRepo: String?
    @Option(name: .customLong("repository-file2"), help: .hidden) var legacyRepositoryFile: String?
    @Option(name: .customLong("password-file2"), help: .hidden) var legacyPasswordFile: String?
    @Option(name: .customLong("password-command2"), help: .hidden) var legacyPasswordCommand: String?
    @Option(name: .customLong("key-hint2"), help: .hidden) var legacyKeyHint: String?

    /// A flag's value, else its environment variable's; empty counts as unset.
    private func value(_ flag: String?, _ variable: String) -> String? {
        let v = flag ?? ProcessInfo.processInfo.environment[variable]
        return v?.isEmpty == false ? v : nil
    }

    /// True when any flag (or variable) of the group names a second repository.
    var isGiven: Bool {
        [repo, repositoryFile, legacyRepo, legacyRepositoryFile].contains { $0?.isEmpty == false }
            || value(nil, "RESTIC_FROM_REPOSITORY") != nil || value(nil, "RESTIC_FROM_REPOSITORY_FILE") != nil
            || value(nil, "RESTIC_REPOSITORY2") != nil || value(nil, "RESTIC_REPOSITORY_FILE2") != nil
    }

    /// restic's `fillSecondaryGlobalOpts`: checks the flags, reads the location and the
    /// password (prompting "enter password for source repository" for `--from-repo`, or for
    /// the `legacyRole` repository for `--repo2`).
    func resolve(legacyRole: String) async throws -> OtherRepository {
        let from = (
            repo: value(repo, "RESTIC_FROM_REPOSITORY"), file: value(repositoryFile, "RESTIC_FROM_REPOSITORY_FILE"),
            password: value(passwordFile, "RESTIC_FROM_PASSWORD_FILE"), command: value(passwordCommand, "RESTIC_FROM_PASSWORD_COMMAND"),
            hint: value(keyHint, "RESTIC_FROM_KEY_HINT")
        )
        let legacy = (
            repo: value(legacyRepo, "RESTIC_REPOSITORY2"), file: value(legacyRepositoryFile, "RESTIC_REPOSITORY_FILE2"),
            password: value(legacyPasswordFile, "RESTIC_PASSWORD_FILE2"), command: value(legacyPasswordCommand, "RESTIC_PASSWORD_COMMAND2"),
            hint: value(legacyKeyHint, "RESTIC_KEY_HINT2")
        )
        guard from.repo != nil || from.file != nil || legacy.repo != nil || legacy.file != nil else {
            throw CLIError.fatal("Please specify a source repository location (--from-repo or --from-repository-file)")
        }
        let hasFrom = [from.repo, from.file, from.password, from.command, from.hint].contains { $0 != nil }
        let hasLegacy = [legacy.repo, legacy.file, legacy.password, legacy.command, legacy.hint].contains { $0 != nil }
        if hasFrom && hasLegacy {
            throw CLIError.fatal("Option groups repo2 and from-repo are mutually exclusive, please specify only one")
        }
        let chosen = hasFrom ? from : legacy
        if chosen.repo != nil && chosen.file != nil {
            throw CLIError.fatal(
                hasFrom
                    ? "Options --from-repo and --from-repository-file are mutually exclusive, please specify only one"
                    : "Options --repo2 and --repository-file2 are mutually exclusive, please specify only one")
        }
        if !hasFrom {
            if legacyRepo != nil { Console.error("Flag --repo2 has been deprecated, use --repo or --from-repo instead") }
            if legacyRepositoryFile != nil {
                Console.error("Flag --repository-file2 has been deprecated, use --repository-file or --from-repository-file instead")
            }
        }
        var location = chosen.repo ?? ""
        if let file = chosen.file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw CLIError.fatal("cannot read repository file \(file)")
            }
            location = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let password = try await Password.resolve(
            command: chosen.command, file: chosen.password, variable: hasFrom ? "RESTIC_FROM_PASSWORD" : "RESTIC_PASSWORD2",
            prompt: "enter password for \(hasFrom ? "source" : legacyRole) repository: ")
        return OtherRepository(location: location, password: password, keyHint: chosen.hint, isFromRepo: hasFrom)
    }
}
