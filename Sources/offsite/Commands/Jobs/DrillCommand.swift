import ArgumentParser
import Foundation
import OffsiteJobs

struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Restore drills: prove that the latest backup of a job restores and holds data.",
        usage: "offsite drill [--env-file <path> ...] [--config <path>] [<options>] <job>",
        discussion: """
            Each drill restores the job's latest snapshot (tag JOB, this BACKUP_HOST) with offsite \
            itself, checks what came back, and removes everything it made. Live data is only read.

            postgres: for each database in BACKUP_POSTGRES_DATABASES (or PGDATABASE): offsite \
            dump of /<db>.sql piped into psql -v ON_ERROR_STOP=1 (no temporary file), into a \
            scratch database offsite_drill_<job>_<random> created on the same server (libpq's \
            variables; the user needs CREATEDB); then counts the tables and every row \
            (SELECT count(*) per table). Fails if the dump does not load or holds no table. The \
            scratch database is always dropped (DROP DATABASE … WITH (FORCE)). A pg_dumpall job \
            (whole cluster) is not drilled: replaying it would recreate roles and databases on the \
            live server; list the databases instead.

            redis: restores /redis.rdb (with --verify) and loads it into a throwaway \
            redis-server on a free 127.0.0.1 port (no persistence, stopped afterwards); reports its \
            key count beside the live server's (they may differ since the snapshot). Fails if the \
            RDB does not load, or is empty while the live server is not.

            volumes: offsite restore --verify into a scratch directory; reports files and bytes. \
            Fails on any restore or verification error.

            Scratch directories go under --scratch-dir (default $TMPDIR, else /tmp), mode 0700, \
            and are removed afterwards; a volumes drill needs room for the whole snapshot there. \
            Requires psql, redis-server and redis-cli on PATH for those jobs.

            Results are recorded as the jobs' last drill (status, metrics; the daemon runs drills \
            on DRILL_SCHEDULE). `all` drills every configured job, continues past a failure, and \
            exits 1 if any drill failed.

            Examples:
              offsite drill all --env-file .env.production
              offsite drill postgres --env-file .env.production --scratch-dir /var/tmp
              offsite drill app-db --config /etc/offsite/offsite.yml --json
            """)

    @OptionGroup var jobOptions: JobOptions

    @Option(
        name: .customLong("scratch-dir"),
        help: ArgumentHelp("Where scratch directories are made (default: $TMPDIR, else /tmp).", valueName: "dir"))
    var scratchDirectory: String?

    @Flag(name: .long, help: "Print the drills' records as JSON.")
    var json = false

    @Argument(help: "postgres, redis, volumes, a job name from offsite.yml, or all.")
    var job: String

    func run() async throws {
        let options = jobOptions
        let job = job
        let json = json
        let scratch = scratchDirectory
        try await runJobCommand {
            let configuration = try options.configuration()
            let jobs = try JobOptions.select(job, in: configuration)
            if let scratch {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: scratch, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw JobsError(.invalidSettings, "--scratch-dir \(scratch) is not a directory")
                }
            }
            let orchestrator = options.orchestrator(configuration) { line in
                if !json { Console.out(line) }
            }
            let records = await orchestrator.drill(jobs, scratchDirectory: scratch)
            if json { printJSON(records) }
            if Task.isCancelled { throw ExitCode(ExitStatus.interrupted) }
            let failed = records.filter { !$0.success }
            if !failed.isEmpty || records.count < jobs.count {
                if !json { Console.error("\(failed.count) of \(jobs.count) drill\(jobs.count == 1 ? "" : "s") failed") }
                throw ExitCode(ExitStatus.fatal)
            }
        }
    }
}
