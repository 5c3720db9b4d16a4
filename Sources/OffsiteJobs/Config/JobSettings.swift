public import Foundation

/// The orchestrator's settings, read from the merged `.env` files and process environment
/// (`EnvironmentVariables`). Secrets are `Secret`s, so describing or dumping settings never shows them.
///
/// Variables (the guide's, restic's, libpq's, plus offsite's own):
/// - `RESTIC_REPOSITORY` or `RESTIC_REPOSITORY_FILE` (required);
///   `RESTIC_PASSWORD_COMMAND`, `RESTIC_PASSWORD_FILE` or `RESTIC_PASSWORD` (one required; restic's
///   precedence: command, then file, then the password; command and file together are an error);
/// - `BACKUP_SCHEDULE` (default `0 */6 * * *`), `PRUNE_SCHEDULE` (default `0 3 * * 0`),
///   `CHECK_SCHEDULE` (default `0 5 * * 0`); `off` or empty disables prune or check;
///   `CHECK_ROTATION` (default 10): each check reads 1/n of the packs, all of them every n checks;
/// - `BACKUP_ENV` = `production` (default) | `staging` | `dev` picks retention 30/12/12, 7/4/3 or
///   3/2/0 (daily/weekly/monthly); each `BACKUP_RETENTION_DAILY|WEEKLY|MONTHLY` set overrides its part;
/// - `PROMETHEUS_PUSHGATEWAY` (an http(s) URL, optional);
/// - PostgreSQL as libpq reads it: `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`;
/// - Redis: `REDIS_HOST`, `REDIS_PORT` (6379), `REDIS_PASSWORD`;
/// - volumes: `BACKUP_VOLUMES` (comma-separated directories, default `/data`, the guide's path) and
///   `BACKUP_VAULT_PATH` (Vault's data directory, tagged `vault`);
/// - `BACKUP_JOBS` (default `postgres,redis,volumes`), `BACKUP_POSTGRES_DATABASES` (comma list or
///   `all`; default `PGDATABASE`, else all), `BACKUP_HOST`, `BACKUP_METRICS_TEXTFILE`, `OFFSITE_LISTEN`,
///   `OFFSITE_STATE_DIR`, `DRILL_SCHEDULE` (default off);
/// - `TZ` for schedules (default: the system's zone); `RESTIC_S3_ENDPOINT` as the guide's B2 setup writes it.
public struct JobSettings: Sendable, Equatable {
    public enum Environment: String, Sendable, Equatable, CaseIterable {
        case production, staging, dev

        /// The guide's retention preset for this environment.
        public var retention: RetentionSettings {
            switch self {
            case .production: RetentionSettings(daily: 30, weekly: 12, monthly: 12)
            case .staging: RetentionSettings(daily: 7, weekly: 4, monthly: 3)
            case .dev: RetentionSettings(daily: 3, weekly: 2, monthly: 0)
            }
        }
    }

    /// Where the repository password comes from, in restic's order of precedence.
    public enum PasswordSource: Sendable, Equatable {
        case command(String)
        case file(String)
        case value(Secret)
    }

    /// Where the repository is: its URL, or a file holding it.
    public enum RepositorySource: Sendable, Equatable {
        case url(Secret)
        case file(String)
    }

