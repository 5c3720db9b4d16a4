public import Foundation

/// Everything the orchestrator runs: repositories, jobs, where metrics go. Built from the guide's
/// `.env` variables (`Configuration(settings:environment:)`: one repository, the postgres, redis and
/// volumes jobs) or from an `offsite.yml` (`Configuration.load(yaml:…)`: several of each).
public struct Configuration: Sendable, Equatable {
    public var repositories: [RepositoryTarget]
    public var jobs: [JobDefinition]
    public var pushgateway: URL?
    /// A node_exporter textfile collector file (`BACKUP_METRICS_TEXTFILE`), rewritten after every run.
    public var textfile: String?
    /// `host:port` where the daemon serves `/metrics` and `/healthz` (`OFFSITE_LISTEN`), nil for none.
    public var listen: String?
    /// The host name recorded in snapshots (`BACKUP_HOST`, else the system's): retention groups by it,
    /// so it must not change when a container is recreated.
    public var host: String
    public var timeZone: TimeZone
    /// When restore drills run in the daemon (`DRILL_SCHEDULE`), nil for never.
    public var drillSchedule: CronSchedule?
    /// The environment every command the orchestrator starts receives: the process environment
    /// merged with the env files (credentials such as `AWS_*` and `GOOGLE_*` reach offsite this way).
    public var environment: [String: String]

    public init(
        repositories: [RepositoryTarget], jobs: [JobDefinition], pushgateway: URL? = nil, textfile: String? = nil,
        listen: String? = nil, host: String, timeZone: TimeZone, drillSchedule: CronSchedule? = nil,
        environment: [String: String]
    ) {
        self.repositories = repositories
        self.jobs = jobs
        self.pushgateway = pushgateway
        self.textfile = textfile
        self.listen = listen
        self.host = host
        self.timeZone = timeZone
        self.drillSchedule = drillSchedule
        self.environment = environment
    }

    public func repository(named name: String) -> RepositoryTarget? { repositories.first { $0.name == name } }

    public func job(named name: String) -> JobDefinition? { jobs.first { $0.name == name } }
}

/// One repository jobs write to, with its maintenance schedules.
public struct RepositoryTarget: Sendable, Equatable {
    /// `default` for a `.env` configuration; the key in offsite.yml's `repositories`.
    public var name: String
    public var location: JobSettings.RepositorySource
    public var password: JobSettings.PasswordSource
    /// Variables only this repository's commands receive (offsite.yml's `env:`), over `Configuration.environment`.
    public var environment: [String: String]
    public var pruneSchedule: CronSchedule?
    public var checkSchedule: CronSchedule?
    public var checkRotation: Int

    public init(
        name: String, location: JobSettings.RepositorySource, password: JobSettings.PasswordSource,
        environment: [String: String] = [:], pruneSchedule: CronSchedule?, checkSchedule: CronSchedule?, checkRotation: Int
    ) {
        self.name = name
        self.location = location
        self.password = password
        self.environment = environment
        self.pruneSchedule = pruneSchedule
        self.checkSchedule = checkSchedule
        self.checkRotation = checkRotation
    }

    /// The variables that point an offsite command at this repository (restic's names), replacing
    /// any other repository or password variable.
    public func resticVariables() -> [String: String] {
        var v: [String: String] = [:]
        switch location {
        case .url(let url): v["RESTIC_REPOSITORY"] = url.reveal()
        case .file(let path): v["RESTIC_REPOSITORY_FILE"] = path
        }
        switch password {
        case .command(let command): v["RESTIC_PASSWORD_COMMAND"] = command
        case .file(let path): v["RESTIC_PASSWORD_FILE"] = path
        case .value(let secret): v["RESTIC_PASSWORD"] = secret.reveal()
        }
        return v
    }

    static let locationVariables = [
        "RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE", "RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND",
    ]
}

/// One backup job: what it dumps, where to, when, and how many snapshots it keeps.
public struct JobDefinition: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable, Codable {
        case postgres, redis, volumes
    }

    /// Also its tag: `forget` selects the job's snapshots by it.
    public var name: String
    public var kind: Kind
    /// The `RepositoryTarget.name` it writes to.
    public var repository: String
    public var schedule: CronSchedule
    public var retention: RetentionSettings
    /// Tags besides the name and `backup-date-YYYYMMDD` (`vault` for a Vault data directory).
    public var extraTags: [String]
    /// postgres: the connection (libpq's variables) and which databases; empty `databases` dumps
    /// every database and the globals with `pg_dumpall`.
    public var postgres: PostgresSettings
    public var databases: [String]
    /// redis: the server to snapshot.
    public var redis: RedisSettings
    /// volumes: the directories, as one snapshot.
    public var paths: [String]

    public init(
        name: String, kind: Kind, repository: String, schedule: CronSchedule, retention: RetentionSettings,
        extraTags: [String] = [], postgres: PostgresSettings = PostgresSettings(), databases: [String] = [],
        redis: RedisSettings = RedisSettings(), paths: [String] = []
    ) {
        self.name = name
        self.kind = kind
        self.repository = repository
        self.schedule = schedule
        self.retention = retention
        self.extraTags = extraTags
        self.postgres = postgres
        self.databases = databases
        self.redis = redis
        self.paths = paths
    }
}

extension Configuration {
    /// The guide's single-repository setup: the postgres, redis and volumes jobs (or those listed in
    /// `BACKUP_JOBS`) on `BACKUP_SCHEDULE`, all writing to the `default` repository.
    public init(settings: JobSettings, environment: [String: String]) {
        let repository = RepositoryTarget(
            name: "default", location: settings.repository, password: settings.password,
            pruneSchedule: settings.pruneSchedule, checkSchedule: settings.checkSchedule, checkRotation: settings.checkRotation)
        var jobs: [JobDefinition] = []
        for kind in settings.jobs {
            var job = JobDefinition(
                name: kind.rawValue, kind: kind, repository: repository.name, schedule: settings.backupSchedule,
                retention: settings.retention)
            switch kind {
            case .postgres:
                job.postgres = settings.postgres
                job.databases = settings.postgresDatabases
            case .redis:
                job.redis = settings.redis
            case .volumes:
                job.paths = settings.volumes
                if let vault = settings.vaultPath {
                    job.paths.append(vault)
                    job.extraTags = ["vault"]
                }
            }
            jobs.append(job)
        }
        self.init(
            repositories: [repository], jobs: jobs, pushgateway: settings.pushgateway, textfile: settings.textfile,
            listen: settings.listen, host: settings.host ?? Self.systemHostName(), timeZone: settings.timeZone,
            drillSchedule: settings.drillSchedule, environment: environment)
    }

    public static func systemHostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(cString: buffer)
    }
}
