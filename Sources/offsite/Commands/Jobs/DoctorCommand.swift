import ArgumentParser
import Foundation
import OffsiteJobs

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Diagnose what would make backups or restores fail, printing no secret.",
        usage: "offsite doctor [--env-file <path> ...] [--config <path>] [--json]",
        discussion: """
            Everything `offsite config check` checks (the configuration, the repository opening \
            with its password, the databases, Redis, the volumes, the pushgateway), then per \
            repository:

            bucket: S3: the credentials (HTTP 403: which of the key id and secret is wrong) \
            and the bucket (HTTP 404: it does not exist) told apart

            clock: this host's clock against the server's Date header (warning beyond 5 \
            minutes; S3 rejects requests signed 15 minutes off); local repositories are skipped

            locks: stale locks (not refreshed for 30 minutes, or taken on this host by a \
            process that no longer exists): run offsite unlock

            lifecycle: S3 lifecycle rules: a transition to GLACIER or DEEP_ARCHIVE (the guide's \
            rule) makes packs unreadable without a restore request, an expiration deletes files \
            still in use: both are problems; GLACIER_IR is a warning (minimum duration and \
            retrieval fees)

            Then per job: the age of the last successful backup in the state (a warning beyond twice \
            the schedule's interval, a problem if there is none). Nothing is written.

            Exit status: 0 when nothing is wrong (warnings allowed), 1 otherwise.

            Example: offsite doctor --env-file .env.production
            """)

    @OptionGroup var jobOptions: JobOptions

    @Flag(name: .long, help: "Print the findings as JSON.")
    var json = false

    func run() async throws {
        let options = jobOptions
        let json = json
        try await runJobCommand {
            let configuration = try findingsConfiguration(options, json: json)
            let findings = await Doctor.run(options.orchestrator(configuration) { _ in })
            if json {
                printJSON(findings)
            } else {
                findings.forEach { Console.out($0.line) }
                let problems = findings.filter { $0.level == .problem }.count
                let warnings = findings.filter { $0.level == .warning }.count
                Console.out("\(problems) problem\(problems == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")")
            }
            if findings.contains(where: { $0.level == .problem }) { throw ExitCode(ExitStatus.fatal) }
        }
    }
}