    public var repository: RepositorySource
    public var password: PasswordSource
    /// The guide's `RESTIC_S3_ENDPOINT` (B2's S3 endpoint), if set.
    public var s3Endpoint: String?
    public var environment: Environment
    public var retention: RetentionSettings
    public var backupSchedule: CronSchedule
    /// Nil when disabled (`PRUNE_SCHEDULE=off`).
    public var pruneSchedule: CronSchedule?
    /// Nil when disabled (`CHECK_SCHEDULE=off`).
    public var checkSchedule: CronSchedule?
    public var checkRotation: Int
    public var timeZone: TimeZone
    public var pushgateway: URL?
    public var postgres: PostgresSettings
    public var redis: RedisSettings
    public var volumes: [String]
    public var vaultPath: String?
    /// `BACKUP_JOBS`: which of postgres, redis, volumes `run all` and the daemon run (default all three).
    public var jobs: [JobDefinition.Kind]
    /// `BACKUP_POSTGRES_DATABASES`: databases dumped one by one (comma list); `all` (or unset with no
    /// `PGDATABASE`) dumps the whole cluster with `pg_dumpall`.
    public var postgresDatabases: [String]
    /// `BACKUP_HOST`: the host name recorded in snapshots (default: the system's).
    public var host: String?
    /// `BACKUP_METRICS_TEXTFILE`: a node_exporter textfile collector file.
    public var textfile: String?
    /// `OFFSITE_LISTEN`: `host:port` for the daemon's `/metrics` and `/healthz`.
    public var listen: String?
    /// `DRILL_SCHEDULE`: when the daemon runs restore drills (default: never).
    public var drillSchedule: CronSchedule?

    public static let defaultBackupSchedule = "0 */6 * * *"
    public static let defaultPruneSchedule = "0 3 * * 0"
    public static let defaultCheckSchedule = "0 5 * * 0"
    public static let defaultCheckRotation = 10
    public static let defaultVolumes = ["/data"]
}

/// How many snapshots of each kind retention keeps (`forget --keep-daily … --keep-weekly … --keep-monthly …`).
public struct RetentionSettings: Sendable, Equatable {
    public var daily: Int
    public var weekly: Int
    public var monthly: Int

    public init(daily: Int, weekly: Int, monthly: Int) {
        self.daily = daily
        self.weekly = weekly
        self.monthly = monthly
    }
}

/// libpq's connection variables; nil means libpq's own default (`pg_dump` reads the same variables).
public struct PostgresSettings: Sendable, Equatable {
    public var host: String?
    public var port: Int?
    public var user: String?
    public var password: Secret?
    public var database: String?
    /// offsite.yml's `password_file`: a file holding the password, read when the job runs (never at
    /// load time); libpq has no such variable (`PGPASSFILE` is a `.pgpass`), so the runner reads it.
    public var passwordFile: String?

    public init(
        host: String? = nil, port: Int? = nil, user: String? = nil, password: Secret? = nil, database: String? = nil,
        passwordFile: String? = nil
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.passwordFile = passwordFile
    }

    /// libpq's variables for `pg_dump`, `psql`… (the password travels in the environment, never on a command line).
    public func libpqVariables() -> [String: String] {
        var v: [String: String] = [:]
        if let host { v["PGHOST"] = host }
        if let port { v["PGPORT"] = String(port) }
        if let user { v["PGUSER"] = user }
        if let password { v["PGPASSWORD"] = password.reveal() }
        if let database { v["PGDATABASE"] = database }
        return v
    }
}

/// The Redis server to snapshot.
public struct RedisSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var password: Secret?
    /// offsite.yml's `password_file`: a file holding the password, read when the job runs (never at load time).
    public var passwordFile: String?

    public init(host: String = "127.0.0.1", port: Int = 6379, password: Secret? = nil, passwordFile: String? = nil) {
        self.host = host
        self.port = port
        self.password = password
        self.passwordFile = passwordFile
    }
}

extension JobSettings.RepositorySource: CustomStringConvertible {
    /// The repository for messages and `status`: a URL with any password in it replaced by `***`.
    public var description: String {
        switch self {
        case .url(let url): JobSettings.redactingCredentials(url.reveal())
        case .file(let path): "(from \(path))"
        }
    }
}

extension JobSettings {
    /// `rest:https://user:pass@host/` → `rest:https://user:***@host/`; other text unchanged.
    public static func redactingCredentials(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let authorityEnd = url[scheme.upperBound...].firstIndex(of: "/") ?? url.endIndex
        guard let at = url[scheme.upperBound..<authorityEnd].lastIndex(of: "@"),
            let colon = url[scheme.upperBound..<at].firstIndex(of: ":")
        else { return url }
        return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
    }
}
