public import Foundation

/// Runs jobs, retention and maintenance through the offsite binary, one command per step (the
/// same commands an operator would type), records each outcome in the state and publishes metrics.
///
/// A backup job: make sure the repository exists (initialise it only when there is none at the
/// location: exit code 10; any other failure to open it is reported, never "fixed" by an init),
/// then one `offsite backup --json --quiet` per snapshot: `--stdin-from-command -- pg_dump …` per
/// database (or `pg_dumpall`), `--stdin-from-command -- redis-cli --rdb -`, or the volumes' paths;
/// then, if it succeeded, `forget` of that job's snapshots only (`--tag JOB --group-by host,paths`).
public struct Orchestrator: Sendable {
    public let configuration: Configuration
    /// The offsite executable the commands run (normally this process's own binary).
    public let offsite: String
    public let store: StateStore
    /// One line per event (job started, completed, failed, metrics pushed…).
    public let log: @Sendable (String) -> Void

    public init(configuration: Configuration, offsite: String, store: StateStore, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.offsite = offsite
        self.store = store
        self.log = log
    }

    // MARK: Environments

    /// The environment of a command against `repository`: the configuration's, the repository's own
    /// variables, and restic's repository and password variables for it (any others removed).
    func environment(for repository: RepositoryTarget, extra: [String: String] = [:]) -> [String: String] {
        var env = configuration.environment
        for name in RepositoryTarget.locationVariables { env[name] = nil }
        env.merge(repository.environment) { $1 }
        env.merge(repository.resticVariables()) { $1 }
        env.merge(extra) { $1 }
        return env
    }

    func repository(of job: JobDefinition) throws(JobsError) -> RepositoryTarget {
        guard let target = configuration.repository(named: job.repository) else {
            throw JobsError(.invalidSettings, "job \(job.name) names repository \(job.repository), which is not configured")
        }
        return target
    }

    func offsite(
        _ arguments: [String], repository: RepositoryTarget, extra: [String: String] = [:]
    ) async throws(JobsError)
        -> CommandRunner.Output
    {
        try await CommandRunner.run([offsite] + arguments, environment: environment(for: repository, extra: extra))
    }

    // MARK: Repository

    /// Opens the repository, or initialises it when nothing is there yet.
    /// - Throws: `.repository` with offsite's reason when it exists but cannot be opened (wrong
    ///   password, unreachable storage, damaged config).
    public func ensureRepository(_ repository: RepositoryTarget) async throws(JobsError) {
        let probe = try await offsite(["cat", "config", "--no-lock"], repository: repository)
        if probe.succeeded { return }
        guard probe.status == 10 else {
            throw JobsError(.repository, "repository \(repository.location) cannot be opened: \(probe.reason())")
        }
        log("repository \(repository.location): none yet, initialising it")
        let created = try await offsite(["init"], repository: repository)
        guard created.succeeded else {
            throw JobsError(.repository, "repository \(repository.location) could not be initialised: \(created.reason())")
        }
    }

    // MARK: Backups

