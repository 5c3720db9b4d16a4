import ArgumentParser
import Foundation
import OffsiteJobs

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the orchestrator's configuration.",
        subcommands: [ConfigCheckCommand.self])
}

struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the configuration and reach every part of it, printing no secret.",
        usage: "offsite config check [--env-file <path> ...] [--config <path>] [--json]",
        discussion: """
            First the variables (or offsite.yml) are validated and every mistake is listed at once \
            with where it was set: unknown variables (with the name you probably meant), bad cron \
            expressions, bad numbers, missing repository or password. Then each part is reached: \
            the repository opens with the password, each database and Redis answer with their \
            credentials, each volume can be read, the pushgateway answers. Nothing is written.

            Exit status: 0 when nothing is wrong (warnings allowed), 1 otherwise.

            Example: offsite config check --env-file .env.production
            """)

    @OptionGroup var jobOptions: JobOptions

    @Flag(name: .long, help: "Print the findings as JSON.")
    var json = false

    func run() async throws {
        let options = jobOptions
        let json = json
        try await runJobCommand {
            let configuration = try findingsConfiguration(options, json: json)
            let findings = await ConfigCheck.run(options.orchestrator(configuration) { _ in })
            if json {
                printJSON(findings)
            } else {
                Console.out(
                    "configuration: \(configuration.jobs.count) job\(configuration.jobs.count == 1 ? "" : "s") (\(configuration.jobs.map(\.name).joined(separator: ", "))), \(configuration.repositories.count) repositor\(configuration.repositories.count == 1 ? "y" : "ies")"
                )
                for finding in findings { Console.out(finding.line) }
            }
            if findings.contains(where: { $0.level == .problem }) { throw ExitCode(ExitStatus.fatal) }
        }
    }
}

/// The configuration of a command that prints findings (`config check`, `doctor`): mistakes in
/// the settings become problem findings (with --json) or are listed on standard error, and exit 1.
func findingsConfiguration(_ options: JobOptions, json: Bool) throws -> Configuration {
    do {
        return try options.configuration()
    } catch {
        guard error.code == .invalidSettings && !error.problems.isEmpty else { throw error }
        if json {
            let findings = error.problems.map { Finding(.problem, $0.origin ?? "configuration", "\($0.variable): \($0.message)") }
            printJSON(findings)
        } else {
            Console.error(error.message)
        }
        throw ExitCode(ExitStatus.fatal)
    }
}

func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    if let data = try? encoder.encode(value) { Console.out(String(decoding: data, as: UTF8.self)) }
}
