import ArgumentParser
import Foundation
import OffsiteJobs

struct CostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cost",
        abstract: "Estimate the monthly storage bill of each repository from its real size.",
        usage: "offsite cost [--env-file <path> ...] [--config <path>] [<options>]",
        discussion: """
            The size is the repository's stored data as `offsite stats --mode raw-data` counts \
            it: the blobs as they sit in pack files, compressed and encrypted, data shared between \
            snapshots counted once. (So it is not snapshots × snapshot size: the guide's \
            54 × 20 GB = 1.08 TB overstates a repository whose snapshots share most of their data.) \
            GB are 10^9 bytes, as providers bill. Storage only: requests, downloads and minimum \
            storage durations are not included.

            Prices in dollars per GB-month (the guide's defaults): s3 (S3 Standard) 0.023, \
            b2 (Backblaze B2) 0.005, gcs-nearline (GCS Nearline) 0.010. Override them with \
            OFFSITE_PRICE_S3, OFFSITE_PRICE_B2, OFFSITE_PRICE_GCS_NEARLINE or --price NAME=DOLLARS \
            (repeatable; a new name adds a line).

            Example: offsite cost --env-file .env.production --price b2=0.006
            """)

    @OptionGroup var jobOptions: JobOptions

    @Option(name: .customLong("price"), help: ArgumentHelp("A price in dollars per GB-month (repeatable).", valueName: "name=dollars"))
    var prices: [String] = []

    @Flag(name: .long, help: "Print the estimates as JSON.")
    var json = false

    func run() async throws {
        let options = jobOptions
        let overrides = prices
        let json = json
        try await runJobCommand {
            let configuration = try options.configuration()
            let prices = try Cost.prices(overrides: overrides, environment: configuration.environment)
            let reports = try await Cost.reports(options.orchestrator(configuration) { _ in }, prices: prices)
            if json {
                printJSON(reports)
                return
            }
            for report in reports {
                let gigabytes = String(format: "%.3f", Double(report.bytes) / 1e9)
                Console.out(
                    "repository \(report.repository) (\(report.location)): \(gigabytes) GB stored (\(report.bytes) bytes, compressed and encrypted; GB = 10^9 bytes)"
                )
                let width = report.lines.map(\.label.count).max() ?? 0
                for line in report.lines {
                    let label = line.label.padding(toLength: width, withPad: " ", startingAt: 0)
                    Console.out("  \(label)  \(Cost.dollars(line.dollarsPerMonth))/month  at $\(line.dollarsPerGBMonth)/GB-month")
                }
            }
            Console.out(
                "Storage only (no requests, downloads or minimum durations). Snapshots share data: the size is not snapshots × snapshot size."
            )
        }
    }
}