    /// The snapshots one run of `job` writes: each is the arguments after `offsite backup` and the
    /// extra environment (connection variables) it needs.
    func backupCommands(
        _ job: JobDefinition, date: Date, rdbFile: String? = nil
    ) throws(JobsError) -> [(arguments: [String], environment: [String: String])] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = configuration.timeZone
        let day = calendar.dateComponents([.year, .month, .day], from: date)
        let stamp = String(format: "%04d%02d%02d", day.year!, day.month!, day.day!)
        // --retry-lock: another host's (or another daemon's) prune, check or forget holds the
        // repository exclusively for a while; the backup waits for it instead of failing.
        var common = ["backup", "--json", "--quiet", "--retry-lock", "30m", "--host", configuration.host, "--tag", job.name]
        for tag in job.extraTags { common += ["--tag", tag] }
        common += ["--tag", "backup-date-\(stamp)"]
        // BACKUP_LIMIT_UPLOAD (KiB/s) keeps backups from filling a server's uplink.
        if let limit = configuration.environment["BACKUP_LIMIT_UPLOAD"].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }), limit > 0
        {
            common += ["--limit-upload", String(limit)]
        }
        switch job.kind {
        case .postgres:
            let env = try job.postgres.resolvedVariables()
            if job.databases.isEmpty {
                return [
                    (common + ["--stdin-filename", "pg_dumpall.sql", "--stdin-from-command", "--", "pg_dumpall", "--no-password"], env)
                ]
            }
            return job.databases.map { database in
                (
                    common + [
                        "--stdin-filename", "\(database).sql", "--stdin-from-command", "--",
                        "pg_dump", "--no-password", "--format=plain", "--dbname", database,
                    ], env
                )
            }
        case .redis:
            // The RDB file fetched by `fetchRDB`, streamed in under a fixed name (a temporary
            // path would change the snapshot's paths, and retention groups by them).
            return [(common + ["--stdin-filename", "redis.rdb", "--stdin-from-command", "--", "cat", rdbFile ?? "/dev/null"], [:])]
        case .volumes:
            return [(common + job.paths, [:])]
        }
    }

    /// Takes a consistent RDB snapshot of the job's Redis server with `redis-cli --rdb FILE` (a
    /// replica's full sync: nothing changes on the server, unlike BGSAVE over its own dump). A file,
    /// not a pipe: with diskless replication redis-cli ends the stream with a 40-byte end marker
    /// it can only cut off a file, so `--rdb -` would store a padded RDB.
    func fetchRDB(_ job: JobDefinition, to path: String) async throws(JobsError) {
        var extra: [String: String] = [:]
        if let password = try job.redis.resolvedPassword() { extra["REDISCLI_AUTH"] = password }
        let out = try await CommandRunner.run(
            ["redis-cli", "-h", job.redis.host, "-p", String(job.redis.port), "--no-auth-warning", "--rdb", path],
            environment: configuration.environment.merging(extra) { $1 })
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard out.succeeded, size > 0, !out.stderr.contains("Error"), !out.stdout.contains("NOAUTH"), !out.stdout.contains("WRONGPASS")
        else {
            let reason = [out.stdout, out.stderr].joined(separator: "\n").split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.suffix(2).joined(separator: " / ")
            throw JobsError(
                .io,
                "redis-cli --rdb from \(job.redis.host):\(job.redis.port) failed: \(reason.isEmpty ? "exit status \(out.status)" : reason); no snapshot saved (check REDIS_HOST, REDIS_PORT, REDIS_PASSWORD)"
            )
        }
    }

    /// A new directory only this user can enter, under `$TMPDIR`.
    static func privateDirectory(prefix: String) throws(JobsError) -> String {
        let path = NSTemporaryDirectory() + prefix + UUID().uuidString
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw JobsError(
                .io,
                "cannot create a private directory under \(NSTemporaryDirectory()): \(error.localizedDescription); set TMPDIR to a writable directory"
            )
        }
        return path
    }

    /// Backs up `job` (one snapshot, or one per database) and records the outcome.
    public func backup(_ job: JobDefinition, now: Date = Date()) async -> RunRecord {
        let started = Date()
        var record = RunRecord(operation: .backup, job: job.name, success: false, message: "", started: started, duration: 0)
        do {
            let repository = try repository(of: job)
            try await ensureRepository(repository)
            var snapshots: [String] = []
            var bytesAdded: Int64 = 0
            var processed: Int64 = 0
            var filesNew = 0
            var filesChanged = 0
            var failures: [String] = []
            var interruptions = 0
            var rdbDirectory: String?
            defer { if let rdbDirectory { try? FileManager.default.removeItem(atPath: rdbDirectory) } }
            if job.kind == .redis {
                rdbDirectory = try Self.privateDirectory(prefix: "offsite-redis-")
                try await fetchRDB(job, to: rdbDirectory! + "/redis.rdb")
            }
            for (arguments, extra) in try backupCommands(job, date: now, rdbFile: rdbDirectory.map { $0 + "/redis.rdb" }) {
                try Task.checkCancellation()
                let out = try await offsite(arguments, repository: repository, extra: extra)
                let summary = Self.summary(in: out.stdout)
                if let id = summary?["snapshot_id"] as? String { snapshots.append(id) }
                bytesAdded += Self.int64(summary?["data_added_packed"])
                processed += Self.int64(summary?["total_bytes_processed"])
                filesNew += Int(Self.int64(summary?["files_new"]))
                filesChanged += Int(Self.int64(summary?["files_changed"]))
                if out.status == 3 {
                    failures.append("incomplete: some files could not be read, snapshot saved: \(out.reason())")
                } else if out.status == 130 {
                    interruptions += 1
                    failures.append("interrupted, no snapshot saved")
                } else if !out.succeeded {
                    failures.append(out.reason())
                }
            }
            record.snapshotID = snapshots.last
            record.bytesAdded = bytesAdded
            record.bytesProcessed = processed
            record.filesNew = filesNew
            record.filesChanged = filesChanged
            record.success = failures.isEmpty
            record.message = failures.isEmpty ? "completed" : failures.joined(separator: "; ")
            // Interrupted only when the shutdown is all that went wrong (a database whose dump
            // failed before the stop is still a failure).
            if !failures.isEmpty && interruptions == failures.count { record.interrupted = true }
        } catch let error as JobsError {
            // A step the shutdown killed (its tool exits 143) fails as a step; say what happened.
            record.message = Task.isCancelled ? "interrupted, no snapshot saved" : error.message
            if Task.isCancelled { record.interrupted = true }
        } catch is CancellationError {
            record.message = "interrupted, no snapshot saved"
            record.interrupted = true
        } catch {
            record.message = "\(error)"
        }
        record.duration = Date().timeIntervalSince(started)
        return record
    }

    /// Applies `job`'s retention to its own snapshots (`--tag JOB --group-by host,paths`), so one
    /// job's snapshots never count toward another's. Nothing is deleted until prune.
    public func forget(_ job: JobDefinition) async -> RunRecord? {
        let r = job.retention
        guard r.daily > 0 || r.weekly > 0 || r.monthly > 0 else { return nil }
        let started = Date()
        var record = RunRecord(operation: .forget, job: job.name, success: false, message: "", started: started, duration: 0)
        do {
            let repository = try repository(of: job)
            // forget locks exclusively: it waits for other hosts' backups to finish.
            var arguments = [
                "forget", "--json", "--retry-lock", "30m", "--tag", job.name, "--group-by", "host,paths", "--host", configuration.host,
            ]
            if r.daily > 0 { arguments += ["--keep-daily", String(r.daily)] }
            if r.weekly > 0 { arguments += ["--keep-weekly", String(r.weekly)] }
            if r.monthly > 0 { arguments += ["--keep-monthly", String(r.monthly)] }
            let out = try await offsite(arguments, repository: repository)
            if out.succeeded {
                record.success = true
                record.message = "completed"
                if let groups = try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [[String: Any]] {
                    record.snapshotCount = groups.reduce(0) { $0 + (($1["keep"] as? [Any])?.count ?? 0) }
                }
            } else {
                record.message = out.status == 130 ? "interrupted" : out.reason()
                if out.status == 130 { record.interrupted = true }
            }
        } catch {
            record.message = error.message
            if Task.isCancelled { record.interrupted = true }
        }
        record.duration = Date().timeIntervalSince(started)
        return record
    }

    /// Backs up each job, applies its retention, and records everything (`run all`, or a schedule
    /// firing): a failed job does not stop the others. Returns the records in job order.
    public func run(_ jobs: [JobDefinition], mode: String) async -> [RunRecord] {
        let started = Date()
        var records: [RunRecord] = []
        for job in jobs {
            if Task.isCancelled { break }
            log("\(job.name): backup started")
            let record = await backup(job)
            records.append(record)
            save(record)
            if record.success {
                log(
                    "\(job.name): backup completed in \(Self.seconds(record.duration)), snapshot \(record.snapshotID.map { String($0.prefix(8)) } ?? "-"), \(Self.bytes(record.bytesAdded ?? 0)) added"
                )
                if let forgotten = await forget(job) {
                    records.append(forgotten)
                    save(forgotten)
                    log(
                        "\(job.name): retention \(forgotten.success ? "applied, \(forgotten.snapshotCount ?? 0) snapshot\(forgotten.snapshotCount == 1 ? "" : "s") kept" : "failed: \(forgotten.message)")"
                    )
                }
            } else if record.wasInterrupted {
                log("\(job.name): backup interrupted (\(record.message)); the last finished backup stays in the metrics")
            } else {
                log("\(job.name): backup FAILED: \(record.message)")
            }
        }
        let backups = records.filter { $0.operation == .backup }
        let failed = backups.filter { !$0.success && !$0.wasInterrupted }.map(\.job)
        let finished = backups.count == jobs.count && !backups.contains { $0.wasInterrupted }
        let all = RunRecord(
            operation: .backup, job: mode, success: failed.isEmpty && finished,
            message: failed.isEmpty ? (finished ? "completed" : "interrupted") : "failed: \(failed.joined(separator: ", "))",
            started: started, duration: Date().timeIntervalSince(started),
            bytesAdded: backups.reduce(0) { $0 + ($1.bytesAdded ?? 0) }, bytesProcessed: backups.reduce(0) { $0 + ($1.bytesProcessed ?? 0) }
        )
        // A run the shutdown cut short with no failure is not recorded as the last run of every
        // job: backup_success{mode="all"} keeps the last one that finished.
        if (jobs.count > 1 || mode == "all") && (finished || !failed.isEmpty) {
            do {
                try store.update { $0.lastAll = all }
            } catch {
                log("state: \(error.message)")
            }
        }
        await publish()
        return records
    }

    // MARK: Maintenance

    /// `offsite prune` (waiting up to 30 minutes for backups' locks), then the repository's size.
    public func prune(_ repository: RepositoryTarget) async -> RunRecord {
        await maintenance(.prune, repository, arguments: ["prune", "--retry-lock", "30m"])
    }

    /// `offsite check` reading the next 1/n of the packs (`--read-data-subset k/n`, n = the
    /// repository's check rotation), so every pack is read once every n checks.
    public func check(_ repository: RepositoryTarget) async -> RunRecord {
        let n = max(1, repository.checkRotation)
        let counter = (try? store.load().checkCounter[repository.name]) ?? 0
        var arguments = ["check", "--retry-lock", "30m"]
        arguments += n == 1 ? ["--read-data"] : ["--read-data-subset", "\(counter % n + 1)/\(n)"]
        let record = await maintenance(.check, repository, arguments: arguments)
        if record.success {
            do {
                try store.update { $0.checkCounter[repository.name] = counter + 1 }
            } catch {
                log("state: \(error.message)")
            }
        }
        return record
    }

    func maintenance(_ operation: Operation, _ repository: RepositoryTarget, arguments: [String]) async -> RunRecord {
        let started = Date()
        log("\(repository.name): \(arguments.joined(separator: " ")) started")
        var record = RunRecord(operation: operation, job: repository.name, success: false, message: "", started: started, duration: 0)
        do {
            let out = try await offsite(arguments, repository: repository)
            record.success = out.succeeded
            record.message = out.succeeded ? "completed" : (out.status == 130 ? "interrupted" : out.reason())
            if out.status == 130 { record.interrupted = true }
            if out.succeeded,
                let stats = try? await offsite(["stats", "--json", "--no-lock", "--mode", "raw-data"], repository: repository),
                stats.succeeded, let object = try? JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any]
            {
                record.repositorySize = Self.int64(object["total_size"])
                record.snapshotCount = Int(Self.int64(object["snapshots_count"]))
            }
        } catch {
            record.message = error.message
            if Task.isCancelled { record.interrupted = true }
        }
        record.duration = Date().timeIntervalSince(started)
        log("\(repository.name): \(operation.rawValue) \(record.outcome(completed: "completed in \(Self.seconds(record.duration))"))")
        save(record)
        await publish()
        return record
    }

    // MARK: State and metrics

    public func save(_ record: RunRecord) {
        do {
            try store.update { $0.record(record) }
        } catch {
            log("state: \(error.message)")
        }
    }

    /// Rewrites the textfile and pushes to the pushgateway; a failure is logged, never fatal (the
    /// backup itself succeeded). Returns the problems, if any.
    @discardableResult
    public func publish() async -> [String] {
        let state: RunState
        do {
            state = try store.load()
        } catch {
            log("metrics: \(error.message)")
            return [error.message]
        }
        let text = MetricsRenderer.render(state, now: Date())
        var problems: [String] = []
        if let path = configuration.textfile {
            do {
                try TextfileExporter.write(text: text, to: path)
            } catch {
                problems.append(error.message)
            }
        }
        if let url = configuration.pushgateway {
            do {
                try await Pushgateway.push(text: text, to: url, job: "offsite", instance: configuration.host)
            } catch {
                problems.append(error.message)
            }
        }
        for problem in problems { log("metrics not delivered: \(problem) (backups are not affected)") }
        return problems
    }

    // MARK: Helpers

    static func summary(in stdout: String) -> [String: Any]? {
        for line in stdout.split(whereSeparator: \.isNewline).reversed() {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                object["message_type"] as? String == "summary"
            {
                return object
            }
        }
        return nil
    }

    static func int64(_ value: Any?) -> Int64 {
        switch value {
        case let n as NSNumber: n.int64Value
        case let n as Int: Int64(n)
        default: 0
        }
    }

    static func seconds(_ s: Double) -> String { String(format: "%.1f s", s) }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}

extension PostgresSettings {
    /// libpq's variables with the password read now (from `passwordFile` when set).
    func resolvedVariables() throws(JobsError) -> [String: String] {
        var variables = libpqVariables()
        if let passwordFile { variables["PGPASSWORD"] = try readPasswordFile(passwordFile, for: "the PostgreSQL password") }
        return variables
    }
}

extension RedisSettings {
    /// The password, read now from `passwordFile` when set.
    func resolvedPassword() throws(JobsError) -> String? {
        if let passwordFile { return try readPasswordFile(passwordFile, for: "the Redis password") }
        return password?.reveal()
    }
}

/// The first line of a password file (trailing newline and blanks removed, as restic reads its own).
func readPasswordFile(_ path: String, for what: String) throws(JobsError) -> String {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw JobsError(.io, "\(path): cannot read \(what) (check the path and that this user may read it)")
    }
    let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
    let password = line.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !password.isEmpty else { throw JobsError(.io, "\(path): the file holding \(what) is empty") }
    return password
}
