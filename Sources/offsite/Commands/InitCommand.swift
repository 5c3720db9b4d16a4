import ArgumentParser
import Foundation
import OffsiteCloud
import OffsiteEngine
import OffsiteFormat

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Initialize a new repository.",
        discussion: """
            Creates the repository structure, a random master key wrapped by your password, and a \
            config with a random chunker polynomial. Keep the password safe: without it the data \
            cannot be recovered.

            Examples:
              offsite init -r /srv/backup/repo --password-file /etc/offsite/password
              offsite init -r /srv/second-copy --copy-chunker-params \\
                --from-repo /srv/backup/repo
                (a destination for `offsite copy` whose copies deduplicate like the source)
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var secondary: SecondaryRepositoryOptions

    @Flag(
        name: .customLong("copy-chunker-params"),
        help: "Copy the chunker parameters from the repository given with --from-repo (use with the copy command).")
    var copyChunkerParams = false

    @Option(name: .customLong("repository-version"), help: "Repository format version: 1, 2, stable (=2) or latest (=2).")
    var repositoryVersion = "stable"

    func run() async throws {
        try await runCommand {
            let version: Int
            switch repositoryVersion {
            case "1": version = 1
            case "2", "stable", "latest": version = 2
            default: throw CLIError.fatal("unsupported repository version \"\(repositoryVersion)\" (use 1, 2, stable or latest)")
            }
            var polynomial: Polynomial? = nil
            if copyChunkerParams {
                let other = try await secondary.resolve(legacyRole: "secondary")
                polynomial = try await RepositoryOpener.open(global, loadIndex: false, lock: .none, other: other).config.chunkerPolynomial
            } else if secondary.isGiven {
                throw CLIError.fatal("Secondary repository must only be specified when copying the chunker parameters")
            }
            let location = try global.repositoryLocation()
            let backend = try RepositoryOpener.backend(for: location, global)
            let password = try await Password.resolve(global, prompt: "enter password for new repository: ", confirm: true)
            var options = Repository.InitOptions()
            options.version = version
            options.chunkerPolynomial = polynomial
            let repo = try await Repository.initialize(backend: backend, password: password, options: options)
            if global.json {
                var w = GoJSONWriter()
                w.beginObject()
                w.field("message_type", "initialized")
                w.field("id", repo.config.id)
                w.field("repository", CloudBackends.displayed(location))
                w.endObject()
                Console.out(String(decoding: w.bytes, as: UTF8.self))
            } else if !global.quiet {
                Console.out(
                    """
                    created restic repository \(repo.config.id.prefix(10)) at \(CloudBackends.displayed(location))

                    Please note that knowledge of your password is required to access
                    the repository. Losing your password means that your data is
                    irrecoverably lost.
                    """)
            }
        }
    }
}
