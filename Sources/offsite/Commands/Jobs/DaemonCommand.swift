import ArgumentParser
import Foundation
import OffsiteJobs

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the backup, prune, check and drill schedules, and serve /metrics and /healthz.",
        usage: "offsite daemon [--env-file <path> ...] [--config <path>] [<options>]",
        discussion: """
            Replaces cron and the guide's backup container. Schedules: BACKUP_SCHEDULE (default \
            "0 */6 * * *") for the jobs, PRUNE_SCHEDULE ("0 3 * * 0"), CHECK_SCHEDULE ("0 5 * * 0", \
            reading 1/CHECK_ROTATION of the packs each time) and DRILL_SCHEDULE (off by default); in \
            offsite.yml each job has its own. Cron expressions have 5 fields with lists, ranges, steps \
            and names, or @hourly, @daily, @weekly, @monthly, @every 30s; times are in TZ (or the \
            system's zone), with cron's daylight-saving rules.

            A job never overlaps itself: a run still going when the next is due makes the daemon skip \
            that one (logged). After downtime, a missed run is caught up once, not once per missed \
            slot. Prune and check wait for the repository's backups.

            SIGTERM or SIGINT stops it cleanly: a running upload is aborted, its lock released, \
            nothing half-written is left, and a run cut short is caught up at the next start.

            One line per event goes to standard output (and --log-file). GET /metrics serves the \
            metrics (Prometheus text format) and GET /healthz answers 200 while the scheduler runs, on \
            --listen (default: $OFFSITE_LISTEN, else 127.0.0.1:9190; "off" for none). \
            `offsite status` shows the last and next runs.

            Example: offsite daemon --env-file /etc/offsite/offsite.env --listen 0.0.0.0:9190
            """)

    @OptionGroup var jobOptions: JobOptions

    @Option(name: .long, help: ArgumentHelp("host:port for /metrics and /healthz, or off.", valueName: "address"))
    var listen: String?

    @Option(name: .customLong("log-file"), help: ArgumentHelp("Also append the event lines to this file.", valueName: "path"))
    var logFile: String?

    static let defaultListen = "127.0.0.1:9190"

    func run() async throws {
        let options = jobOptions
        let listenFlag = listen
        let logFile = logFile
        try await runJobCommand {
            let configuration = try options.configuration()
            let log = try EventLog(path: logFile)
            let orchestrator = options.orchestrator(configuration, log: log.sink)
            var address: String? = listenFlag ?? configuration.listen ?? Self.defaultListen
            if address?.lowercased() == "off" { address = nil }
            let store = orchestrator.store
            let daemon = Daemon(
                orchestrator: orchestrator, listen: address,
                metrics: { MetricsRenderer.render((try? store.load()) ?? RunState(), now: Date()) },
                drill: { job in await orchestrator.drill(job) })
            log(
                "daemon: \(configuration.jobs.count) job\(configuration.jobs.count == 1 ? "" : "s") (\(configuration.jobs.map(\.name).joined(separator: ", "))), state in \(store.directory)"
            )
            try await daemon.run()
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each job's last run, result, duration, size and next run.",
        usage: "offsite status [--env-file <path> ...] [--config <path>] [--json]",
        discussion: """
            Reads the state that `offsite run` and `offsite daemon` keep (see --state-dir) and the \
            schedules from the configuration; the repository is not opened. Failed runs are listed \
            with their reason under the table.

            Example: offsite status --env-file /etc/offsite/offsite.env
            """)

    @OptionGroup var jobOptions: JobOptions

    @Flag(name: .long, help: "Print the status as JSON.")
    var json = false

    func run() async throws {
        let options = jobOptions
        let json = json
        try await runJobCommand {
            let configuration = try options.configuration()
            let state = try options.store(environment: configuration.environment).load()
            if json {
                Console.out(StatusReport.json(configuration: configuration, state: state, now: Date()))
            } else {
                Console.out(StatusReport.text(configuration: configuration, state: state, now: Date()))
            }
        }
    }
}
