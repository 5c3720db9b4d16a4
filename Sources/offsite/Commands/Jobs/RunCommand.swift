import ArgumentParser
import Foundation
import OffsiteJobs

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run backup jobs now: postgres, redis, volumes, a job from offsite.yml, or all.",
        usage: "offsite run [--env-file <path> ...] [--config <path>] [<options>] <job>",
        discussion: """
            Each job writes one snapshot (one per database when several are listed) tagged with the \
            job's name and backup-date-YYYYMMDD (and vault for BACKUP_VAULT_PATH), then applies the \
            job's retention to its own snapshots only (forget --tag JOB --group-by host,paths; \
            nothing is deleted until prune). The repository is created on first use when there is \
            none at the location; one that exists but cannot be opened is an error.

            postgres: pg_dump of each database in BACKUP_POSTGRES_DATABASES (or PGDATABASE), or \
            pg_dumpall of the whole cluster; plain SQL streamed into the repository, no temporary \
            file. libpq's variables (PGHOST, PGPORT, PGUSER, PGPASSWORD) reach pg_dump through its \
            environment.

            redis: redis-cli --rdb - (a consistent RDB snapshot from REDIS_HOST:REDIS_PORT, \
            REDIS_PASSWORD passed as REDISCLI_AUTH), stored as redis.rdb.

            volumes: BACKUP_VOLUMES (default /data) and BACKUP_VAULT_PATH as one snapshot.

            `all` runs every configured job, continues past a failed one, prints one line per job \
            and exits 1 if any failed. Metrics go to PROMETHEUS_PUSHGATEWAY and \
            BACKUP_METRICS_TEXTFILE after the run; an unreachable pushgateway is reported but does \
            not fail the backup.

            Examples:
              offsite run all --env-file .env.production
              offsite run postgres --env-file .env.staging
              offsite run app-db --config /etc/offsite/offsite.yml
            """)

    @OptionGroup var jobOptions: JobOptions

    @Flag(name: .long, help: "Print the records of the run as JSON.")
    var json = false

    @Argument(help: "postgres, redis, volumes, a job name from offsite.yml, or all.")
    var job: String

    func run() async throws {
        let options = jobOptions
        let job = job
        let json = json
        try await runJobCommand {
            let configuration = try options.configuration()
            let jobs = try JobOptions.select(job, in: configuration)
            let orchestrator = options.orchestrator(configuration) { line in
                if !json { Console.out(line) }
            }
            let records = await orchestrator.run(jobs, mode: job)
            if json { printJSON(records) }
            if Task.isCancelled { throw ExitCode(ExitStatus.interrupted) }
            let failed = records.filter { $0.operation == .backup && !$0.success }
            if !failed.isEmpty || records.filter({ $0.operation == .backup }).count < jobs.count {
                if !json { Console.error("\(failed.count) of \(jobs.count) job\(jobs.count == 1 ? "" : "s") failed") }
                throw ExitCode(ExitStatus.fatal)
            }
        }
    }
}
