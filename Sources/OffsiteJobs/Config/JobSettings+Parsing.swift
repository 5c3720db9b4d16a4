import Foundation

extension JobSettings {
    /// Every `BACKUP_` and `RESTIC_` variable offsite knows; any other name with those prefixes is a
    /// mistake, reported with the nearest known name. restic's own variables are accepted so that one
    /// environment serves both tools.
    public static let knownVariables: Set<String> = [
        "BACKUP_SCHEDULE", "BACKUP_ENV", "BACKUP_RETENTION_DAILY", "BACKUP_RETENTION_WEEKLY",
        "BACKUP_RETENTION_MONTHLY", "BACKUP_VOLUMES", "BACKUP_VAULT_PATH", "BACKUP_JOBS", "BACKUP_POSTGRES_DATABASES",
        "BACKUP_HOST", "BACKUP_METRICS_TEXTFILE", "BACKUP_LIMIT_UPLOAD", "OFFSITE_LISTEN", "OFFSITE_STATE_DIR", "OFFSITE_BINARY",
        "OFFSITE_PRICE_S3", "OFFSITE_PRICE_B2", "OFFSITE_PRICE_GCS_NEARLINE",
        "RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE", "RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE",
        "RESTIC_PASSWORD_COMMAND", "RESTIC_S3_ENDPOINT", "RESTIC_KEY_HINT", "RESTIC_CACHE_DIR",
        "RESTIC_COMPRESSION", "RESTIC_PACK_SIZE", "RESTIC_READ_CONCURRENCY", "RESTIC_HOST",
        "RESTIC_PROGRESS_FPS", "RESTIC_FEATURES", "RESTIC_CACERT", "RESTIC_TLS_CLIENT_CERT",
        "RESTIC_REST_USERNAME", "RESTIC_REST_PASSWORD", "RESTIC_FROM_REPOSITORY",
        "RESTIC_FROM_REPOSITORY_FILE", "RESTIC_FROM_PASSWORD", "RESTIC_FROM_PASSWORD_FILE",
        "RESTIC_FROM_PASSWORD_COMMAND", "RESTIC_FROM_KEY_HINT",
    ]

    /// Prefixes whose unknown names are reported (other variables belong to other programs).
    public static let checkedPrefixes = ["BACKUP_", "RESTIC_", "OFFSITE_"]

    /// Reads and validates settings.
    /// - Throws: `JobsError.Code.invalidSettings` whose `problems` name every mistake at once (unknown
    ///   variable with a suggestion, bad cron expression and field, bad number, missing repository or
    ///   password, …), each with where it was set. No message contains a secret's value.
    public init(variables: EnvironmentVariables) throws(JobsError) {
        var reader = SettingsReader(variables: variables)
        for name in variables.values.keys.sorted()
        where Self.checkedPrefixes.contains(where: { name.hasPrefix($0) }) && !Self.knownVariables.contains(name) {
            var message = "unknown variable"
            if let suggestion = Self.suggestion(for: name) { message += "; did you mean \(suggestion)?" }
            reader.report(name, message + " (remove it or fix its name)")
        }

        let repository: RepositorySource?
        if let url = reader.string("RESTIC_REPOSITORY") {
            repository = .url(Secret(url))
        } else if let file = reader.string("RESTIC_REPOSITORY_FILE") {
            repository = .file(file)
        } else {
            repository = nil
            reader.report(
                "RESTIC_REPOSITORY", "missing; set it to the repository (s3:…, gs:…, rest:…, or a path), or RESTIC_REPOSITORY_FILE")
        }

        let command = reader.string("RESTIC_PASSWORD_COMMAND")
        let file = reader.string("RESTIC_PASSWORD_FILE")
        let password: PasswordSource?
        if command != nil && file != nil {
            reader.report("RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_FILE and RESTIC_PASSWORD_COMMAND are mutually exclusive; keep one")
            password = nil
        } else if let command {
            password = .command(command)
        } else if let file {
            password = .file(file)
        } else if let value = variables["RESTIC_PASSWORD"], !value.isEmpty {
            password = .value(Secret(value))
        } else {
            password = nil
            reader.report("RESTIC_PASSWORD", "missing; set RESTIC_PASSWORD, RESTIC_PASSWORD_FILE or RESTIC_PASSWORD_COMMAND")
        }

        var environment = Environment.production
        if let text = reader.string("BACKUP_ENV") {
            switch text.lowercased() {
            case "production", "prod": environment = .production
            case "staging", "stage": environment = .staging
            case "dev", "development": environment = .dev
            default: reader.report("BACKUP_ENV", "\"\(text)\" is not production, staging or dev")
            }
        }
        let preset = environment.retention
        let retention = RetentionSettings(
            daily: reader.count("BACKUP_RETENTION_DAILY") ?? preset.daily,
            weekly: reader.count("BACKUP_RETENTION_WEEKLY") ?? preset.weekly,
            monthly: reader.count("BACKUP_RETENTION_MONTHLY") ?? preset.monthly
        )

        let backupSchedule = reader.schedule("BACKUP_SCHEDULE", default: Self.defaultBackupSchedule, canDisable: false)
        let pruneSchedule = reader.schedule("PRUNE_SCHEDULE", default: Self.defaultPruneSchedule, canDisable: true)
        let checkSchedule = reader.schedule("CHECK_SCHEDULE", default: Self.defaultCheckSchedule, canDisable: true)
        var checkRotation = Self.defaultCheckRotation
        if let n = reader.count("CHECK_ROTATION") {
            if n >= 1 {
                checkRotation = n
            } else {
                reader.report("CHECK_ROTATION", "must be at least 1 (1 reads every pack at each check)")
            }
        }

        var timeZone = TimeZone.current
        if var name = reader.string("TZ") {
            if name.hasPrefix(":") { name.removeFirst() }
            if let zone = TimeZone(identifier: name) {
                timeZone = zone
            } else {
                reader.report("TZ", "\"\(name)\" is not a time zone name such as Europe/Paris or UTC")
            }
        }

        var pushgateway: URL?
        if let text = reader.string("PROMETHEUS_PUSHGATEWAY") {
            if let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                let host = url.host, !host.isEmpty
            {
                pushgateway = url
            } else {
                // The URL may carry credentials: describe the mistake without the value.
                reader.report("PROMETHEUS_PUSHGATEWAY", "is not an http(s) URL such as http://prometheus:9091")
            }
        }

        let postgres = PostgresSettings(
            host: reader.string("PGHOST"),
            port: reader.port("PGPORT"),
            user: reader.string("PGUSER"),
            password: variables["PGPASSWORD"].flatMap { $0.isEmpty ? nil : Secret($0) },
            database: reader.string("PGDATABASE")
        )
        let redis = RedisSettings(
            host: reader.string("REDIS_HOST") ?? "127.0.0.1",
            port: reader.port("REDIS_PORT") ?? 6379,
            password: variables["REDIS_PASSWORD"].flatMap { $0.isEmpty ? nil : Secret($0) }
        )
        var volumes = Self.defaultVolumes
        if let text = variables["BACKUP_VOLUMES"] {
            volumes = text.split(whereSeparator: { $0 == "," || $0 == "\n" })
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        for path in volumes where !path.hasPrefix("/") {
            reader.report("BACKUP_VOLUMES", "\"\(path)\" is not an absolute path")
        }
        let vaultPath = reader.string("BACKUP_VAULT_PATH")
        if let vaultPath, !vaultPath.hasPrefix("/") {
            reader.report("BACKUP_VAULT_PATH", "\"\(vaultPath)\" is not an absolute path")
        }

        var jobs = JobDefinition.Kind.allCases
        if let text = reader.string("BACKUP_JOBS") {
            jobs = []
            for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !name.isEmpty {
                if let kind = JobDefinition.Kind(rawValue: name) {
                    if !jobs.contains(kind) { jobs.append(kind) }
                } else {
                    reader.report("BACKUP_JOBS", "\"\(name)\" is not a job; use postgres, redis and/or volumes")
                }
            }
        }
        var postgresDatabases = reader.string("PGDATABASE").map { [$0] } ?? []
        if let text = reader.string("BACKUP_POSTGRES_DATABASES") {
            let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            postgresDatabases = names == ["all"] ? [] : names
        }
        _ = reader.count("BACKUP_LIMIT_UPLOAD")  // KiB/s, read by the orchestrator; validated here
        let drillSchedule = reader.schedule("DRILL_SCHEDULE", default: "off", canDisable: true)

        guard reader.problems.isEmpty, let repository, let password, let backupSchedule else {
            let problems = reader.problems
            let list = problems.map { "  - \($0)" }.joined(separator: "\n")
            throw JobsError(
                .invalidSettings,
                "the configuration has \(problems.count) mistake\(problems.count == 1 ? "" : "s"):\n\(list)",
                problems: problems
            )
        }
        self.repository = repository
        self.password = password
        self.s3Endpoint = reader.string("RESTIC_S3_ENDPOINT")
        self.environment = environment
        self.retention = retention
        self.backupSchedule = backupSchedule
        self.pruneSchedule = pruneSchedule
        self.checkSchedule = checkSchedule
        self.checkRotation = checkRotation
        self.timeZone = timeZone
        self.pushgateway = pushgateway
        self.postgres = postgres
        self.redis = redis
        self.volumes = volumes
        self.vaultPath = vaultPath
        self.jobs = jobs
        self.postgresDatabases = postgresDatabases
        self.host = reader.string("BACKUP_HOST")
        self.textfile = reader.string("BACKUP_METRICS_TEXTFILE")
        self.listen = reader.string("OFFSITE_LISTEN")
        self.drillSchedule = drillSchedule
    }

    /// The closest known variable with the same prefix, if it is close enough to be a typo.
    static func suggestion(for name: String) -> String? {
        let candidates = knownVariables.map { ($0, editDistance(name, $0)) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let (best, distance) = candidates.first, distance <= max(2, name.count / 4) else { return nil }
        return best
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}

/// Reads non-secret variables and collects problems; never quotes a secret.
struct SettingsReader {
    let variables: EnvironmentVariables
    var problems: [SettingsProblem] = []

    mutating func report(_ variable: String, _ message: String) {
        problems.append(SettingsProblem(variable: variable, origin: variables.origins[variable], message: message))
    }

    /// The value, or nil if unset or empty (an empty value means "unset", as in restic).
    func string(_ name: String) -> String? {
        guard let value = variables[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    mutating func count(_ name: String) -> Int? {
        guard let text = string(name) else { return nil }
        guard let n = Int(text), n >= 0 else {
            report(name, "\"\(text)\" is not a whole number of snapshots or runs (0 or more)")
            return nil
        }
        return n
    }

    mutating func port(_ name: String) -> Int? {
        guard let text = string(name) else { return nil }
        guard let n = Int(text), (1...65535).contains(n) else {
            report(name, "\"\(text)\" is not a port number 1-65535")
            return nil
        }
        return n
    }

    mutating func schedule(_ name: String, default fallback: String, canDisable: Bool) -> CronSchedule? {
        let raw = variables[name]
        let text = raw?.trimmingCharacters(in: .whitespaces)
        if canDisable, (text ?? fallback).isEmpty || (text ?? fallback).lowercased() == "off" { return nil }
        do {
            return try CronSchedule(parsing: text.flatMap { $0.isEmpty ? nil : $0 } ?? fallback)
        } catch {
            report(name, error.message)
            return nil
        }
    }
}
